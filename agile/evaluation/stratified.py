"""Stratified evaluation sets (paper §4.2 and App. E).

For each model, images are bucketed by score into strata [0, 0.1) ... [0.9, 1.0];
inside each stratum the images with the lowest SipHash of their URI are taken
(20 by default). The sets of all models being compared are merged, each model
contributing equally, and deduplicated. The result is a list of ids for the
owner (or the ground truth) to rate, kept apart from training data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class StrataSpec:
    strata: int = 10
    per_stratum: int = 20

    def __post_init__(self) -> None:
        if self.strata < 1 or self.per_stratum < 1:
            raise ValueError("strata and per_stratum must be positive")


def stratum_of(scores: np.ndarray, strata: int = 10) -> np.ndarray:
    """Stratum index of each score; scores outside [0, 1] fall into the end strata (1.0 is in the last)."""
    s = np.floor(np.asarray(scores, dtype=np.float64) * strata).astype(np.int64)
    return np.clip(s, 0, strata - 1)


def stratified_ids(scores: np.ndarray, hashes: np.ndarray, ids: np.ndarray | None = None,
                   spec: StrataSpec = StrataSpec()) -> np.ndarray:
    """Ids of the ``per_stratum`` lowest-hash images in every score stratum of one model.

    ``scores`` and ``hashes`` are aligned with ``ids`` (default: 0..n-1). The
    result is sorted by (stratum, hash); a stratum with fewer images gives all of them.
    A multi-category task's class probabilities (n, K) give every class's set on
    its own probability, merged (sorted by id).
    """
    scores = np.asarray(scores)
    if scores.ndim == 2:
        parts = [stratified_ids(scores[:, c], hashes, ids, spec) for c in range(scores.shape[1])]
        return np.unique(np.concatenate(parts))
    hashes = np.asarray(hashes, dtype=np.uint64)
    if scores.shape != hashes.shape or scores.ndim != 1:
        raise ValueError(f"scores {scores.shape} and hashes {hashes.shape} must be aligned 1-d arrays")
    ids = np.arange(len(scores), dtype=np.int64) if ids is None else np.asarray(ids, dtype=np.int64)
    strata = stratum_of(scores, spec.strata)
    order = np.lexsort((ids, hashes, strata))  # by stratum, then hash; id breaks hash ties
    sorted_strata = strata[order]
    starts = np.searchsorted(sorted_strata, np.arange(spec.strata), side="left")
    ends = np.searchsorted(sorted_strata, np.arange(spec.strata), side="right")
    take = [order[s: min(e, s + spec.per_stratum)] for s, e in zip(starts, ends)]
    return ids[np.concatenate(take)]


def merged_stratified_ids(model_scores: Sequence[np.ndarray], hashes: np.ndarray,
                          ids: np.ndarray | None = None, spec: StrataSpec = StrataSpec()) -> np.ndarray:
    """The deduplicated union of every model's stratified set, sorted by id."""
    if not model_scores:
        raise ValueError("at least one model's scores are needed")
    parts = [stratified_ids(s, hashes, ids, spec) for s in model_scores]
    return np.unique(np.concatenate(parts))
