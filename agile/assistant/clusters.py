"""Small vectorised k-means and silhouette for the few hundred rated vectors the finders group
(scikit-learn's versions cost tens of milliseconds each in setup alone, and the finders call them often)."""
from __future__ import annotations

import numpy as np

ITERATIONS = 25


def kmeans(x: np.ndarray, k: int, seed: int = 0, init: np.ndarray | None = None) -> np.ndarray:
    """Cluster labels of the rows of ``x`` (k-means++ seeding unless ``init`` centres are given)."""
    rng = np.random.default_rng(seed)
    if init is None:
        centres = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d = np.min(((x[:, None, :] - np.asarray(centres)[None]) ** 2).sum(-1), axis=1)
            centres.append(x[rng.choice(len(x), p=d / d.sum()) if d.sum() > 0 else rng.integers(len(x))])
        centres = np.asarray(centres)
    else:
        centres = np.asarray(init, dtype=x.dtype)
    sq = (x ** 2).sum(1)
    labels = np.zeros(len(x), np.int64)
    for _ in range(ITERATIONS):
        d = sq[:, None] - 2 * x @ centres.T + (centres ** 2).sum(1)[None]
        new = d.argmin(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, x)
        keep = counts > 0
        centres[keep] = sums[keep] / counts[keep, None]
    return labels


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette with cosine distance (rows are unit vectors)."""
    k = int(labels.max()) + 1
    if k < 2:
        return 0.0
    unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    dist = 1.0 - unit @ unit.T
    onehot = np.eye(k)[labels]                        # (n, k)
    sums = dist @ onehot                              # (n, k): total distance to each cluster
    counts = onehot.sum(0)
    own = counts[labels] - 1
    a = np.where(own > 0, sums[np.arange(len(x)), labels] / np.maximum(own, 1), 0.0)
    other = sums / counts[None]
    other[np.arange(len(x)), labels] = np.inf
    b = other.min(axis=1)
    s = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(s.mean())
