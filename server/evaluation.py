"""The evaluation report of a concept: every version and the zero-shot ranking on its rated evaluation images.

The images are those of the concept's evaluation batches (stratified sets, see
``LoopJobs.evaluate``), rated by the owner and never trained on. Bootstrap
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

from server.loop import ZERO_SHOT, Loop
from server.repository import EVALUATION, Labels, Repository
from server.schemas import EvaluationMetrics, EvaluationPublic, ModelEvaluation


CACHE_SIZE = 64


@dataclass
class EvaluationReports:
    repo: Repository
    loop: Loop
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
            report = self._compute(concept_id, concept.positives, labels, total, versions, bootstrap,
                                   batch.id if batch else None)
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

    def _compute(self, concept_id: int, positives: list[str], labels: Labels, total: int, versions: list[int],
                 bootstrap: int, batch_id: int | None) -> EvaluationPublic:
        rated, positive = len(labels.ids), int(labels.labels.sum())
        message, ready = _status(total, rated, positive)
        truth = labels.labels > 0.5
        models = []
        for version in [*versions, None]:
            zero_shot = version is None
            metrics = None
            if ready:
                scores = (self.loop.zero_shot_ids(positives, labels.ids) if zero_shot
                          else self.loop.score_ids(self.loop.model(concept_id, version), labels.ids))
                m = self.loop.evaluation_metrics(truth, scores, zero_shot, bootstrap)
                metrics = EvaluationMetrics(auc_pr=m.auc_pr, auc_roc=m.auc_roc, f1=m.f1, accuracy=m.accuracy,
                                            ci=m.ci)
            models.append(ModelEvaluation(model=ZERO_SHOT if zero_shot else f"v{version}", version=version,
                                          threshold=self.loop.threshold(zero_shot), metrics=metrics))
        return EvaluationPublic(concept_id=concept_id, total=total, rated=rated, rated_positive=positive,
                                batch_id=batch_id, bootstrap=bootstrap, ready=ready, message=message,
                                models=models)


def _status(total: int, rated: int, positive: int) -> tuple[str, bool]:
    """What the owner is told, and whether metrics can be computed."""
    if total == 0:
        return "no evaluation set yet: start an 'evaluate' job, then rate its batch", False
    if rated == 0:
        return f"none of the {total} evaluation images is rated yet", False
    if positive in (0, rated):
        kind = "positive" if positive else "negative"
        return (f"all {rated} rated evaluation images are {kind}: AUC-PR and AUC-ROC need both classes, "
                f"so rate more of the set ({total - rated} unrated)"), False
    unrated = f"; {total - rated} still unrated" if rated < total else ""
    return f"metrics on {rated} of {total} evaluation images ({positive} positive){unrated}", True


def _fingerprint(labels: Labels, total: int, versions: list[int], positives: list[str], bootstrap: int) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(labels.ids).tobytes())
    digest.update(np.ascontiguousarray(labels.labels).tobytes())
    digest.update(repr((total, versions, positives, bootstrap)).encode())
    return digest.hexdigest()
