"""What the finders read about one concept, loaded once per request: ratings, their vectors, versions, phrases."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from agile.assistant.vocabulary import Vocabulary
from agile.embedder import EmbedderError
from agile.session_store import EVALUATION, TRAINING, ConceptState, Labels, SessionStore
from agile.sidecar import Stability
from agile.stability import FixedSample, fixed_sample, stability
from agile.training import TrainedModel
from agile.workspace import Workspace

# Kept across requests: phrases, the fixed sample and versions do not change, and a request must stay
# well under a second (embedding a phrase or scoring the fixed sample costs tens of milliseconds each).
_TEXT: dict[tuple[str, str], np.ndarray] = {}
_NEIGHBOURS: dict[tuple[str, str, int], np.ndarray] = {}
_SCORES: dict[int, tuple[TrainedModel, np.ndarray]] = {}   # id(model) -> (the model, kept alive; scores)
_CACHE_LIMIT = 4096


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
        # Positioned reads of the sorted ids: on a 10M corpus a memory-mapped gather of a few hundred
        # scattered rows maps a 64 KiB window around each (see Corpus.read_rows).
        return self.workspace.corpus.read_rows(self.labels.ids).astype(np.float32)

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
        root = str(self.workspace.corpus.root)
        missing = [p for p in dict.fromkeys(self.phrases) if (root, p) not in _TEXT]
        try:
            if missing:
                if len(_TEXT) > _CACHE_LIMIT:
                    _TEXT.clear()
                _TEXT.update({(root, p): v for p, v in zip(missing, self.workspace.embed_texts(missing))})
            return np.stack([_TEXT[(root, p)] for p in self.phrases]) if self.phrases else \
                np.empty((0, self.workspace.corpus.dim), np.float32)
        except EmbedderError:  # a corpus whose model has no text tower: no phrase findings
            return np.empty((0, self.workspace.corpus.dim), np.float32)

    @functools.cached_property
    def phrase_neighbours(self) -> np.ndarray:
        """(phrases, per_phrase) ids of the nearest images of each phrase, as expansion sees them."""
        if len(self.phrase_embeddings) == 0:
            return np.empty((0, 0), np.int64)
        root = str(self.workspace.corpus.root)
        keys = [(root, p, self.per_phrase) for p in self.phrases]
        missing = [i for i, key in enumerate(keys) if key not in _NEIGHBOURS]
        if missing:
            if len(_NEIGHBOURS) > _CACHE_LIMIT:
                _NEIGHBOURS.clear()
            found = self.workspace.search(self.phrase_embeddings[missing], self.per_phrase)
            _NEIGHBOURS.update({keys[i]: row for i, row in zip(missing, found)})
        return np.stack([_NEIGHBOURS[key] for key in keys])

    @property
    def sample(self) -> FixedSample:
        """The corpus's fixed sample (agile.stability): the same for every version, so labels compare."""
        return fixed_sample(self.workspace.corpus)

    @property
    def sample_ids(self) -> np.ndarray:
        return self.sample.ids

    def stability(self, version: int) -> Stability | None:
        """How much ``version`` changed the sample's labels from the version before it (None: the first);
        measured here for a version saved before sessions recorded it."""
        at = self.versions.index(version)
        if at == 0:
            return None
        recorded = self.store.sidecar(version).stability
        if recorded is not None:
            return recorded
        before = self.versions[at - 1]
        return stability(self.sample, self.model(version), self.model(before), before, None)

    def sample_scores(self, version: int) -> np.ndarray:
        model = self.model(version)
        hit = _SCORES.get(id(model))
        if hit is None or hit[0] is not model:
            if len(_SCORES) > 64:
                _SCORES.clear()
            hit = _SCORES[id(model)] = (model, model.score_vectors(self.sample.vectors))
        return hit[1]

    def rated_index(self, ids: np.ndarray) -> np.ndarray:
        """Positions in ``labels.ids`` of ``ids``; -1 for unrated ones."""
        pos = np.searchsorted(self.labels.ids, ids)
        pos = np.minimum(pos, max(len(self.labels.ids) - 1, 0))
        found = (len(self.labels.ids) > 0) & (self.labels.ids[pos] == ids) if len(self.labels.ids) else \
            np.zeros(len(ids), bool)
        return np.where(found, pos, -1)
