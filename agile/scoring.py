"""Scoring every vector of a corpus with a trained model, streaming.

Two kernels:

- ``exact``: the float16 vectors converted block by block to float32 and run
  through the model; the reference, and what `score_corpus` uses by default.
- ``int8``: the corpus's int8 scan store (`agile.scan_store`, built on first
  use) through an int8 copy of the model (`agile.int8_mlp`, oneDNN: AMX or
  VNNI or AVX2 chosen by oneDNN at run time). About 1% error in the logits;
  `agile.sampling.select` uses it to narrow the corpus to candidates and
  re-scores those exactly.

``auto`` takes whichever of the two was measured faster on this machine for
this corpus and model shape (`agile.kernel_choice`, recorded beside the scan
store); ``exact`` when this torch build lacks the oneDNN quantized kernels.
Memory is one block of vectors at a time plus whatever the caller keeps of
the scores.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence, TypeVar

import numpy as np
import torch

from agile.corpus import Corpus
from agile.errors import AgileError
from agile.int8_mlp import Int8MLP, int8_available
from agile.scan_store import ScanStore
from agile.scratch import float32_rows
from agile.training import TrainedModel, squeeze_logits

SCAN_ROWS = 16_384
CALIBRATION_ROWS = 8_192
Kernel = Literal["auto", "exact", "int8"]
T = TypeVar("T")


class ScoringError(AgileError):
    """An unknown kernel, or a model that does not fit the corpus."""


def resolve_kernel(kernel: str, corpus: Corpus | None = None, model: TrainedModel | None = None,
                   scan_dir: str | Path | None = None, rows: int = SCAN_ROWS, workers: int | None = None) -> str:
    """``exact`` or ``int8``.

    ``auto`` with a corpus and model is the measured choice for them (timed
    once per machine and model shape, then read back). Without them it can
    only say whether int8 may be chosen at all, i.e. whether a scan store is
    worth preparing; opening the store then measures the loop's own shapes.
    """
    if kernel not in ("auto", "exact", "int8"):
        raise ScoringError(f"unknown scoring kernel {kernel!r}; choose auto, exact or int8")
    if kernel == "auto":
        if not int8_available():
            return "exact"
        if corpus is None or model is None:
            return "int8"
        from agile.kernel_choice import choose_kernel

        _check_dim(corpus, model)
        store = ScanStore.open_or_build(corpus, scan_dir, calibrate_rows=rows)
        return choose_kernel(corpus, store, model, rows, workers).kernel
    if kernel == "int8" and not int8_available():
        raise ScoringError("this torch build lacks oneDNN quantized linear layers; use kernel='exact'")
    return kernel


def calibration_sample(store: ScanStore, rows: int = CALIBRATION_ROWS) -> np.ndarray:
    """Dequantised rows spread over the scan store (which is warm; the float16 copy may not be)."""
    per_part = -(-rows // max(len(store.parts), 1))
    rng = np.random.default_rng(0)
    blocks = [part[np.sort(rng.choice(len(part), min(per_part, len(part)), replace=False))]
              for _, part in store.parts]
    return store.dequantize(np.concatenate(blocks))


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    """float32 probabilities: (n,) of a binary concept's logits (sigmoid, in place), (n, K) of a task's."""
    return torch.sigmoid_(logits.contiguous()).numpy() if logits.ndim == 1 else torch.softmax(logits, 1).numpy()


def exact_block_logits(model: TrainedModel, block: np.ndarray) -> np.ndarray:
    """float32 logits of a float16 block, as the exact kernel computes them: (n,), or (n, K) of a task's model."""
    return squeeze_logits(model.module(float32_rows(block))).numpy()


def _check_dim(corpus: Corpus, model: TrainedModel) -> None:
    if model.dim != corpus.dim:
        raise ScoringError(f"the model takes {model.dim}-dimensional vectors, the corpus has {corpus.dim}")


def _chunks(parts: list[tuple[int, np.ndarray]], rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first_id, block)`` of every part in turn; a block never spans two parts (shards)."""
    for first, part in parts:
        for start in range(0, len(part), rows):
            yield first + start, part[start:start + rows]


def shard_parts(corpus: Corpus, parts: list[tuple[int, np.ndarray]], shards: Sequence[int] | None
                ) -> list[tuple[int, np.ndarray]]:
    """The ``(first_id, array)`` parts of the given shard indices (all when None); empty shards have none."""
    if shards is None:
        return parts
    # by first id among non-empty shards: an empty shard shares its first id with the next one
    wanted = {corpus.shards[i].first_id for i in shards if corpus.shards[i].count}
    return [(first, part) for first, part in parts if first in wanted]


def _block_scorer(corpus: Corpus, model: TrainedModel, kernel: str, rows: int, scan_dir: str | Path | None,
                  shards: Sequence[int] | None = None
                  ) -> tuple[Iterator[tuple[int, np.ndarray]], Callable[[np.ndarray], np.ndarray]]:
    """The blocks of a pass (of the given shards only, if named) and the function that scores one block.

    The int8 model is calibrated on a sample of the *whole* store whichever
    shards are scanned, so a scan split over processes scores as one does.
    """
    _check_dim(corpus, model)
    if kernel == "int8":
        store = ScanStore.open_or_build(corpus, scan_dir, calibrate_rows=None)
        quantized = Int8MLP.from_model(model, store.scales, calibration_sample(store), rows)
        return (_chunks(shard_parts(corpus, store.parts, shards), rows),
                lambda block: _probabilities(quantized.logits(torch.from_numpy(block))))
    halves = [(shard.first_id, vectors) for shard, vectors in corpus.vector_files() if shard.count]
    return (_chunks(shard_parts(corpus, halves, shards), rows),
            lambda block: _probabilities(squeeze_logits(model.module(float32_rows(block)))))


def map_blocks(fn: Callable[[int, np.ndarray], T], corpus: Corpus, model: TrainedModel, rows: int = SCAN_ROWS,
               kernel: Kernel = "exact", scan_dir: str | Path | None = None,
               workers: int | None = None, shards: Sequence[int] | None = None) -> Iterator[T]:
    """``fn(first_id, float32 probabilities)`` for every block of the corpus (or of ``shards``), in id order.

    Blocks are scored by ``workers`` threads (default: one per CPU), each with
    one torch intra-op thread: whole blocks in parallel rather than each
    product split over threads, so no thread waits on another at every layer
    (which, on shared cores, made two intra-op threads 3-5x slower than one).
    """
    kernel = resolve_kernel(kernel, corpus, model, scan_dir, rows, workers)
    blocks, score = _block_scorer(corpus, model, kernel, rows, scan_dir, shards)

    def task(item: tuple[int, np.ndarray]) -> T:
        with torch.inference_mode():
            return fn(item[0], score(item[1]))
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        pending: deque = deque()
        for item in blocks:  # a bounded window of blocks in flight, so memory stays flat
            pending.append(pool.submit(task, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def iter_scores(corpus: Corpus, model: TrainedModel, rows: int = SCAN_ROWS, kernel: Kernel = "exact",
                scan_dir: str | Path | None = None, workers: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_id, float32 probabilities)`` block by block, in id order."""
    return map_blocks(lambda first, scores: (first, scores), corpus, model, rows, kernel, scan_dir, workers)


def score_corpus(corpus: Corpus, model: TrainedModel, rows: int = SCAN_ROWS, kernel: Kernel = "exact",
                 scan_dir: str | Path | None = None, workers: int | None = None) -> np.ndarray:
    """float32 probabilities (count,) for every vector of the corpus."""
    out = np.empty(corpus.count, dtype=np.float32)
    for first, scores in iter_scores(corpus, model, rows, kernel, scan_dir, workers):
        out[first:first + len(scores)] = scores
    return out
