"""Text-to-image expansion: the first batch of images for a new concept.

Every phrase, positive and negative (negatives find the look-alikes the
owner must reject), is embedded with the corpus's model; its ``per_phrase``
nearest unrated images are found through the index; ``batch_size`` images
are drawn at random (seeded) from the union.

Already-rated images are excluded *before* cutting to ``per_phrase``: each
phrase asks the index for ``per_phrase`` plus as many extra neighbours as
there are rated images, so a phrase whose neighbourhood has been rated still
contributes fresh images.
"""
from __future__ import annotations

from typing import Iterable, Protocol, Sequence

import numpy as np

from agile.embedder import Embedder
from agile.errors import AgileError


class ExpansionError(AgileError):
    """Expansion was asked for with no phrases or impossible sizes."""


class SearchIndex(Protocol):
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...


def nearest_unrated(index: SearchIndex, queries: np.ndarray, per_phrase: int,
                    exclude: np.ndarray) -> np.ndarray:
    """The ``per_phrase`` nearest ids of each query, skipping ``exclude`` (sorted)."""
    _, ids = index.search(np.asarray(queries, dtype=np.float32), per_phrase + len(exclude))
    ids = np.asarray(ids, dtype=np.int64)
    keep = (ids >= 0) & ~np.isin(ids, exclude)
    # Keep each row's first `per_phrase` unrated neighbours, in rank order.
    keep &= np.cumsum(keep, axis=1) <= per_phrase
    return np.unique(ids[keep])


def expand(index: SearchIndex, embedder: Embedder, positives: Sequence[str],
           negatives: Sequence[str] = (), exclude_ids: Iterable[int] = (),
           per_phrase: int = 100, batch_size: int = 100, seed: int = 0) -> np.ndarray:
    """``batch_size`` unrated ids drawn (seeded) from the phrases' nearest neighbours.

    Returns int64 ids, sorted. Fewer than ``batch_size`` when the union is smaller.
    """
    phrases = [*positives, *negatives]
    if not phrases:
        raise ExpansionError("expansion needs at least one phrase")
    if per_phrase < 1 or batch_size < 1:
        raise ExpansionError("per_phrase and batch_size must be at least 1")
    exclude = np.unique(np.fromiter(exclude_ids, dtype=np.int64))
    union = nearest_unrated(index, embedder.embed_texts(phrases), per_phrase, exclude)
    if len(union) <= batch_size:
        return union
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(union, size=batch_size, replace=False))
