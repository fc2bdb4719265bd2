"""A concept's session state in SQLite and its model registry: the server's ``SessionStore``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agile.session import Session, SessionSettings
from agile.session_store import EVALUATION, TRAINING, ConceptState, Labels, Purpose
from agile.sidecar import VersionSidecar
from agile.task import Category, Task
from agile.training import TrainedModel
from server.loop import Loop
from server.repository import ConceptRecord, Repository
from server.seeds import SeedStore
from server.watch import VersionWatch


@dataclass
class SqliteStore:
    repo: Repository
    loop: Loop
    watch: VersionWatch
    concept_id: int
    job_id: int | None = None

    def concept(self) -> ConceptState:
        record = self.repo.concept(self.concept_id)
        seeds = SeedStore(self.repo.db)
        return ConceptState(record.name, record.positives, record.negatives, record.id,
                            seeds=seeds.seeds(self.concept_id, self.loop.corpus.dim),
                            candidates=seeds.candidates(self.concept_id), task=task_of(record, seeds))

    def labels(self, purpose: Purpose = TRAINING) -> Labels:
        return self.repo.labels(self.concept_id, purpose)

    def skipped_ids(self) -> np.ndarray:
        return self.repo.skipped_ids(self.concept_id)

    def batch_ids(self, purpose: Purpose) -> np.ndarray:
        return self.repo.batch_ids(self.concept_id, purpose)

    def reserved_ids(self) -> np.ndarray:
        return self.repo.batch_ids(self.concept_id, EVALUATION)

    def latest_round(self) -> int | None:
        return self.repo.latest_round(self.concept_id)

    def add_batch(self, round_: int, source: str, model_version: int | None, ids: Sequence[int],
                  purpose: Purpose = TRAINING, note: str = "") -> int:
        return self.repo.add_batch(self.concept_id, round_, source, model_version, ids, purpose, note)

    def versions(self) -> list[int]:
        return [v.version for v in self.repo.versions(self.concept_id)]

    def model(self, version: int) -> TrainedModel:
        return self.loop.model(self.concept_id, version)

    def sidecar(self, version: int) -> VersionSidecar:
        record = self.repo.version(self.concept_id, version)
        return VersionSidecar.read(record.sidecar, f"sidecar of version {version} of concept {self.concept_id}")

    def save_version(self, model: TrainedModel, sidecar: VersionSidecar) -> int:
        """Weights first (atomically), then the record, then the pollers."""
        info = self.loop.registry(self.concept_id).save(model, sidecar.to_json())
        self.repo.add_version(self.concept_id, info.version, self.job_id, str(info.path), info.sidecar)
        self.watch.publish(self.concept_id, info.version)
        return info.version

    def add_metrics(self, version: int, metrics: dict[str, float]) -> None:
        """The registry's sidecar first (atomically), then the record."""
        sidecar = self.loop.registry(self.concept_id).add_metrics(version, metrics)
        self.repo.update_version_sidecar(self.concept_id, version, sidecar)


def task_of(record: ConceptRecord, seeds: SeedStore) -> Task | None:
    """The library's view of a task's record (None for a binary concept), with each category's seeds."""
    if record.categories is None:
        return None
    by_category = seeds.category_ids(record.id)
    return Task(tuple(Category(c.name, c.phrases, np.asarray(by_category.get(i, []), dtype=np.int64))
                      for i, c in enumerate(record.categories)), record.none_of_these)


def concept_session(repo: Repository, loop: Loop, watch: VersionWatch, settings: SessionSettings,
                    concept_id: int, job_id: int | None = None) -> Session:
    """The labelling session of one concept; its seed is the concept id."""
    store = SqliteStore(repo, loop, watch, concept_id, job_id)
    return Session(loop.workspace, store, seed=concept_id, settings=settings, job_id=job_id)
