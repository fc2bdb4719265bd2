"""The fixed held-out evaluation split of a corpus.

A deterministic fraction of the corpus, chosen by the SipHash of each URI,
that the simulated user never rates: expansion and active learning both
exclude it. Every model (zero-shot, every round, every strategy, every
rater) is scored on exactly these images against the ground truth, so runs
compare on one set, and the set is large enough (20% by default) that rare
concepts keep dozens of positives in it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agile.corpus import Corpus
from agile.evaluation.hashing import corpus_uri_hashes, hash_fraction



@dataclass(frozen=True)
class HeldOutSplit:
    ids: np.ndarray      # sorted int64 ids of the held-out images
    hashes: np.ndarray   # uint64 SipHash of their URIs, aligned with ids
    fraction: float

    @classmethod
    def for_corpus(cls, corpus: Corpus, fraction: float = 0.2) -> "HeldOutSplit":
        hashes = corpus_uri_hashes(corpus)
        mask = hash_fraction(hashes, fraction)
        return cls(np.flatnonzero(mask).astype(np.int64), hashes[mask], fraction)

    def __len__(self) -> int:
        return len(self.ids)
