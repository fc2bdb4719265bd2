"""Build ``<corpus>/index/``: a FAISS IVF-PQ index plus its measured recall/latency curve.

Steps: train on a deterministic sample; read the corpus once to assign every
vector to its inverted list (and compute the exact top-k of the held-out
queries); size every list; read it again to add every vector; then measure
recall@100 of (nprobe, re-rank depth) settings against the exact top-k and
keep the fastest setting that reaches the recall target. Vectors are read
with plain file reads, never through the memory maps, so the build's RSS is
its own memory, not the corpus's pages.
"""
from __future__ import annotations

import ctypes
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from agile.atomic import atomic_path, atomic_write_json
from agile.corpus import Corpus
from agile.corpus.manifest import write_manifest
from agile.errors import AgileError
from agile.index import INDEX_FILE, SIDECAR_FILE, CurvePoint, FaissIndex, IndexInfo, index_dir, rerank_exact
from agile.topk import RunningTopK

ADD_ROWS = 65_536
RECALL_K = 100

log = logging.getLogger(__name__)


class IndexBuildError(AgileError):
    """An index cannot be built with the settings given."""


@dataclass(frozen=True)
class BuildConfig:
    key: str | None = None            # None: chosen from the corpus size (default_key)
    nprobe: int | None = None         # None: chosen from the measured curve
    rerank: int | None = None         # None: chosen from the measured curve
    recall_target: float = 0.95
    train_rows: int | None = None     # None: 32 per list, at least 10,000, at most 131,072
    queries: int = 100
    seed: int = 0
    nprobe_grid: tuple[int, ...] = (4, 8, 16, 32, 64, 128)
    rerank_grid: tuple[int, ...] = (100, 200, 400, 800, 1600, 3200, 6400)


def default_key(count: int, dim: int) -> str:
    """About sqrt(count) inverted lists (a power of two below it) and 4-bit fast-scan PQ, 2 dims per code.

    4-bit codes scan fast and train in seconds; the exact re-ranking
    recovers what their coarse scores lose. At 10M x 512 (clustered
    synthetic vectors) 4 dims per code reached only recall@100 0.91 at a
    re-rank depth of 3200; 2 dims per code reached 0.955 at depth 800.
    """
    nlist = int(2 ** np.floor(np.log2(max(1.0, np.sqrt(count)))))
    m = max(2, dim // 2)
    while m > 2 and (dim % m or m % 2):
        m -= 1
    return f"IVF{nlist},PQ{m}x4fs"


def _empty_index(key: str, dim: int):
    """An untrained IVF index for ``key`` and whether to convert it to fast-scan after adding.

    Fast-scan IVF-PQ is filled as a plain 4-bit IVF-PQ (whose ``add_core``
    takes precomputed list numbers) and converted at the end.
    """
    import faiss

    fast_scan = key.endswith("fs")
    build_key = key[:-2] if fast_scan else key
    try:
        index = faiss.index_factory(dim, build_key, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise IndexBuildError(f"invalid index key {key!r}: {str(e).strip().splitlines()[-1]}") from e
    if not isinstance(index, faiss.IndexIVF) or (fast_scan and not isinstance(index, faiss.IndexIVFPQ)):
        raise IndexBuildError(f"index key {key!r} is not an IVF index "
                              "(expected IVF<lists>,PQ<m>, IVF<lists>,PQ<m>x4fs, IVF<lists>,Flat ...)")
    if isinstance(index, faiss.IndexIVFPQ):
        index.do_polysemous_training = False  # codes are only a candidate filter; exact re-ranking follows
    return index, fast_scan


def perturbed(vectors: np.ndarray, rng: np.random.Generator, noise: float = 0.3) -> np.ndarray:
    """Unit vectors near ``vectors`` but not equal to them: queries that are not corpus members."""
    x = vectors.astype(np.float32)
    x += noise * rng.standard_normal(x.shape, dtype=np.float32) / np.sqrt(x.shape[1])
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _sample(rng: np.random.Generator, count: int, size: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``size`` distinct sorted ids of 0..count-1, none in ``exclude`` (drawn without building 0..count-1)."""
    excluded = np.zeros(0, dtype=np.int64) if exclude is None else exclude
    size = min(size, count - len(excluded))
    picked = np.zeros(0, dtype=np.int64)
    while len(picked) < size:
        draw = rng.integers(0, count, 2 * (size - len(picked)) + 16)
        picked = np.union1d(picked, np.setdiff1d(draw, excluded))
    return np.sort(rng.permutation(picked)[:size])


class _Assigner:
    """Nearest coarse centroid per vector.

    On CPUs with native bfloat16 matrix units (AVX-512 BF16 / AMX) a bfloat16
    product is ~3x faster than float32 BLAS here; a near-tie may then pick the
    second-nearest list, which costs nothing measurable at nprobe >= 4.
    """

    def __init__(self, index):
        import torch

        self.index = index
        self.use_bf16 = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        centroids = index.quantizer.reconstruct_n(0, index.nlist)
        self.centroids = torch.from_numpy(centroids).to(torch.bfloat16).T.contiguous()

    def __call__(self, block: np.ndarray) -> np.ndarray:
        import torch

        if not self.use_bf16:
            return self.index.quantizer.assign(block, 1)[:, 0]
        return (torch.from_numpy(block).to(torch.bfloat16) @ self.centroids).argmax(1).numpy().astype(np.int64)


def read_blocks(corpus: Corpus, rows: int = ADD_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """(first id, float32 block) over every vector, by plain file reads.

    Pages read this way stay in the page cache but, unlike a memory map's,
    do not count in this process's RSS while a whole 10M corpus streams by.
    """
    for shard, _ in corpus.vector_files():
        with open(shard.vectors_path(corpus.root), "rb") as f:
            for start in range(0, shard.count, rows):
                n = min(rows, shard.count - start)
                block = np.fromfile(f, dtype=np.float16, count=n * corpus.dim)
                yield shard.first_id + start, block.reshape(n, corpus.dim).astype(np.float32)


def _blocks(corpus: Corpus, progress: bool, desc: str) -> Iterator[tuple[int, np.ndarray]]:
    with tqdm(total=corpus.count, unit="vec", unit_scale=True, disable=not progress, desc=desc) as bar:
        for first, x in read_blocks(corpus):
            yield first, x
            bar.update(len(x))


def _assign_all(index, corpus: Corpus, queries: np.ndarray, k: int,
                progress: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Every vector's inverted list, and the queries' exact top-``k`` ids, from one read of the corpus.

    Returns (list per id, exact ids, seconds spent on the exact reference).
    """
    assign = _Assigner(index)
    lists = np.empty(corpus.count, dtype=np.int32)
    top = RunningTopK(k, len(queries))
    exact_seconds = 0.0
    for first, x in _blocks(corpus, progress, "assign"):
        lists[first: first + len(x)] = assign(x)
        t = time.perf_counter()
        top.push(queries @ x.T, np.arange(first, first + len(x)))
        exact_seconds += time.perf_counter() - t
    return lists, top.result()[1], exact_seconds


def _reserve_lists(index, lists: np.ndarray) -> None:
    """Allocate every inverted list at its final size before adding.

    Lists grown while adding reallocate by doubling (std::vector): up to 2x
    slack over the 1.36 GB of codes and ids at 10M, plus freed copies the
    allocator keeps. Resizing to the final size and back to 0 keeps the capacity.
    """
    invlists = index.invlists
    for list_no, size in enumerate(np.bincount(lists, minlength=index.nlist).tolist()):
        invlists.resize(list_no, size)
        invlists.resize(list_no, 0)


def _add_all(index, corpus: Corpus, lists: np.ndarray, progress: bool) -> None:
    import faiss

    _reserve_lists(index, lists)
    for first, x in _blocks(corpus, progress, "add"):
        block_lists = lists[first: first + len(x)].astype(np.int64)
        ids = np.arange(first, first + len(x), dtype=np.int64)
        index.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(block_lists))
    if index.ntotal != corpus.count:
        raise IndexBuildError(f"index holds {index.ntotal} vectors after adding {corpus.count}")


def _to_fast_scan(index):
    """The fast-scan copy of a filled 4-bit IVF-PQ, freeing the plain codes at once.

    The copy shares the plain index's coarse quantizer and so keeps a
    reference to it: without emptying it, its codes (1.36 GB at 10M) would
    stay alive next to the packed ones until the build ends.
    """
    import faiss

    fast = faiss.IndexIVFPQFastScan(index)
    fast.orig_invlists = None  # points at the plain lists; only debugging search paths read it
    empty = faiss.ArrayInvertedLists(index.nlist, index.code_size)
    index.replace_invlists(empty, True)  # deletes the filled lists, which the index owns
    empty.this.disown()
    _return_freed_memory()
    return fast


def _return_freed_memory() -> None:
    """Ask glibc to hand freed heap memory back to the kernel.

    The plain lists lie in the middle of the heap, which glibc keeps after
    free: at 1M vectors their 130 MB stayed in RSS until malloc_trim (1.36 GB at 10M).
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to ask for


def memory_mib() -> dict[str, int]:
    """This process's RSS, its anonymous and file-backed parts and its peak, in MiB (Linux)."""
    fields = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file", "VmHWM:": "peak"}
    try:
        lines = open("/proc/self/status").read().splitlines()
    except OSError:
        return {}
    return {fields[line.split()[0]]: int(line.split()[1]) // 1024 for line in lines if line.split()[0] in fields}


def measure_curve(searcher: FaissIndex, queries: np.ndarray, truth: np.ndarray,
                  nprobes: tuple[int, ...], depths: tuple[int, ...], repeats: int = 3) -> list[CurvePoint]:
    """Recall@100 (all queries) and median latency for 10 queries at each setting."""
    k = truth.shape[1]
    timed = queries[:10]
    points = []
    for nprobe in nprobes:
        deepest = searcher.candidates(queries, max(depths), nprobe)
        for depth in depths:
            if depth < k:
                continue
            _, ids = rerank_exact(searcher.corpus, queries, deepest[:, :depth], k, gather=searcher.gather)
            recall = np.mean([np.intersect1d(a, b).size / k for a, b in zip(ids, truth)])
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                searcher.search(timed, k, nprobe=nprobe, rerank=depth)
                times.append(time.perf_counter() - start)
            points.append(CurvePoint(nprobe=nprobe, rerank=depth, recall_at_100=round(float(recall), 4),
                                     ms_per_10_queries=round(1000 * float(np.median(times)), 2)))
    return points


def choose_setting(points: list[CurvePoint], target: float) -> CurvePoint:
    """The fastest setting reaching ``target``; else the one with the best recall."""
    good = [p for p in points if p.recall_at_100 >= target]
    if good:
        return min(good, key=lambda p: (p.ms_per_10_queries, -p.recall_at_100))
    return max(points, key=lambda p: (p.recall_at_100, -p.ms_per_10_queries))


def _log_memory(step: str) -> None:
    log.info("after %s: memory MiB %s", step, memory_mib())


def _fill(index, fast_scan: bool, corpus: Corpus, queries: np.ndarray, k: int,
          progress: bool) -> tuple[object, np.ndarray, dict[str, float]]:
    """Add every vector to the trained ``index``: (filled index, exact top-``k`` of ``queries``, phase seconds)."""
    t = time.perf_counter()
    lists, truth, exact_seconds = _assign_all(index, corpus, queries, k, progress)
    _log_memory("assign")
    _add_all(index, corpus, lists, progress)
    _log_memory("add")
    if fast_scan:
        index = _to_fast_scan(index)
        _log_memory("fast-scan conversion")
    return index, truth, {"add": time.perf_counter() - t - exact_seconds, "exact_search": exact_seconds}


def build_index(corpus_path: str | Path, config: BuildConfig = BuildConfig(), progress: bool = True) -> IndexInfo:
    """Build, measure and write ``<corpus>/index/``; record its summary in corpus.json.

    With logging at INFO for this module, the memory after each step is logged.
    """
    import faiss

    started = time.perf_counter()
    phases: dict[str, float] = {}
    corpus = Corpus.open(corpus_path, verify="quick")
    if corpus.count < 2:
        raise IndexBuildError(f"{corpus.root}: a corpus of {corpus.count} vectors needs no index")
    key = config.key or default_key(corpus.count, corpus.dim)
    index, fast_scan = _empty_index(key, corpus.dim)
    _log_memory("open")

    rng = np.random.default_rng(config.seed)
    nlist = index.nlist
    # Queries are held out of training; small corpora spare at most a tenth for them.
    query_ids = _sample(rng, corpus.count, min(config.queries, max(1, corpus.count // 10)))
    train_rows = config.train_rows or int(np.clip(32 * nlist, 10_000, 131_072))
    train_ids = _sample(rng, corpus.count, train_rows, exclude=query_ids)
    t = time.perf_counter()
    index.train(corpus.read_rows(train_ids).astype(np.float32))
    phases["train"] = time.perf_counter() - t
    _log_memory("train")

    queries = perturbed(corpus.read_rows(query_ids), rng)
    k = min(RECALL_K, corpus.count)
    index, truth, fill_phases = _fill(index, fast_scan, corpus, queries, k, progress)
    phases.update(fill_phases)

    t = time.perf_counter()
    placeholder = IndexInfo(key=key, count=corpus.count, dim=corpus.dim, nprobe=1, rerank=k, recall_at_100=0,
                            recall_queries=len(queries), recall_target=config.recall_target, train_rows=len(train_ids),
                            build_seconds=0, bytes_per_vector=0, index_bytes=0, faiss_version=faiss.__version__)
    # Timed searches re-rank through positioned reads too: through the memory
    # maps, a depth-6400 search of 10 queries maps ~3 GB of corpus pages into RSS.
    searcher = FaissIndex(corpus, index, placeholder, gather=corpus.read_rows)
    nprobes = (config.nprobe,) if config.nprobe else tuple(p for p in config.nprobe_grid if p <= nlist) or (nlist,)
    depths = (config.rerank,) if config.rerank else tuple(d for d in config.rerank_grid if d <= corpus.count) or (k,)
    curve = measure_curve(searcher, queries, truth, nprobes, tuple(max(d, k) for d in depths))
    chosen = choose_setting(curve, config.recall_target)
    phases["curve"] = time.perf_counter() - t
    _log_memory("curve")

    out = index_dir(corpus.root)
    with atomic_path(out / INDEX_FILE) as tmp:
        faiss.write_index(index, str(tmp))
    size = (out / INDEX_FILE).stat().st_size
    info = placeholder.model_copy(update=dict(
        nprobe=chosen.nprobe, rerank=chosen.rerank, recall_at_100=chosen.recall_at_100, curve=curve,
        build_seconds=round(time.perf_counter() - started, 2), index_bytes=size,
        phase_seconds={name: round(s, 2) for name, s in phases.items()},
        bytes_per_vector=round(size / corpus.count, 2)))
    atomic_write_json(out / SIDECAR_FILE, info.model_dump(mode="json"))
    manifest = corpus.manifest.model_copy(update={"index": info.summary()})
    write_manifest(corpus.root, manifest)
    return info
