"""Every call the evaluation makes into the labelling loop of ``agile``, in one place.

The simulated user drives the same library functions the server does:
expansion through the corpus index, training, corpus-wide scoring, query
strategies and the zero-shot baseline. Keeping them behind this one class
means a change of the library's signatures touches this file only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from agile.concept import Concept
from agile.corpus import Corpus
from agile.embedder import embedder_for_corpus
from agile.expansion import expand
from agile.index import open_index
from agile.sampling import select
from agile.scan_store import scan_dir_for
from agile.scoring import score_corpus
from agile.training import OneClassError, TrainConfig, TrainedModel, train
from agile.zeroshot import ZERO_SHOT_THRESHOLD, concept_text_embedding, zero_shot_scores

__all__ = ["LibraryLoop", "OneClassError", "ZERO_SHOT_THRESHOLD"]


class LibraryLoop:
    """The corpus, its index and its embedder, and the loop's steps over them."""

    def __init__(self, corpus: Corpus, work_dir: str | Path):
        self.corpus = corpus
        self.scan_dir = scan_dir_for(corpus, Path(work_dir) / "scan")  # a read-only corpus keeps it here
        self.index = open_index(corpus)
        self.embedder = embedder_for_corpus(corpus)

    @staticmethod
    def new_concept(name: str, positives: Sequence[str], negatives: Sequence[str]) -> Concept:
        return Concept.create(name, positives, negatives)

    def zero_shot(self, positives: Sequence[str]) -> np.ndarray:
        """Cosine of every image with the concept's text, float32 (count,)."""
        return zero_shot_scores(self.corpus, concept_text_embedding(self.embedder, list(positives)))

    def neighbours(self, phrases: Sequence[str], k: int) -> np.ndarray:
        """The ids among the ``k`` nearest images of any phrase."""
        _, ids = self.index.search(self.embedder.embed_texts(list(phrases)), k)
        ids = np.asarray(ids, dtype=np.int64)
        return np.unique(ids[ids >= 0])

    def expand(self, concept: Concept, exclude: np.ndarray, per_phrase: int, batch: int, seed: int) -> np.ndarray:
        return expand(self.index, self.embedder, concept.positives, concept.negatives,
                      exclude_ids=exclude, per_phrase=per_phrase, batch_size=batch, seed=seed)

    def train(self, concept: Concept, round_index: int, seed: int, **overrides) -> TrainedModel:
        ids, labels = concept.labeled()
        return train(self.corpus, ids, labels, TrainConfig.for_round(round_index, seed=seed, **overrides))

    def score(self, model: TrainedModel) -> np.ndarray:
        return score_corpus(self.corpus, model)

    def select(self, model: TrainedModel, k: int, strategy: str, exclude: np.ndarray, seed: int) -> np.ndarray:
        return select(self.corpus, model, k=k, strategy=strategy, exclude_ids=exclude, seed=seed,
                      scan_dir=self.scan_dir)
