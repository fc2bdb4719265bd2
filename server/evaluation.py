"""The evaluation report of a concept: every version and the zero-shot ranking on its rated evaluation images.

The images are those of the concept's evaluation batches (stratified sets, see
``Session.evaluation_set``), rated by the owner and never trained on. Bootstrap
intervals cost about a second per model, so a report is kept until its inputs
(ratings, versions, phrases) change.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

import numpy as np

from agile.session import SessionSettings
from agile.session_store import EVALUATION, Labels
from server.loop import Loop
from server.repository import Repository
from server.schemas import EvaluationMetrics, EvaluationPublic, ModelEvaluation
from server.store import concept_session
from server.watch import VersionWatch


@dataclass
class EvaluationReports:
    repo: Repository
    loop: Loop
    watch: VersionWatch
    settings: SessionSettings
    _cache: dict[int, tuple[str, EvaluationPublic]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def report(self, concept_id: int, bootstrap: int) -> EvaluationPublic:
        concept = self.repo.concept(concept_id)
        labels = self.repo.labels(concept_id, EVALUATION)
        total = len(self.repo.batch_ids(concept_id, EVALUATION))
        versions = [v.version for v in self.repo.versions(concept_id)]
        batch = self.repo.current_batch(concept_id, EVALUATION)
        key = _fingerprint(labels, total, versions, concept.positives, bootstrap)
        with self._lock:
            cached = self._cache.get(concept_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        result = concept_session(self.repo, self.loop, self.watch, self.settings, concept_id).evaluate(bootstrap)
        models = [ModelEvaluation(model=m.model, version=m.version, threshold=m.threshold,
                                  metrics=None if m.metrics is None else EvaluationMetrics(
                                      auc_pr=m.metrics.auc_pr, auc_roc=m.metrics.auc_roc, f1=m.metrics.f1,
                                      accuracy=m.metrics.accuracy, ci=m.metrics.ci))
                  for m in result.models]
        report = EvaluationPublic(concept_id=concept_id, total=result.total, rated=result.rated,
                                  rated_positive=result.rated_positive, batch_id=batch.id if batch else None,
                                  bootstrap=bootstrap, ready=result.ready, message=result.message, models=models)
        with self._lock:
            self._cache[concept_id] = (key, report)
        return report


def _fingerprint(labels: Labels, total: int, versions: list[int], positives: list[str], bootstrap: int) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(labels.ids).tobytes())
    digest.update(np.ascontiguousarray(labels.labels).tobytes())
    digest.update(repr((total, versions, positives, bootstrap)).encode())
    return digest.hexdigest()
