"""Score every image of a corpus with a classifier and write id, uri, score (and decisions) to Parquet.

A multi-category task's model writes each image's likeliest class and every
class's probability instead of one score.

One part per corpus shard is written to ``<out>.parts/`` under a temporary
name and renamed when complete; a killed job re-run with the same model and
settings skips the finished parts, so it resumes and gives the same file.
When every part is done they are joined into ``<out>`` (renamed into place)
and the parts removed. Scores are exact (float32 through the model); with
``top`` only the ``top`` highest-scoring images are written, best first.
The same part function runs locally or on the Ray scan actors that hold each
shard (agile.ray_scan), so both engines write identical files.

With ``top`` and a ``kernel`` other than ``exact``, either engine finds
the top images in one pass over the int8 scan store instead (the margin
round's stream, `agile.sampling.highest_scores`: the best 10 x top by the
int8 score re-scored in float32), so the written scores are still exact;
``auto`` takes int8 where a scan store is already built (the server builds
one) and int8 measures faster there. That pass takes seconds
at 10M, so it writes no parts: a killed run starts it again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from agile.atomic import atomic_path, atomic_write_json
from agile.corpus import Corpus
from agile.errors import AgileError
from agile.export import ModelCard, check_embedding_model, check_export
from agile.registry import ModelRegistry
from agile.scan_store import ScanStore
from agile.sampling import highest_scores
from agile.scoring import SCAN_ROWS, Kernel, resolve_kernel
from agile.scratch import float32_rows, read_float16_rows
from agile.training import TrainConfig, TrainedModel, probabilities, squeeze_logits

if TYPE_CHECKING:
    from agile.ray_scan import RayScan

Engine = Literal["local", "ray"]
BLOCK_ROWS = 65_536


class ScoreJobError(AgileError):
    """The model cannot be loaded, or the output belongs to another scoring job."""


@dataclass(frozen=True)
class ScoreJob:
    corpus: str
    count: int
    model_sha256: str
    threshold: float | None
    top: int | None

    def to_json(self) -> dict:
        return asdict(self)


def load_classifier(path: str | Path) -> tuple[TrainedModel, ModelCard | None]:
    """A model from an export folder (card.json) or a registry version folder (sidecar.json + weights.pt)."""
    path = Path(path)
    if (path / "card.json").is_file():
        card = check_export(path)
        with np.load(path / "model.npz") as data:
            layers = int(data["layers"])
            state = {}
            for i in range(layers):
                state[f"{3 * i}.weight"] = torch.from_numpy(data[f"w{i}"])
                state[f"{3 * i}.bias"] = torch.from_numpy(data[f"b{i}"])
        hidden = tuple(int(state[f"{3 * i}.weight"].shape[0]) for i in range(layers - 1))
        return TrainedModel.from_state(TrainConfig(hidden=hidden), state), card
    if (path / "sidecar.json").is_file() and path.name.startswith("v") and path.name[1:].isdigit():
        return ModelRegistry(path.parent).load(int(path.name[1:])), None
    raise ScoreJobError(f"{path}: neither an export folder (card.json) nor a model version folder (sidecar.json)")


def model_digest(model: TrainedModel) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.numpy().tobytes())
    return digest.hexdigest()


def score_shard(model: TrainedModel, path: Path, rows: int, dim: int, workers: int) -> np.ndarray:
    """Exact float32 probabilities of a shard's raw vectors, blocks scored in parallel threads.

    Blocks are read with plain reads, not through the memory map, so the
    process holds one block per thread (64 MiB at 512 dims, in buffers each
    thread reuses), never the shard's pages: a 10M corpus is scored in the
    memory of a few blocks.
    """
    starts = range(0, rows, BLOCK_ROWS)

    def block(start: int) -> np.ndarray:
        vectors = read_float16_rows(path, start, min(BLOCK_ROWS, rows - start), dim)
        with torch.inference_mode():
            return probabilities(squeeze_logits(model.module(float32_rows(vectors)))).numpy()
    with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        parts = list(pool.map(block, starts))
    return np.concatenate(parts) if parts else np.empty(0, np.float32)


def write_part(corpus: Corpus, shard_index: int, model: TrainedModel, threshold: float | None, part: Path,
               workers: int = 1) -> int:
    """Score one corpus shard into ``part`` (temp + rename); returns its row count."""
    shard = corpus.shards[shard_index]
    scores = score_shard(model, shard.vectors_path(corpus.root), shard.count, corpus.dim, workers)
    ids = np.arange(shard.first_id, shard.first_id + shard.count, dtype=np.int64)
    uris = pq.read_table(shard.parquet_path(corpus.root), columns=["uri"]).column(0)
    columns = {"id": pa.array(ids), "uri": uris, **score_columns(scores, threshold)}
    with atomic_path(part) as tmp:
        pq.write_table(pa.table(columns), tmp)
    return len(ids)


def score_columns(scores: np.ndarray, threshold: float | None) -> dict[str, pa.Array]:
    """A binary concept's ``score`` (and ``positive`` at the threshold), or a multi-category task's likeliest
    ``class`` (its index) and every class's ``probabilities`` (a fixed-size list, in class order)."""
    if scores.ndim == 1:
        return {"score": pa.array(scores), **({"positive": pa.array(scores >= threshold)}
                                              if threshold is not None else {})}
    flat = pa.array(np.ascontiguousarray(scores, dtype=np.float32).reshape(-1))
    return {"class": pa.array(scores.argmax(axis=1).astype(np.int16)),
            "probabilities": pa.FixedSizeListArray.from_arrays(flat, scores.shape[1])}


def _part_done(part: Path, rows: int) -> bool:
    try:
        return part.is_file() and pq.ParquetFile(part).metadata.num_rows == rows
    except (OSError, pa.ArrowInvalid):
        return False  # a damaged part is written again


def score_to_parquet(corpus: Corpus, model: TrainedModel, out: str | Path, threshold: float | None = None,
                     top: int | None = None, engine: Engine = "local", card: ModelCard | None = None,
                     progress: Callable[[int, int], None] | None = None, workers: int | None = None,
                     kernel: Kernel = "exact", actors: int | None = None, pool: "RayScan | None" = None) -> dict:
    """Write ``out``; returns a summary (rows, positives, seconds, kernel).

    With ``engine="ray"`` the work runs on a pool of Ray scan actors
    (agile.ray_scan): ``pool`` if given (a server's, kept open), else one of
    ``actors`` actors started for this job and closed after it.
    """
    start = time.perf_counter()
    if card is not None:
        check_embedding_model(card, corpus.model, corpus.dim, str(corpus.root / "corpus.json"))
    if model.dim != corpus.dim:
        raise ScoreJobError(f"the model takes {model.dim}-dimensional vectors; the corpus has {corpus.dim}")
    if top is not None and top < 1:
        raise ScoreJobError(f"--top must be at least 1, got {top}")
    if model.classes > 1 and (threshold is not None or top is not None):
        raise ScoreJobError(f"the model is a task's: each image gets a probability for each of its {model.classes} "
                            "classes, so there is no one score for --threshold or --top")
    own_pool = engine == "ray" and pool is None
    if own_pool:
        from agile.ray_scan import RayScan, RayScanSettings

        # an all-exact job reads only the float16 vectors: its actors need no scan store
        pool = RayScan(corpus, settings=RayScanSettings(actors=actors, warm_store=top is not None))
    try:
        return _score(corpus, model, Path(out), threshold, top, progress, workers, kernel,
                      pool if engine == "ray" else None, start)
    finally:
        if own_pool:
            pool.close()


def _score(corpus: Corpus, model: TrainedModel, out: Path, threshold: float | None, top: int | None,
           progress: Callable[[int, int], None] | None, workers: int | None, kernel: Kernel,
           pool: "RayScan | None", start: float) -> dict:
    if top is not None and _top_kernel(corpus, model, kernel, workers, pool) == "int8":
        return _write_top(corpus, model, out, threshold, top, workers, start, pool)
    parts_dir = out.with_name(out.name + ".parts")
    job = ScoreJob(str(corpus.root.resolve()), corpus.count, model_digest(model), threshold, top)
    _claim(parts_dir, job)
    shards = corpus.shards
    todo = [i for i, s in enumerate(shards) if not _part_done(parts_dir / f"{s.name}.parquet", s.count)]
    workers = workers or os.cpu_count() or 1
    if pool is not None:
        for i in todo:  # an empty shard has no actor; its (empty) part is written here
            if not shards[i].count:
                write_part(corpus, i, model, threshold, parts_dir / f"{shards[i].name}.parquet", workers)
        pool.write_parts(model, threshold, {i: parts_dir / f"{shards[i].name}.parquet" for i in todo
                                            if shards[i].count}, progress)
    else:
        for done, i in enumerate(todo, 1):
            write_part(corpus, i, model, threshold, parts_dir / f"{shards[i].name}.parquet", workers)
            if progress:
                progress(done, len(todo))
    rows, positives = _join(parts_dir, [s.name for s in shards], out, top)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return {"out": str(out), "rows": rows, "positives": positives, "shards_scored_now": len(todo),
            "seconds": round(time.perf_counter() - start, 2), "kernel": "exact"}


def _top_kernel(corpus: Corpus, model: TrainedModel, kernel: Kernel, workers: int | None,
                pool: "RayScan | None") -> str:
    """The kernel of a --top pass; ``auto`` uses a scan store already there and never builds one (5 GB at 10M)."""
    if kernel == "auto" and ScanStore.existing(corpus) is None:
        return "exact"
    if pool is not None:
        return pool.kernel(kernel, corpus, model, SCAN_ROWS)
    return resolve_kernel(kernel, corpus, model, workers=workers)


def _write_top(corpus: Corpus, model: TrainedModel, out: Path, threshold: float | None, top: int,
               workers: int | None, start: float, pool: "RayScan | None" = None) -> dict:
    """The ``top`` images found in one int8 pass over the scan store, exact scores, best first."""
    ids, scores = highest_scores(corpus, model, min(top, corpus.count), "int8", workers=workers, engine=pool)
    table = pa.table({"id": pa.array(ids), "uri": pa.array(corpus.uris(ids)), **score_columns(scores, threshold)})
    with atomic_path(out) as tmp:
        pq.write_table(table, tmp)
    return {"out": str(out), "rows": table.num_rows, "positives": _positives(table), "shards_scored_now": None,
            "seconds": round(time.perf_counter() - start, 2), "kernel": "int8"}


def _claim(parts_dir: Path, job: ScoreJob) -> None:
    """Start or resume the job in ``parts_dir``; refuse one left by a different job."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    path = parts_dir / "job.json"
    if path.is_file():
        try:
            earlier = json.loads(path.read_text())
        except json.JSONDecodeError:
            earlier = None
        if earlier != job.to_json():
            raise ScoreJobError(f"{path}: another scoring job (another model, corpus or settings) left its parts "
                                f"here; remove {parts_dir} or write to another output")
        return
    atomic_write_json(path, job.to_json())


def _join(parts_dir: Path, names: list[str], out: Path, top: int | None) -> tuple[int, int | None]:
    """Join the parts (or their top rows) into ``out`` atomically; returns (rows, positives or None)."""
    files = [parts_dir / f"{name}.parquet" for name in names]
    with atomic_path(out) as tmp:
        if top is not None:  # each part's own top rows hold the global top; memory stays at top x parts
            candidates = []
            for f in files:
                table = pq.read_table(f)
                best = np.argsort(-table["score"].to_numpy(), kind="stable")[:top]
                candidates.append(table.take(pa.array(np.sort(best))))
            table = pa.concat_tables(candidates)
            table = table.take(pa.array(np.argsort(-table["score"].to_numpy(), kind="stable")[:top]))
            pq.write_table(table, tmp)
            rows, positives = table.num_rows, _positives(table)
        else:
            rows, positives, writer = 0, 0, None
            for f in files:
                table = pq.read_table(f)
                writer = writer or pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                rows += table.num_rows
                positives = None if "positive" not in table.column_names else positives + _positives(table)
            if writer is not None:
                writer.close()
    return rows, positives


def _positives(table: pa.Table) -> int | None:
    return int(table["positive"].to_numpy().sum()) if "positive" in table.column_names else None
