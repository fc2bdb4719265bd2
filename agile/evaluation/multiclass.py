"""Metrics of a multi-category task's model on its rated evaluation set, with bootstrap 95% intervals.

Each class is measured one-vs-rest by AUC-PR (average precision of its own
probability); the macro AUC-PR is their mean over the classes the set holds
both in and out of. Macro F1, accuracy and the confusion matrix go by each
image's likeliest class. All from scikit-learn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix, f1_score

from agile.errors import EvalError

TASK_METRIC_NAMES = ("macro_auc_pr", "macro_f1", "accuracy")


@dataclass(frozen=True)
class TaskMetrics:
    classes: list[str]
    macro_auc_pr: float
    macro_f1: float
    accuracy: float
    auc_pr: list[float | None]     # per class, one-vs-rest; None where the set holds no image of it (or only)
    f1: list[float]                # per class, by the likeliest class
    confusion: list[list[int]]     # rows: the rated class, columns: the likeliest class
    n: int
    counts: list[int]              # rated images of each class
    # metric name (or "auc_pr:<class>") -> [low, high] of the bootstrap 95% interval (empty without bootstrap)
    ci: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _per_class_auc_pr(truth: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Average precision of each class's probability against being of that class; NaN where undefined."""
    out = np.full(probabilities.shape[1], np.nan)
    for c in range(probabilities.shape[1]):
        inside = truth == c
        if 0 < inside.sum() < len(truth):
            out[c] = average_precision_score(inside, probabilities[:, c])
    return out


def _point(truth: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(macro AUC-PR, macro F1, accuracy) and the per-class AUC-PR."""
    per_class = _per_class_auc_pr(truth, probabilities)
    predicted = probabilities.argmax(axis=1)
    labels = np.arange(probabilities.shape[1])
    present = np.unique(truth)  # macro F1 over the classes rated in the set
    macro_f1 = f1_score(truth, predicted, labels=present, average="macro", zero_division=0.0)
    return np.array([np.nanmean(per_class), macro_f1, accuracy_score(truth, predicted)]), per_class


def compute_task_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str],
                         bootstrap: int = 0, seed: int = 0) -> TaskMetrics:
    """Metrics of class ``probabilities`` (n, K) against rated class indices ``labels`` (n,).

    Needs images of at least two classes. ``bootstrap`` resamples give 95%
    intervals of the macro figures and of each class's AUC-PR (a resample that
    holds one class only is drawn again).
    """
    truth = np.asarray(labels).astype(np.int64).reshape(-1)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    k = len(classes)
    if probabilities.shape != (len(truth), k):
        raise EvalError(f"{len(truth)} ratings but probabilities of shape {probabilities.shape} for {k} classes")
    if len(truth) and (truth.min() < 0 or truth.max() >= k):
        raise EvalError(f"ratings are class indices 0..{k - 1}")
    counts = np.bincount(truth, minlength=k)
    if np.count_nonzero(counts) < 2:
        raise EvalError(f"the evaluation set of {len(truth)} images needs images of two classes at least")
    point, per_class = _point(truth, probabilities)
    predicted = probabilities.argmax(axis=1)
    ci: dict[str, list[float]] = {}
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        macro, classes_pr = [], []
        while len(macro) < bootstrap:
            idx = rng.integers(0, len(truth), len(truth))
            if len(np.unique(truth[idx])) < 2:
                continue
            figures, pr = _point(truth[idx], probabilities[idx])
            macro.append(figures)
            classes_pr.append(pr)
        low, high = np.clip(np.nanpercentile(np.array(macro), [2.5, 97.5], axis=0), 0.0, 1.0)
        ci = {name: [float(lo), float(hi)] for name, lo, hi in zip(TASK_METRIC_NAMES, low, high)}
        samples = np.array(classes_pr)
        for c, name in enumerate(classes):
            if np.isfinite(per_class[c]) and np.isfinite(samples[:, c]).any():
                lo, hi = np.clip(np.nanpercentile(samples[:, c], [2.5, 97.5]), 0.0, 1.0)
                ci[f"auc_pr:{name}"] = [float(lo), float(hi)]
    f1 = f1_score(truth, predicted, labels=np.arange(k), average=None, zero_division=0.0)
    return TaskMetrics(list(classes), *map(float, point), [None if np.isnan(v) else float(v) for v in per_class],
                       [float(v) for v in f1], confusion_matrix(truth, predicted, labels=np.arange(k)).tolist(),
                       len(truth), counts.tolist(), ci)
