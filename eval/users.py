"""Simulated raters: the concept owner, and a crowd whose notion of the concept differs.

The owner answers from the ground truth. The crowd (paper §5, Figure 4)
rates by a shifted notion: it goes by how well an image matches the concept's
text, so it calls the negatives nearest the text positive (a broader notion)
and misses the positives furthest from it (a narrower one); each of three
raters then errs at random, and the majority answer counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class Owner:
    """Answers exactly as the ground truth says."""

    name = "owner"

    def __init__(self, truth: np.ndarray):
        self.truth = np.asarray(truth, dtype=bool)

    def rate(self, ids: np.ndarray, round_index: int = 0) -> np.ndarray:
        return self.truth[ids]


@dataclass(frozen=True)
class CrowdSpec:
    broaden: float = 0.3   # extra positives, as a fraction of the true positives, taken from the negatives nearest the text
    narrow: float = 0.2    # fraction of the true positives, furthest from the text, the crowd calls negative
    noise: float = 0.1     # chance that one rater flips an answer
    raters: int = 3        # answers per image; the majority counts
    seed: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.broaden and 0 <= self.narrow < 1 and 0 <= self.noise < 0.5):
            raise ValueError("need broaden >= 0, 0 <= narrow < 1 and 0 <= noise < 0.5")
        if self.raters < 1 or self.raters % 2 == 0:
            raise ValueError("raters must be a positive odd number so a majority exists")


class Crowd:
    """Majority of ``raters`` noisy answers to a shifted notion of the concept."""

    name = "crowd"

    def __init__(self, truth: np.ndarray, text_scores: np.ndarray, spec: CrowdSpec = CrowdSpec()):
        self.spec = spec
        self.notion = crowd_notion(np.asarray(truth, dtype=bool), np.asarray(text_scores), spec)

    def rate(self, ids: np.ndarray, round_index: int = 0) -> np.ndarray:
        rng = np.random.default_rng([self.spec.seed, round_index])
        flips = rng.random((self.spec.raters, len(ids))) < self.spec.noise
        votes = self.notion[ids][None, :] ^ flips
        return votes.sum(axis=0) * 2 > self.spec.raters


def crowd_notion(truth: np.ndarray, text_scores: np.ndarray, spec: CrowdSpec) -> np.ndarray:
    """The crowd's noiseless answers: truth, broadened and narrowed along the text similarity."""
    positives = np.flatnonzero(truth)
    negatives = np.flatnonzero(~truth)
    notion = truth.copy()
    n_add = min(len(negatives), int(round(spec.broaden * len(positives))))
    if n_add:
        notion[negatives[np.argpartition(-text_scores[negatives], n_add - 1)[:n_add]]] = True
    n_drop = int(round(spec.narrow * len(positives)))
    if n_drop:
        notion[positives[np.argpartition(text_scores[positives], n_drop - 1)[:n_drop]]] = False
    return notion
