"""Where a labelling session keeps its state: the interface, and the in-memory store.

The session owns no storage. The server keeps a concept's phrases, batches,
ratings and versions in SQLite and model files; a simulated owner (or a
notebook) keeps them in memory with ``MemoryStore``. Both are driven by the
same ``agile.session.Session``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence

import numpy as np

from agile.candidates import CandidateFilter
from agile.concept import Concept
from agile.errors import AgileError
from agile.seeds import ImageSeeds
from agile.sidecar import VersionSidecar
from agile.task import Task
from agile.training import TrainedModel

TRAINING, EVALUATION = "training", "evaluation"
Purpose = Literal["training", "evaluation"]


SKIP = None  # the third answer: the owner cannot tell; stored, never trained on, never offered again


class StoreError(AgileError):
    """A rating of an image that was never offered, or an unknown version."""


@dataclass(frozen=True)
class Labels:
    """Ratings of one purpose, sorted by id."""
    ids: np.ndarray      # int64
    labels: np.ndarray   # float32: 1 positive, 0 negative; of a task (agile.task), the class index
    rounds: np.ndarray   # int64

    @classmethod
    def empty(cls) -> "Labels":
        return cls(np.empty(0, np.int64), np.empty(0, np.float32), np.empty(0, np.int64))


@dataclass(frozen=True)
class ConceptState:
    name: str
    positives: list[str]
    negatives: list[str]
    id: int | None = None
    seeds: ImageSeeds = field(default_factory=ImageSeeds)       # example images (ids, uploaded vectors)
    candidates: CandidateFilter | None = None                  # where batches may come from (None: anywhere)
    task: Task | None = None                                   # a multi-category task's categories (None: binary)


@dataclass(frozen=True)
class Batch:
    id: int
    round: int
    source: str            # "expansion", "evaluation" or the strategy that chose it
    model_version: int | None
    ids: np.ndarray        # int64, in the order they are shown
    purpose: Purpose = TRAINING
    note: str = ""         # one sentence for the owner about how it was chosen (empty: as asked)


class SessionStore(Protocol):
    def concept(self) -> ConceptState: ...

    def labels(self, purpose: Purpose = TRAINING) -> Labels:
        """Positive and negative ratings of one purpose (never the skipped ones)."""

    def skipped_ids(self) -> np.ndarray:
        """Sorted ids the owner could not judge ("can't tell"): kept out of training and of later batches."""

    def batch_ids(self, purpose: Purpose) -> np.ndarray:
        """Sorted ids of every image ever put in a batch of this purpose, rated or not."""

    def reserved_ids(self) -> np.ndarray:
        """Sorted ids no training batch may offer (images kept for evaluation)."""

    def latest_round(self) -> int | None:
        """The round of the newest training batch, None before the first."""

    def add_batch(self, round_: int, source: str, model_version: int | None, ids: Sequence[int],
                  purpose: Purpose = TRAINING, note: str = "") -> int: ...

    def versions(self) -> list[int]: ...

    def model(self, version: int) -> TrainedModel: ...

    def sidecar(self, version: int) -> VersionSidecar: ...

    def save_version(self, model: TrainedModel, sidecar: VersionSidecar) -> int:
        """Store a new version (atomically) and return its number."""

    def add_metrics(self, version: int, metrics: dict[str, float]) -> None:
        """Add figures measured after a version was saved to its sidecar's metrics."""


@dataclass
class _Rating:
    answer: float | None   # 1.0 / 0.0, or a task's class index; None: skipped
    round: int
    source: str
    purpose: Purpose


@dataclass
class MemoryStore:
    """A session's state in memory: for simulated owners, tests and notebooks."""

    concept_: Concept
    reserved: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    seeds: ImageSeeds = field(default_factory=ImageSeeds)
    candidates: CandidateFilter | None = None
    task: Task | None = None
    batches: list[Batch] = field(default_factory=list)
    ratings: dict[int, _Rating] = field(default_factory=dict)
    saved: list[tuple[TrainedModel, VersionSidecar]] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, positives: Sequence[str] = (), negatives: Sequence[str] = (),
               reserved: Sequence[int] | np.ndarray = (), seed_ids: Sequence[int] = (),
               candidates: CandidateFilter | None = None) -> "MemoryStore":
        """A new concept (phrases validated as the server does); ``reserved`` ids are never offered;
        ``seed_ids``: example images of the corpus; ``candidates``: where batches may come from."""
        return cls(Concept.create(name, positives, negatives), np.unique(np.asarray(reserved, dtype=np.int64)),
                   ImageSeeds(np.unique(np.asarray(seed_ids, dtype=np.int64))), candidates)

    @classmethod
    def create_task(cls, name: str, task: Task, reserved: Sequence[int] | np.ndarray = (),
                    candidates: CandidateFilter | None = None) -> "MemoryStore":
        """A new multi-category task; its ratings are class indices (agile.task)."""
        return cls(Concept.create(name), np.unique(np.asarray(reserved, dtype=np.int64)), candidates=candidates,
                   task=task)

    def add_seeds(self, ids: Sequence[int] = (), vectors: np.ndarray | None = None) -> None:
        """More example images: corpus ids, and/or unit vectors of uploaded images."""
        uploads = self.seeds.vectors
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            uploads = np.concatenate([uploads.reshape(-1, vectors.shape[1]), vectors])
        self.seeds = ImageSeeds(np.union1d(self.seeds.ids, np.asarray(ids, dtype=np.int64)), uploads)

    # -- what the owner does --------------------------------------------------------
    def rate(self, ids: Sequence[int], answers: Sequence[bool | int | None]) -> None:
        """Rate images of this concept's batches (each takes the round and purpose of its newest batch):
        positive or not, or of a task a class index; a ``SKIP`` (None) answer is the owner's "can't tell"."""
        where = {int(i): b for b in self.batches for i in b.ids.tolist()}
        for id_, given in zip(np.asarray(ids).tolist(), list(answers)):
            batch = where.get(int(id_))
            if batch is None:
                raise StoreError(f"image {id_} is not in any batch of this concept")
            answer = None if given is SKIP else float(self.task.check_answer(given) if self.task else bool(given))
            self.ratings[int(id_)] = _Rating(answer, batch.round, batch.source, batch.purpose)

    def counts(self, purpose: Purpose = TRAINING) -> tuple[int, int]:
        """(rated, positive) among the answered ratings of one purpose; of a task, positive means
        in one of its categories (not "none of these")."""
        chosen = [r.answer for r in self.ratings.values() if r.purpose == purpose and r.answer is not None]
        if self.task is not None:
            return len(chosen), sum(a != self.task.none_class for a in chosen)
        return len(chosen), int(sum(chosen))

    # -- SessionStore -------------------------------------------------------------------
    def concept(self) -> ConceptState:
        return ConceptState(self.concept_.name, list(self.concept_.positives), list(self.concept_.negatives),
                            seeds=self.seeds, candidates=self.candidates, task=self.task)

    def labels(self, purpose: Purpose = TRAINING) -> Labels:
        rows = sorted((i, r) for i, r in self.ratings.items() if r.purpose == purpose and r.answer is not None)
        if not rows:
            return Labels.empty()
        return Labels(np.array([i for i, _ in rows], dtype=np.int64),
                      np.array([r.answer for _, r in rows], dtype=np.float32),
                      np.array([r.round for _, r in rows], dtype=np.int64))

    def skipped_ids(self) -> np.ndarray:
        return np.array(sorted(i for i, r in self.ratings.items() if r.answer is None), dtype=np.int64)

    def batch_ids(self, purpose: Purpose) -> np.ndarray:
        parts = [b.ids for b in self.batches if b.purpose == purpose]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def reserved_ids(self) -> np.ndarray:
        return np.union1d(self.reserved, self.batch_ids(EVALUATION))

    def latest_round(self) -> int | None:
        rounds = [b.round for b in self.batches if b.purpose == TRAINING]
        return max(rounds) if rounds else None

    def add_batch(self, round_: int, source: str, model_version: int | None, ids: Sequence[int],
                  purpose: Purpose = TRAINING, note: str = "") -> int:
        batch = Batch(len(self.batches) + 1, round_, source, model_version, np.asarray(ids, dtype=np.int64), purpose,
                      note)
        self.batches.append(batch)
        return batch.id

    def versions(self) -> list[int]:
        return list(range(1, len(self.saved) + 1))

    def model(self, version: int) -> TrainedModel:
        if not 1 <= version <= len(self.saved):
            raise StoreError(f"no model version {version}")
        return self.saved[version - 1][0]

    def sidecar(self, version: int) -> VersionSidecar:
        self.model(version)  # the same error for an unknown version
        return self.saved[version - 1][1]

    def save_version(self, model: TrainedModel, sidecar: VersionSidecar) -> int:
        self.saved.append((model, sidecar))
        return len(self.saved)

    def add_metrics(self, version: int, metrics: dict[str, float]) -> None:
        self.sidecar(version).metrics.update(metrics)
