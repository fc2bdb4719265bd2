"""Metrics of a scored, rated evaluation set, with bootstrap 95% confidence intervals.

AUC-PR (average precision) is the primary metric, as in the paper; AUC-ROC,
F1 and accuracy at a threshold (0.5 for MLP probabilities, a stated one for
zero-shot cosines) go beside it. All come from scikit-learn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

from agile.errors import EvalError

METRIC_NAMES = ("auc_pr", "auc_roc", "f1", "accuracy")


@dataclass(frozen=True)
class Metrics:
    auc_pr: float
    auc_roc: float
    f1: float
    accuracy: float
    threshold: float
    n: int
    positives: int
    # metric name -> [low, high] of the bootstrap 95% interval (empty without bootstrap)
    ci: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _point(labels: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    predicted = scores >= threshold
    return np.array([average_precision_score(labels, scores), roc_auc_score(labels, scores),
                     f1_score(labels, predicted, zero_division=0.0), accuracy_score(labels, predicted)])


def compute_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5,
                    bootstrap: int = 0, seed: int = 0) -> Metrics:
    """Metrics of ``scores`` against 0/1 ``labels``; ``bootstrap`` resamples give the 95% CIs.

    Resamples that hold a single class (where the AUCs are undefined) are
    redrawn, so every interval comes from ``bootstrap`` valid resamples.
    """
    labels = np.asarray(labels).astype(bool).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise EvalError(f"{len(labels)} labels but {len(scores)} scores")
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        raise EvalError(f"the evaluation set of {len(labels)} images needs both positives and negatives "
                        f"(it has {positives} positives)")
    if not np.isfinite(scores).all():
        raise EvalError("scores contain NaN or infinite values")
    point = _point(labels, scores, threshold)
    ci: dict[str, list[float]] = {}
    if bootstrap > 0:
        samples = _bootstrap(labels, scores, threshold, bootstrap, seed)
        # Every metric lies in [0, 1]; interpolating between resamples of 1.0 can overshoot by an ulp.
        low, high = np.clip(np.percentile(samples, [2.5, 97.5], axis=0), 0.0, 1.0)
        ci = {name: [float(lo), float(hi)] for name, lo, hi in zip(METRIC_NAMES, low, high)}
    return Metrics(*map(float, point), threshold=float(threshold), n=len(labels), positives=positives, ci=ci)


def _bootstrap(labels: np.ndarray, scores: np.ndarray, threshold: float, rounds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((rounds, len(METRIC_NAMES)))
    done = 0
    while done < rounds:
        idx = rng.integers(0, len(labels), len(labels))
        pos = labels[idx].sum()
        if 0 < pos < len(idx):
            out[done] = _point(labels[idx], scores[idx], threshold)
            done += 1
    return out
