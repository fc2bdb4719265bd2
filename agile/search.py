"""Exact inner-product search over a corpus, streaming its memory-mapped vectors.

The reference every approximate index is measured against, and the search
used when a corpus has no index yet (small corpora, tests).
"""
from __future__ import annotations

import numpy as np

from agile.corpus import Corpus
from agile.scratch import float32_rows
from agile.topk import RunningTopK

SEARCH_ROWS = 262_144


def normalise_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    if q.shape[1] != dim:
        raise ValueError(f"queries have dimension {q.shape[1]}, the corpus {dim}")
    return q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)


def exact_search(corpus: Corpus, queries: np.ndarray, k: int,
                 rows: int = SEARCH_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` corpus vectors with the largest cosine to each query.

    Returns (scores, ids), each (queries, k), best first.
    """
    q = normalise_queries(queries, corpus.dim)
    top = RunningTopK(min(k, corpus.count), len(q))
    for first, block in corpus.iter_chunks(rows):
        scores = q @ float32_rows(block).numpy().T
        top.push(scores, np.arange(first, first + len(block)))
    return top.result()


class ExactIndex:
    """The search interface of an index, answered by exact search."""

    kind = "exact"

    def __init__(self, corpus: Corpus):
        self.corpus = corpus

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return exact_search(self.corpus, queries, k)
