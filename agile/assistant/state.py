"""What the finders read about one concept, loaded once per request: ratings, their vectors, versions, phrases."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from agile.assistant.vocabulary import Vocabulary
from agile.embedder import EmbedderError
from agile.session_store import EVALUATION, TRAINING, ConceptState, Labels, SessionStore
from agile.training import TrainedModel
from agile.workspace import Workspace

SAMPLE = 10_000  # images of the fixed sample that progress findings score (prevalence, label churn)


@dataclass
class AssistantState:
    workspace: Workspace
    store: SessionStore
    vocabulary: Vocabulary | None = None
    per_phrase: int = 100

    @functools.cached_property
    def concept(self) -> ConceptState:
        return self.store.concept()

    @property
    def phrases(self) -> list[str]:
        return [*self.concept.positives, *self.concept.negatives]

    @functools.cached_property
    def labels(self) -> Labels:
        return self.store.labels(TRAINING)

    @functools.cached_property
    def evaluation_labels(self) -> Labels:
        return self.store.labels(EVALUATION)

    @functools.cached_property
    def vectors(self) -> np.ndarray:
        """float32 vectors of the rated training images, in ``labels.ids`` order."""
        if len(self.labels.ids) == 0:
            return np.empty((0, self.workspace.corpus.dim), np.float32)
        return self.workspace.corpus.vectors(self.labels.ids).astype(np.float32)

    @property
    def truth(self) -> np.ndarray:
        return self.labels.labels > 0.5

    @functools.cached_property
    def versions(self) -> list[int]:
        return self.store.versions()

    def model(self, version: int) -> TrainedModel:
        return self.store.model(version)

    @functools.cached_property
    def phrase_embeddings(self) -> np.ndarray:
        """Text embeddings of the concept's phrases (positives then negatives); empty without a text model."""
        try:
            return self.workspace.embed_texts(self.phrases)
        except EmbedderError:  # a corpus whose model has no text tower: no phrase findings
            return np.empty((0, self.workspace.corpus.dim), np.float32)

    @functools.cached_property
    def phrase_neighbours(self) -> np.ndarray:
        """(phrases, per_phrase) ids of the nearest images of each phrase, as expansion sees them."""
        if len(self.phrase_embeddings) == 0:
            return np.empty((0, 0), np.int64)
        return self.workspace.search(self.phrase_embeddings, self.per_phrase)

    @functools.cached_property
    def sample_ids(self) -> np.ndarray:
        """A fixed sample of the corpus (the same for every version, so their labels can be compared)."""
        count = self.workspace.corpus.count
        if count <= SAMPLE:
            return np.arange(count, dtype=np.int64)
        return np.sort(np.random.default_rng(0).choice(count, SAMPLE, replace=False)).astype(np.int64)

    @functools.cached_property
    def sample_vectors(self) -> np.ndarray:
        return self.workspace.corpus.read_rows(self.sample_ids).astype(np.float32)

    def sample_scores(self, version: int) -> np.ndarray:
        cache = self.__dict__.setdefault("_sample_scores", {})
        if version not in cache:
            cache[version] = self.model(version).score_vectors(self.sample_vectors)
        return cache[version]

    def rated_index(self, ids: np.ndarray) -> np.ndarray:
        """Positions in ``labels.ids`` of ``ids``; -1 for unrated ones."""
        pos = np.searchsorted(self.labels.ids, ids)
        pos = np.minimum(pos, max(len(self.labels.ids) - 1, 0))
        found = (len(self.labels.ids) > 0) & (self.labels.ids[pos] == ids) if len(self.labels.ids) else \
            np.zeros(len(ids), bool)
        return np.where(found, pos, -1)
