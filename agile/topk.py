"""A running top-k over streamed blocks of scores, without keeping all scores."""
from __future__ import annotations

import numpy as np


class RunningTopK:
    """Keeps the ``k`` largest scores (and their ids) seen so far, per query row.

    ``push`` takes a (queries, n) block of scores and the (n,) ids of its
    columns; each call merges the block's own top-k into the kept set with
    ``argpartition``, so the cost is linear in the block size. To keep the
    *smallest* values, push their negation.
    """

    def __init__(self, k: int, queries: int = 1):
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self.scores = np.full((queries, 0), -np.inf, dtype=np.float32)
        self.ids = np.empty((queries, 0), dtype=np.int64)

    def push(self, scores: np.ndarray, ids: np.ndarray) -> None:
        scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
        ids = np.asarray(ids, dtype=np.int64)
        if scores.shape[1] > self.k:
            part = np.argpartition(-scores, self.k - 1, axis=1)[:, : self.k]
            scores = np.take_along_axis(scores, part, axis=1)
            ids = ids[part]
        else:
            ids = np.broadcast_to(ids, scores.shape)
        merged_scores = np.concatenate([self.scores, scores], axis=1)
        merged_ids = np.concatenate([self.ids, ids], axis=1)
        if merged_scores.shape[1] > self.k:
            part = np.argpartition(-merged_scores, self.k - 1, axis=1)[:, : self.k]
            merged_scores = np.take_along_axis(merged_scores, part, axis=1)
            merged_ids = np.take_along_axis(merged_ids, part, axis=1)
        self.scores, self.ids = merged_scores, merged_ids

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (queries, <=k), best first; ties broken by smaller id."""
        order = np.lexsort((self.ids, -self.scores), axis=1) if self.scores.size else \
            np.zeros(self.scores.shape, dtype=np.int64)
        return (np.take_along_axis(self.scores, order, axis=1),
                np.take_along_axis(self.ids, order, axis=1))
