"""A first batch drawn for coverage: the images nearest to k-means centres of a sample of the corpus.

For a concept with nothing to search with (a corpus without a text model and no
image seeds yet), a random batch would show the corpus's big modes many times
and its small ones never. Clustering a sample into ``k`` groups and showing the
image nearest each centre lets the owner see the variety of the corpus, and
find examples to rate (and seed with) in one batch.
"""
from __future__ import annotations

import numpy as np

SAMPLE = 20_000  # images clustered; k-means on a few 10k vectors takes about a second


def coverage_ids(corpus, allowed: np.ndarray, k: int, seed: int, sample: int = SAMPLE) -> np.ndarray:
    """Up to ``k`` distinct ids among the sorted ``allowed`` ids, one nearest each k-means centre (sorted)."""
    from sklearn.cluster import MiniBatchKMeans

    allowed = np.asarray(allowed, dtype=np.int64)
    if len(allowed) <= k:
        return allowed
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(allowed, size=min(sample, len(allowed)), replace=False))
    vectors = corpus.read_rows(ids).astype(np.float32)
    kmeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=max(1024, 4 * k)).fit(vectors)
    # Each centre's nearest sample image; two centres may share one, so fill up with the next nearest.
    distances = kmeans.transform(vectors)               # (sample, k)
    chosen: list[int] = []
    taken = np.zeros(len(ids), dtype=bool)
    for centre in np.argsort(np.bincount(kmeans.labels_, minlength=k))[::-1]:  # biggest groups first
        order = np.argsort(distances[:, centre])
        row = order[np.flatnonzero(~taken[order])[0]]
        taken[row] = True
        chosen.append(int(ids[row]))
    return np.sort(np.asarray(chosen, dtype=np.int64))
