"""A cross-validated AUC-PR on the rated images: an honest figure before any evaluation set exists.

In-sample AUC-PR (a model scored on the images it learned from) only says how
well it fits them, and falls as harder images are rated. Here each fold's
images are scored by a model refitted without them, with the session's own
recipe at cheaper settings, so the estimate ranks versions the way a held-out
set would (with its noise: the rated images are chosen by the model, not at
random).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from agile.evaluation import compute_metrics
from agile.training import TrainConfig

CV_RANDOM_NEGATIVES = 2000  # cheap refits: the estimate is for ranking versions, not for deploying


@dataclass(frozen=True)
class CrossValidated:
    auc_pr: float
    low: float          # bootstrap 95% interval over the pooled out-of-fold scores
    high: float
    folds: int
    n: int


def fold_of(truth: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Stratified fold numbers: each class dealt round-robin after a seeded shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(truth), dtype=np.int64)
    for cls in (True, False):
        where = np.flatnonzero(truth == cls)
        rng.shuffle(where)
        fold[where] = np.arange(len(where)) % folds
    return fold


def cross_validated_auc_pr(workspace, ids: np.ndarray, labels: np.ndarray, config: TrainConfig,
                           folds: int = 3, seed: int = 0, bootstrap: int = 100) -> CrossValidated | None:
    """Pooled out-of-fold AUC-PR of ``config`` refitted ``folds`` times; None when a class has fewer
    images than folds (every fold must train on both classes)."""
    ids, labels = np.asarray(ids, dtype=np.int64), np.asarray(labels, dtype=np.float32)
    truth = labels > 0.5
    if min(int(truth.sum()), int((~truth).sum())) < folds:
        return None
    cheap = replace(config, random_negatives=min(config.random_negatives, CV_RANDOM_NEGATIVES))
    fold = fold_of(truth, folds, seed)
    scores = np.empty(len(ids), dtype=np.float64)
    for f in range(folds):
        held = fold == f
        model = workspace.train(ids[~held], labels[~held], cheap)
        scores[held] = workspace.score_ids(model, ids[held])
    metrics = compute_metrics(truth, scores, 0.5, bootstrap=bootstrap, seed=seed)
    low, high = metrics.ci.get("auc_pr", [metrics.auc_pr, metrics.auc_pr])
    return CrossValidated(metrics.auc_pr, low, high, folds, len(ids))
