"""Where a corpus-wide scan runs: this process's threads (`LocalScan`) or long-lived Ray actors (agile.ray_scan).

A scan is one pass of a model over every block of the corpus. A `Keep` rule
turns each block's probabilities into `Candidates` (ids ascending, their
scores, and how many unrated vectors of the block score above 0.5), and can
`narrow` the joined candidates of consecutive blocks to what the caller's
final step may still need (each ranking's best ``depth``). The final step
(re-scoring, the strategy's pick) always runs in the caller on candidates in
id order, and ties are always broken by id, so an engine that narrows each
actor's share before sending it back returns the same batch as one that
keeps every block's candidates.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from agile.corpus import Corpus
from agile.errors import AgileError
from agile.scoring import map_blocks, resolve_kernel
from agile.training import TrainedModel


class ScanEngineError(AgileError):
    """A corpus-wide scan could not finish (a worker died and could not be restarted, or it timed out)."""


@dataclass(frozen=True)
class Candidates:
    ids: np.ndarray      # int64, ascending
    scores: np.ndarray   # float32, one per id
    above: int = 0       # unrated vectors scanned that score above 0.5 (not only the candidates)

    @classmethod
    def join(cls, parts: Sequence["Candidates"]) -> "Candidates":
        """Candidates of consecutive id ranges, in id order."""
        if not parts:
            return cls(np.empty(0, np.int64), np.empty(0, np.float32), 0)
        return cls(np.concatenate([p.ids for p in parts]), np.concatenate([p.scores for p in parts]),
                   sum(p.above for p in parts))

    def take(self, positions: np.ndarray) -> "Candidates":
        positions = np.sort(positions)
        return Candidates(self.ids[positions], self.scores[positions], self.above)

    @property
    def nbytes(self) -> int:
        return self.ids.nbytes + self.scores.nbytes


def unrated(first: int, scores: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ids, scores) of the block starting at id ``first`` without the sorted ``exclude`` ids."""
    ids = np.arange(first, first + len(scores), dtype=np.int64)
    lo, hi = np.searchsorted(exclude, [first, first + len(scores)])
    if hi > lo:
        keep = np.ones(len(scores), dtype=bool)
        keep[exclude[lo:hi] - first] = False
        ids, scores = ids[keep], scores[keep]
    return ids, scores


class Keep(Protocol):
    def __call__(self, first: int, scores: np.ndarray, exclude: np.ndarray) -> Candidates:
        """The candidates of one block starting at id ``first``; ``exclude`` holds sorted ids never to keep."""

    def narrow(self, candidates: Candidates) -> Candidates:
        """Joined candidates cut to what the final step can need; never drops one it could pick."""

    def running(self) -> "Keep":
        """The rule as one scan applies it to its blocks (it may learn from earlier blocks what later ones
        need not keep); the same candidates after `narrow`. A fresh one for every scan."""


class ScanEngine(Protocol):
    def kernel(self, kernel: str, corpus: Corpus, model: TrainedModel, rows: int) -> str:
        """``auto`` resolved to the kernel measured faster where the scan runs."""

    def scan(self, corpus: Corpus, model: TrainedModel, keep: Keep, exclude: np.ndarray, kernel: str,
             rows: int) -> Candidates:
        """Every block's candidates by ``keep`` (possibly narrowed per share), in id order."""

    def vectors(self, corpus: Corpus, ids: np.ndarray) -> np.ndarray:
        """float16 vectors of ``ids`` (the finalists the caller re-scores exactly), read where they live."""


@dataclass(frozen=True)
class LocalScan:
    """Blocks scored by this process's threads (agile.scoring.map_blocks)."""

    scan_dir: str | Path | None = None
    workers: int | None = None
    shards: Sequence[int] | None = None  # only these shards' blocks (a Ray actor's share); None: all

    def kernel(self, kernel: str, corpus: Corpus, model: TrainedModel, rows: int) -> str:
        return resolve_kernel(kernel, corpus, model, self.scan_dir, rows, self.workers)

    def scan(self, corpus: Corpus, model: TrainedModel, keep: Keep, exclude: np.ndarray, kernel: str,
             rows: int) -> Candidates:
        rule = keep.running()
        blocks = map_blocks(lambda first, scores: rule(first, scores, exclude), corpus, model, rows, kernel,
                            self.scan_dir, self.workers, self.shards)
        return Candidates.join(list(blocks))

    def vectors(self, corpus: Corpus, ids: np.ndarray) -> np.ndarray:
        return corpus.vectors(ids)
