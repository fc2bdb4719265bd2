"""From a rated concept to a deployable classifier: target status, the threshold it implies, the model card.

Reads a labelling session's state (evaluation ratings, versions and their
sidecars); writes nothing itself — ``agile.export`` writes the folder.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve

from agile.evaluation import compute_metrics
from agile.export import ModelCard
from agile.feasibility import TargetStatus, VersionPoint, target_status
from agile.refusals import check_measurable
from agile.session import Session
from agile.session_store import EVALUATION, TRAINING
from agile.targets import Target

INTENDED_USE = ("Scoring images embedded with the embedding model named above, for the concept as its owner "
                "defined it by rating images; decisions at the threshold. Made by one owner's ratings: "
                "review its errors before any use that affects people.")
LIMITS = [
    "Scores are meaningful only for embeddings of the named embedding model (checked by sha256 where a corpus "
    "is given); other vectors give arbitrary scores.",
    "The concept is what one owner rated; another person's notion of it may differ.",
    "Evaluation metrics come from a stratified set (paper §4.2) of owner-rated images: they rank versions "
    "fairly but are not the metrics of a random sample of the corpus.",
    "Images unlike the corpus (other sources, styles, resolutions) were never seen and may be scored arbitrarily.",
]


def version_points(session: Session, ids: np.ndarray) -> list[VersionPoint]:
    """Every version with its training-label count and its scores of the images ``ids``."""
    store = session.store
    return [VersionPoint(v, store.sidecar(v).labels.count, session.workspace.score_ids(store.model(v), ids))
            for v in store.versions()]


def status_of(session: Session, target: Target, bootstrap: int = 200) -> TargetStatus:
    """The target judged on the session's rated evaluation images (refused if the set cannot measure it)."""
    labels = session.store.labels(EVALUATION)
    truth = labels.labels > 0.5
    check_measurable(target, int(truth.sum()), int((~truth).sum()))
    return target_status(target, truth, version_points(session, labels.ids), bootstrap=bootstrap)


def threshold_for(target: Target | None, truth: np.ndarray, scores: np.ndarray) -> tuple[float, str]:
    """The decision threshold the target asks for, measured on the evaluation set, and why."""
    if target is None or target.metric in ("auc_pr", "f1") or truth.all() or not truth.any():
        return 0.5, "the default for probabilities"
    precision, recall, thresholds = precision_recall_curve(truth, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if target.metric == "precision_at_recall":
        ok = recall >= target.at
        best = np.flatnonzero(ok)[np.argmax(precision[ok])]
        return float(thresholds[best]), f"highest precision at recall >= {target.at:g} on the evaluation set"
    ok = precision >= target.at
    if not ok.any():
        return 0.5, f"no threshold reaches precision {target.at:g} on the evaluation set; the default"
    best = np.flatnonzero(ok)[np.argmax(recall[ok])]
    return float(thresholds[best]), f"highest recall at precision >= {target.at:g} on the evaluation set"


def model_card(session: Session, version: int, target: Target | None = None, bootstrap: int = 200) -> ModelCard:
    """The card of ``version``: what produced it, how it measures, the threshold its target asks for."""
    store = session.store
    sidecar = store.sidecar(version)
    labels = store.labels(EVALUATION)
    truth = labels.labels > 0.5
    evaluation, status, threshold, reason = None, None, 0.5, "the default for probabilities"
    if len(labels.ids) and 0 < truth.sum() < len(truth):
        scores = session.workspace.score_ids(store.model(version), labels.ids)
        threshold, reason = threshold_for(target, truth, scores)
        metrics = compute_metrics(truth, scores, threshold, bootstrap=bootstrap, seed=0)
        evaluation = {"rated": len(labels.ids), "positives": int(truth.sum()), "threshold": threshold,
                      "metrics": metrics.to_dict()}
    if target is not None:
        try:
            status = status_of(session, target, bootstrap).__dict__
        except Exception as e:  # a refusal is part of the card, not a failed export
            status = {"state": "unknown", "message": str(e)}
        status = {**status, "description": target.describe(), "target": target.model_dump(exclude_none=True)}
    trained = store.labels(TRAINING)
    return ModelCard(concept=sidecar.concept.model_dump(mode="json"), version=version, threshold=threshold,
                     threshold_reason=reason, embedding_model=session.workspace.corpus.model,
                     dim=session.workspace.corpus.dim,
                     labels={**sidecar.labels.model_dump(mode="json"), "rated_now": len(trained.ids)},
                     evaluation=evaluation, target=status, training=sidecar.training,
                     intended_use=INTENDED_USE, limits=LIMITS)
