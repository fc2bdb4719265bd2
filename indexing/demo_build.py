"""``agile demo build``: a demo-world corpus made by the normal indexing job.

1. write a Parquet manifest of ``demo://<seed>/<index>`` URIs with the scenes'
   attribute columns (the ground truth the concept suite reads);
2. embed it with the committed demo CLIP through ``indexing.runner.index_images``
   (whose image loader renders ``demo://`` URIs; manifest columns become corpus
   metadata columns);
3. build the FAISS index.

Every step resumes: the manifest is a pure function of (seed, n) and is kept
once written, the embedding job resumes at its first missing shard, and the
index is rebuilt only if missing.

New corpora are embedded with ``agile-demo-cnn4``, which sees shapes, patterns,
counts and colours. A corpus begun with an earlier model (``agile-demo-cnn3``,
``agile-demo-cnn2``, ``agile-demo-cnn`` or ``agile-demo``) finishes with the
model it began with (its manifest names that checkpoint), so it keeps working.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from agile.atomic import atomic_path
from agile.corpus import Corpus
from agile.demo import demo_uri, scene_at, scene_columns
from agile.errors import AgileError
from agile.index import index_dir
from indexing.job import JOB_FILE

DEMO_MODEL = "agile-demo-cnn4"
# Every demo model ever shipped, by name -> checkpoint relative to the agile package.
DEMO_CHECKPOINTS = {name: f"demo/assets/{name}.pt"
                    for name in (DEMO_MODEL, "agile-demo-cnn3", "agile-demo-cnn2", "agile-demo-cnn", "agile-demo")}
DEMO_CHECKPOINT = DEMO_CHECKPOINTS[DEMO_MODEL]
MANIFEST_NAME = "demo-scenes.parquet"
MANIFEST_ROWS = 50_000  # scenes per row group; bounds memory while writing


class DemoBuildError(AgileError):
    """The demo build was asked for something it cannot make."""


@dataclass(frozen=True)
class DemoBuildConfig:
    n: int = 50_000
    seed: int = 0
    batch_size: int = 256
    shard_size: int = 100_000
    index: bool = True

    def __post_init__(self) -> None:
        if self.n < 2 or self.seed < 0 or self.batch_size < 1 or self.shard_size < 1:
            raise DemoBuildError(f"need n >= 2, seed >= 0 and positive batch and shard sizes, got {self}")


def manifest_path(out: Path) -> Path:
    """The scene manifest lives beside the corpus (the corpus directory belongs to the indexing job)."""
    return out.parent / f"{out.name}.{MANIFEST_NAME}"


def write_scene_manifest(path: Path, seed: int, n: int) -> Path:
    """Parquet with ``uri`` and the attribute columns of scenes ``0..n-1`` of world ``seed``."""
    with atomic_path(path) as tmp:
        writer = None
        for start in range(0, n, MANIFEST_ROWS):
            stop = min(n, start + MANIFEST_ROWS)
            table = scene_columns([scene_at(seed, i) for i in range(start, stop)])
            table = table.add_column(0, "uri", pa.array([demo_uri(seed, i) for i in range(start, stop)], pa.string()))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        writer.close()
    return path


def _manifest_matches(path: Path, seed: int, n: int) -> bool:
    if not path.is_file():
        return False
    meta = pq.ParquetFile(path).metadata
    if meta.num_rows != n:
        return False
    first = pq.read_table(path, columns=["uri"]).column("uri")[0].as_py()
    return first == demo_uri(seed, 0)


def demo_model_of(out: Path) -> str:
    """The demo model a corpus at ``out`` was begun with, or the current one for a new corpus."""
    job = out / JOB_FILE
    if job.is_file():
        model = json.loads(job.read_text()).get("model")
        if model in DEMO_CHECKPOINTS:
            return model
    return DEMO_MODEL


def build_demo_corpus(out: str | Path, config: DemoBuildConfig = DemoBuildConfig(), progress: bool = True) -> dict:
    """Render, embed and index ``config.n`` demo scenes into the corpus at ``out``; returns timings."""
    from indexing.build import build_index
    from indexing.runner import index_images

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    manifest = manifest_path(out)
    if not _manifest_matches(manifest, config.seed, config.n):
        write_scene_manifest(manifest, config.seed, config.n)
    timings["manifest_s"] = time.perf_counter() - t

    t = time.perf_counter()
    model = demo_model_of(out)
    index_images(manifest, out, model=model, checkpoint=DEMO_CHECKPOINTS[model], engine="local",
                 batch_size=config.batch_size, shard_size=config.shard_size)
    timings["embed_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if config.index and not (index_dir(out) / "index.json").exists():
        build_index(out, progress=progress)
    timings["index_s"] = time.perf_counter() - t
    corpus = Corpus.open(out, verify="quick")
    return {"corpus": str(out), "model": corpus.model.name, "count": corpus.count, "dim": corpus.dim, "seed": config.seed,
            **{k: round(v, 2) for k, v in timings.items()}}
