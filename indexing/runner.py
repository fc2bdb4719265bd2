"""The runner: reader -> mapper (on an engine) -> writer, shard by shard, resumable.

Input rows are cut into shards of ``shard_size`` by position. Shards are
processed in order and each starts at the id after the previous shard's last
kept image, so ids stay dense 0..N-1 even when images are skipped, and a
re-run after a kill (which leaves only complete shards) reproduces exactly
the ids and uris of an uninterrupted run.
"""
from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from agile.corpus import Corpus, ShardInfo, completed_shards, finalize_corpus, shard_name
from agile.errors import CorpusError
from indexing.engines import make_engine
from indexing.job import claim_output
from indexing.mapper import ImageMapper, ModelSpec
from indexing.reader import read_source
from indexing.writer import write_report, write_shard

DEFAULT_SHARD_SIZE = 100_000
STAGING_DIR = ".staging"


def _source_digest(table: pa.Table) -> str:
    digest = hashlib.sha256()
    for chunk in table.column("uri").chunks:
        digest.update("\n".join(chunk.to_pylist()).encode())
    return digest.hexdigest()


def index_images(source: str | Path, out: str | Path, *, model: str, pretrained: str | None = None,
                 checkpoint: str | None = None, engine: str = "local", batch_size: int = 64,
                 shard_size: int = DEFAULT_SHARD_SIZE, progress: bool = True) -> Corpus:
    """Embed every image of ``source`` into the corpus at ``out`` (or finish doing so) and open it."""
    started = time.perf_counter()
    if batch_size < 1 or shard_size < 1:
        raise ValueError("batch_size and shard_size must be positive")
    out = Path(out)
    table = read_source(source)
    spec = ModelSpec(model, pretrained, checkpoint)
    mapper = ImageMapper(spec)  # before claiming the output: a model that fails to load claims nothing
    claim_output(out, {"command": "agile index images", "source": str(Path(source).resolve()),
                       "rows": table.num_rows, "uris_sha256": _source_digest(table),
                       "model": model, "pretrained": pretrained, "checkpoint": checkpoint,
                       "shard_size": shard_size})
    done = completed_shards(out)
    n_shards = -(-table.num_rows // shard_size)
    names = [shard_name(i) for i in range(n_shards)]
    todo_rows = sum(min(shard_size, table.num_rows - i * shard_size) for i, n in enumerate(names) if n not in done)
    runner = make_engine(engine, mapper, spec, out / STAGING_DIR)
    shards: list[ShardInfo] = []
    next_id = 0
    with tqdm(total=table.num_rows, initial=table.num_rows - todo_rows, unit="img", disable=not progress,
              desc=f"embed ({engine})") as bar:
        try:
            for i, name in enumerate(names):
                rows = table.slice(i * shard_size, shard_size)
                if name in done:
                    info = done[name]
                    if info.count and info.first_id != next_id:
                        raise CorpusError(out / "shards" / f"{name}.parquet",
                                          f"starts at id {info.first_id}, expected {next_id}; delete the directory and re-run")
                else:
                    result = runner.map_shard(rows.column("uri").to_pylist(), batch_size, bar.update)
                    info = write_shard(out, name, next_id, mapper.dim, rows, result)
                shards.append(info)
                next_id += info.count
        finally:
            runner.close()
    skipped = write_report(out, names)
    shutil.rmtree(out / STAGING_DIR, ignore_errors=True)
    finalize_corpus(out, mapper.model_info, mapper.dim, [s for s in shards if s.count],
                    [c for c in table.column_names if c != "uri"],
                    {"command": "agile index images", "source": str(source), "engine": engine,
                     "images": table.num_rows, "skipped": len(skipped), "report": "skipped.json",
                     "seconds": round(time.perf_counter() - started, 1)})
    return Corpus.open(out, verify="quick")
