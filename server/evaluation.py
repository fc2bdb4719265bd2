"""The evaluation report of a concept: every version and the zero-shot ranking on its rated evaluation images.

The images are those of the concept's evaluation batches (stratified sets, see
``Session.evaluation_set``), rated by the owner and never trained on. Bootstrap
intervals cost about a second per model, so a report is kept until its inputs
(ratings, versions, phrases) change: one per concept and bootstrap count,
the least recently used dropped past ``CACHE_SIZE``. Reports are computed one
at a time, so many clients asking at once cost one computation's CPU, not many.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from agile.evaluation import Metrics, TaskMetrics
from agile.session import EvaluationResult, SessionSettings
from agile.session_store import EVALUATION, Labels
from server.loop import Loop
from server.repository import Repository
from server.schemas import EvaluationMetrics, EvaluationPublic, ModelEvaluation, TaskEvaluationMetrics
from server.store import concept_session
from server.watch import VersionWatch

CACHE_SIZE = 64


@dataclass
class EvaluationReports:
    repo: Repository
    loop: Loop
    watch: VersionWatch
    settings: SessionSettings
    _cache: OrderedDict[tuple[int, int], tuple[str, EvaluationPublic]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _compute_lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, concept_id: int, bootstrap: int) -> EvaluationPublic:
        concept = self.repo.concept(concept_id)
        labels = self.repo.labels(concept_id, EVALUATION)
        total = len(self.repo.batch_ids(concept_id, EVALUATION))
        versions = [v.version for v in self.repo.versions(concept_id)]
        batch = self.repo.current_batch(concept_id, EVALUATION)
        key = _fingerprint(labels, total, versions, concept.positives, bootstrap)
        slot = (concept_id, bootstrap)
        if (cached := self._cached(slot, key)) is not None:
            return cached
        with self._compute_lock:
            if (cached := self._cached(slot, key)) is not None:  # computed while this request waited
                return cached
            session = concept_session(self.repo, self.loop, self.watch, self.settings, concept_id)
            report = _public(concept_id, session.evaluate(bootstrap), bootstrap, batch.id if batch else None)
            with self._lock:
                self._cache[slot] = (key, report)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return report

    def _cached(self, slot: tuple[int, int], key: str) -> EvaluationPublic | None:
        with self._lock:
            cached = self._cache.get(slot)
            if cached is None or cached[0] != key:
                return None
            self._cache.move_to_end(slot)
            return cached[1]


def _metrics(metrics: Metrics | TaskMetrics | None) -> EvaluationMetrics | TaskEvaluationMetrics | None:
    if metrics is None:
        return None
    if isinstance(metrics, TaskMetrics):
        return TaskEvaluationMetrics.model_validate(metrics, from_attributes=True)
    return EvaluationMetrics(auc_pr=metrics.auc_pr, auc_roc=metrics.auc_roc, f1=metrics.f1,
                             accuracy=metrics.accuracy, ci=metrics.ci)


def _public(concept_id: int, result: EvaluationResult, bootstrap: int, batch_id: int | None) -> EvaluationPublic:
    models = [ModelEvaluation(model=m.model, version=m.version, threshold=m.threshold, metrics=_metrics(m.metrics))
              for m in result.models]
    return EvaluationPublic(concept_id=concept_id, total=result.total, rated=result.rated,
                            rated_positive=result.rated_positive, batch_id=batch_id, bootstrap=bootstrap,
                            ready=result.ready, message=result.message, models=models)


def _fingerprint(labels: Labels, total: int, versions: list[int], positives: list[str], bootstrap: int) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(labels.ids).tobytes())
    digest.update(np.ascontiguousarray(labels.labels).tobytes())
    digest.update(repr((total, versions, positives, bootstrap)).encode())
    return digest.hexdigest()
