"""Approximate nearest-neighbour search over a corpus with a FAISS IVF-PQ index.

The index (``<corpus>/index/index.faiss``) only proposes candidates: its
compressed codes rank them roughly. Each query's candidates are then scored
exactly against the corpus's float16 vectors, so the returned scores are true
cosines, comparable with ``agile.search.exact_search``. ``index/index.json``
says how the index was built and how well it recalls exact search.
"""
from __future__ import annotations

import contextlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agile.corpus import Corpus
from agile.errors import AgileError, CorpusError
from agile.search import ExactIndex, normalise_queries

INDEX_DIR = "index"
INDEX_FILE = "index.faiss"
SIDECAR_FILE = "index.json"
SMALL_BATCH = 16  # query batches up to this size search on one thread


class IndexFormatError(CorpusError):
    """An index directory is missing, malformed or does not match its corpus."""


class SearchError(AgileError):
    """A search request cannot be answered (bad queries or k)."""


class CurvePoint(BaseModel):
    """Recall and latency of one search setting, measured at build time."""

    nprobe: int
    rerank: int = Field(description="candidates per query re-scored with the exact float16 vectors")
    recall_at_100: float
    ms_per_10_queries: float


class IndexInfo(BaseModel):
    """``index/index.json``: what the index is, what built it and how well it recalls."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="faiss index_factory key")
    metric: str = "inner_product"
    count: int
    dim: int
    nprobe: int
    rerank: int
    recall_at_100: float = Field(description="mean recall@100 against exact search at nprobe/rerank")
    recall_queries: int
    recall_target: float
    curve: list[CurvePoint] = Field(default_factory=list)
    train_rows: int
    build_seconds: float
    phase_seconds: dict[str, float] = Field(default_factory=dict)
    bytes_per_vector: float = Field(description="index file bytes / count (the float16 vectors are extra)")
    index_bytes: int
    faiss_version: str
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())

    def summary(self) -> dict[str, Any]:
        """The short form kept in corpus.json's ``index`` field."""
        return self.model_dump(mode="json", exclude={"curve", "phase_seconds"})


def index_dir(corpus_root: str | Path) -> Path:
    return Path(corpus_root) / INDEX_DIR


def read_index_info(corpus_root: str | Path) -> IndexInfo:
    path = index_dir(corpus_root) / SIDECAR_FILE
    if not path.is_file():
        raise IndexFormatError(path, "missing: the corpus has no index (run `agile index build`)")
    try:
        return IndexInfo.model_validate_json(path.read_text())
    except ValidationError as e:
        raise IndexFormatError(path, f"invalid index sidecar: {e.errors()[0]['msg']} "
                                     f"at {'.'.join(map(str, e.errors()[0]['loc']))}") from e


def rerank_exact(corpus: Corpus, queries: np.ndarray, candidates: np.ndarray, k: int,
                 gather: Callable[[np.ndarray], np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Score each query's candidate ids exactly; keep the ``k`` best, best first.

    ``candidates`` is (q, depth) with -1 for missing entries. Vectors shared by
    several queries' candidate lists are read once, by ``gather`` (sorted ids ->
    float16 rows; default ``corpus.vectors``).
    """
    valid = candidates >= 0
    unique, inverse = np.unique(candidates[valid], return_inverse=True)
    vectors = (gather or corpus.vectors)(unique)
    found = np.empty(len(inverse), dtype=np.float32)
    bounds = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
    for row, query in enumerate(queries):  # one product per query, over its own candidates only
        block = inverse[bounds[row]: bounds[row + 1]]
        found[bounds[row]: bounds[row + 1]] = vectors[block].astype(np.float32) @ query
    scores = np.full(candidates.shape, -np.inf, dtype=np.float32)
    scores[valid] = found
    k = min(k, candidates.shape[1])
    # Order by score, then by smaller id, like exact search (ties are common in float16).
    order = np.lexsort((np.where(valid, candidates, np.iinfo(np.int64).max), -scores), axis=1)[:, :k]
    top_scores = np.take_along_axis(scores, order, axis=1)
    top_ids = np.take_along_axis(candidates, order, axis=1)
    top_ids[~np.isfinite(top_scores)] = -1
    return top_scores, top_ids


@contextlib.contextmanager
def _omp_threads(n: int | None) -> Iterator[None]:
    """Run faiss with ``n`` OpenMP threads in this thread only (OpenMP keeps the setting per thread).

    A handful of queries takes ~1 ms on one thread; spreading them over busy
    cores was measured 10x slower on a loaded 2-core machine.
    """
    import faiss

    if n is None:
        yield
        return
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


class FaissIndex:
    """Search through ``<corpus>/index/``: IVF-PQ candidates, exact float16 re-ranking.

    ``gather`` reads the candidates' vectors (sorted ids -> float16 rows):
    by default the corpus's memory maps, fastest once their pages are mapped;
    ``corpus.read_rows`` keeps the pages out of this process's RSS.
    """

    kind = "faiss"

    def __init__(self, corpus: Corpus, index: Any, info: IndexInfo,
                 gather: Callable[[np.ndarray], np.ndarray] | None = None):
        self.corpus, self.index, self.info = corpus, index, info
        self.gather = gather or corpus.vectors

    @classmethod
    def open(cls, corpus: Corpus) -> "FaissIndex":
        import faiss

        info = read_index_info(corpus.root)
        path = index_dir(corpus.root) / INDEX_FILE
        if not path.is_file():
            raise IndexFormatError(path, "index file is missing (run `agile index build` again)")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as e:
            raise IndexFormatError(path, f"unreadable FAISS index: {str(e).splitlines()[0]}") from e
        if index.ntotal != corpus.count or index.d != corpus.dim:
            raise IndexFormatError(path, f"index holds {index.ntotal} x {index.d} vectors but the corpus "
                                         f"{corpus.count} x {corpus.dim}; rebuild it with `agile index build`")
        return cls(corpus, index, info)

    def candidates(self, queries: np.ndarray, depth: int, nprobe: int) -> np.ndarray:
        """(q, depth) candidate ids from the compressed codes (-1 where a list ran out)."""
        import faiss

        params = faiss.SearchParametersIVF(nprobe=nprobe)
        with _omp_threads(1 if len(queries) <= SMALL_BATCH else None):
            _, ids = self.index.search(queries, min(depth, self.corpus.count), params=params)
        return ids

    def search(self, queries: np.ndarray, k: int, nprobe: int | None = None,
               rerank: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest corpus vectors per query: (scores (q,k) true cosines, ids (q,k)), best first."""
        if k < 1:
            raise SearchError(f"k must be at least 1, got {k}")
        try:
            q = normalise_queries(queries, self.corpus.dim)
        except ValueError as e:
            raise SearchError(str(e)) from e
        depth = max(k, rerank or self.info.rerank)
        found = self.candidates(q, depth, nprobe or self.info.nprobe)
        return rerank_exact(self.corpus, q, found, min(k, self.corpus.count), gather=self.gather)


def open_index(corpus: Corpus) -> FaissIndex | ExactIndex:
    """The corpus's FAISS index when it has one, else exact search."""
    if (index_dir(corpus.root) / SIDECAR_FILE).is_file():
        return FaissIndex.open(corpus)
    return ExactIndex(corpus)
