"""Suspected mislabels, confident-learning style: a rating both out-of-fold predictions and most nearest
rated neighbours disagree with.

The probe is scikit-learn's logistic regression on the frozen embeddings,
refit on k folds (k MLP refits would take seconds; the probe takes tens of
milliseconds on a thousand ratings and ranks the same suspects).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from agile.assistant.findings import Action, Evidence, Finding, Group, pct
from agile.assistant.state import AssistantState

FOLDS = 5
NEIGHBOURS = 10
PROBE_C = 10.0      # unit vectors carry small features; a weak penalty lets the probe fit them
MAX_FINDINGS = 20


def out_of_fold_scores(vectors: np.ndarray, truth: np.ndarray, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """P(positive) of each rated image from a probe that never saw its rating."""
    out = np.empty(len(truth), np.float64)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit, held in split.split(vectors, truth):
        probe = LogisticRegression(C=PROBE_C, max_iter=300).fit(vectors[fit], truth[fit])
        out[held] = probe.predict_proba(vectors[held])[:, 1]
    return out


def neighbour_disagreement(vectors: np.ndarray, truth: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """(share of each image's k nearest rated neighbours rated the other way, their positions (n, k))."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    k = min(k, len(truth) - 1)
    near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(sims, near, axis=1).argsort(axis=1)[:, ::-1]
    near = np.take_along_axis(near, order, axis=1)
    return (truth[near] != truth[:, None]).mean(axis=1), near


def suspicion(vectors: np.ndarray, truth: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(suspect mask, score, out-of-fold P(rated label), neighbour positions) for every rated image."""
    p = out_of_fold_scores(vectors, truth, seed=seed)
    p_given = np.where(truth, p, 1 - p)
    disagree, near = neighbour_disagreement(vectors, truth)
    suspect = (p_given < 0.5) & (disagree > 0.5)
    return suspect, (1 - p_given) * disagree, p_given, near


def find_mislabels(state: AssistantState) -> list[Finding]:
    truth = state.truth
    counts = np.bincount(truth.astype(int), minlength=2)
    if counts.min() < FOLDS or len(truth) < 2 * NEIGHBOURS:
        return []
    suspect, score, p_given, near = suspicion(state.vectors, truth, seed=0)
    out = []
    for i in np.flatnonzero(suspect)[np.argsort(-score[suspect])][:MAX_FINDINGS].tolist():
        image = int(state.labels.ids[i])
        rated = "positive" if truth[i] else "negative"
        other = "negative" if truth[i] else "positive"
        against = [int(state.labels.ids[j]) for j in near[i] if truth[j] != truth[i]]
        share = float(len(against) / len(near[i]))
        out.append(Finding(
            kind="mislabel", key=f"mislabel:{image}", severity="warn",
            title=f"Image {image} may be mislabelled",
            message=(f"Image {image} is rated {rated}, but a probe trained without it gives that rating "
                     f"{pct(p_given[i])} and {len(against)} of its {len(near[i])} nearest rated images are "
                     f"rated {other}."),
            evidence=Evidence(image_ids=(image, *against), figures={"p_rated_label": float(p_given[i]),
                                                                    "neighbours_disagree": share},
                              groups=(Group("the image", (image,), float(truth[i])),
                                      Group(f"nearest rated {other}", tuple(against), float(not truth[i])))),
            actions=(Action(f"flip to {other}", "PUT", f"ratings/{image}", {"positive": not bool(truth[i])}),
                     Action("keep", "POST", f"tips/mislabel:{image}/dismiss")),
            usefulness=float(score[i])))
    return out
