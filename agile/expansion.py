"""Expansion: the first batch of images for a new concept, from its phrases and image seeds.

Every phrase, positive and negative (negatives find the look-alikes the
owner must reject), is embedded with the corpus's model; every image seed is
its vector (`agile.seeds`). Each query's ``per_phrase`` nearest unrated
images are found through the index; ``batch_size`` images are drawn at
random (seeded) from the union.

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


def draw(union: np.ndarray, batch_size: int, seed: int) -> np.ndarray:
    """``batch_size`` ids drawn (seeded) from the sorted ``union``, sorted; all of it when smaller."""
    if len(union) <= batch_size:
        return union
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(union, size=batch_size, replace=False))


def nearest_among(corpus, queries: np.ndarray, allowed: np.ndarray, per_query: int,
                  rows: int = 65_536) -> np.ndarray:
    """The ``per_query`` nearest of each query among the sorted ``allowed`` ids, by exact search.

    Used when a candidate filter limits expansion: the index would have to be
    asked for ever more neighbours to find enough inside a small part, while
    an exact scan of the part costs its size and returns exactly the answer.
    Blocks of ``rows`` keep a running top ``per_query`` per query.
    """
    queries = np.asarray(queries, dtype=np.float32)
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    best = np.empty((len(queries), 0), dtype=np.float32)
    for start in range(0, len(allowed), rows):
        ids = allowed[start:start + rows]
        scores = queries @ corpus.read_rows(ids).astype(np.float32).T          # (q, block)
        best = np.concatenate([best, scores], axis=1)
        best_ids = np.concatenate([best_ids, np.broadcast_to(ids, scores.shape)], axis=1)
        if best.shape[1] > per_query:
            keep = np.argpartition(-best, per_query - 1, axis=1)[:, :per_query]
            best, best_ids = np.take_along_axis(best, keep, 1), np.take_along_axis(best_ids, keep, 1)
    return np.unique(best_ids)


def expand_queries(index: SearchIndex, queries: np.ndarray, exclude_ids: Iterable[int] = (),
                   per_phrase: int = 100, batch_size: int = 100, seed: int = 0) -> np.ndarray:
    """``batch_size`` unrated ids drawn (seeded) from the nearest neighbours of query vectors (phrases
    embedded, image seeds); int64, sorted."""
    if len(queries) == 0:
        raise ExpansionError("expansion needs at least one phrase or image seed")
    if per_phrase < 1 or batch_size < 1:
        raise ExpansionError("per_phrase and batch_size must be at least 1")
    exclude = np.unique(np.fromiter(exclude_ids, dtype=np.int64))
    return draw(nearest_unrated(index, queries, per_phrase, exclude), batch_size, seed)


def expand(index: SearchIndex, embedder: Embedder, positives: Sequence[str],
           negatives: Sequence[str] = (), exclude_ids: Iterable[int] = (),
           per_phrase: int = 100, batch_size: int = 100, seed: int = 0) -> np.ndarray:
    """``batch_size`` unrated ids drawn (seeded) from the phrases' nearest neighbours.

    Returns int64 ids, sorted. Fewer than ``batch_size`` when the union is smaller.
    """
    phrases = [*positives, *negatives]
    if not phrases:
        raise ExpansionError("expansion needs at least one phrase")
    return expand_queries(index, embedder.embed_texts(phrases), exclude_ids, per_phrase, batch_size, seed)
