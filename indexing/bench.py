"""Search benchmark: the corpus's FAISS index against exact search, same queries, same run."""
from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from agile.corpus import Corpus
from agile.index import FaissIndex
from agile.search import exact_search
from indexing.build import perturbed


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timings_ms(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return {"median": round(float(np.median(times)), 2), "min": round(min(times), 2), "max": round(max(times), 2)}


def bench_queries(corpus: Corpus, n: int, seed: int = 0, query_file: str | Path | None = None) -> np.ndarray:
    """``n`` rows of ``query_file`` (.npy, e.g. a synthetic corpus's cluster centres as stand-in
    phrases), else unit vectors near random corpus vectors."""
    rng = np.random.default_rng(seed)
    if query_file:
        rows = np.load(query_file).astype(np.float32)
        return rows[np.sort(rng.choice(len(rows), min(n, len(rows)), replace=False))]
    return perturbed(corpus.vectors(np.sort(rng.integers(0, corpus.count, n))), rng)


def bench_search(corpus_path: str | Path, queries: int = 10, k: int = 100, repeats: int = 5,
                 exact_repeats: int | None = None, query_file: str | Path | None = None) -> dict[str, Any]:
    """Median time of ``queries`` searches of ``k`` through the index and exactly, and the index's recall."""
    corpus = Corpus.open(corpus_path, verify="quick")
    index = FaissIndex.open(corpus)
    q = bench_queries(corpus, queries, query_file=query_file)
    index.search(q, k)  # warm the page cache and faiss's buffers, as a serving process would be
    faiss_ms = timings_ms(lambda: index.search(q, k), repeats)
    exact_ms = timings_ms(lambda: exact_search(corpus, q, k), exact_repeats or repeats)
    _, ids = index.search(q, k)
    _, truth = exact_search(corpus, q, k)
    recall = np.mean([np.intersect1d(a, b).size / truth.shape[1] for a, b in zip(ids, truth)])
    return {"corpus": str(corpus.root), "count": corpus.count, "queries": len(q), "k": k,
            "query_file": str(query_file) if query_file else None,
            "key": index.info.key, "nprobe": index.info.nprobe, "rerank": index.info.rerank,
            "faiss_ms": faiss_ms, "exact_ms": exact_ms,
            "speedup_vs_exact": round(exact_ms["median"] / faiss_ms["median"], 1),
            "recall_at_k": round(float(recall), 4), "peak_rss_mb": round(peak_rss_mb(), 1)}


def write_bench_images(folder: Path, n: int, size: int = 256, seed: int = 0) -> Path:
    """``n`` random JPEG photos-sized images (decoding cost like real data)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        if not path.exists():
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path, quality=90)
    return folder


# Each run loads the model; at a few hundred images/s, 256 images left start-up as most of
# the time (runs of 102-359 images/s for one model), so a run embeds enough to outweigh it.
EMBED_BENCH_IMAGES = 4096


def bench_embedding(work: str | Path, model: str, checkpoint: str | None = None, images: int = EMBED_BENCH_IMAGES,
                    engines: tuple[str, ...] = ("local", "ray"), repeats: int = 3, batch_size: int = 64) -> dict[str, Any]:
    """Images/s of ``agile index images`` per engine (median of ``repeats`` fresh runs; model loading included)."""
    import shutil

    from indexing.runner import index_images

    work = Path(work)
    folder = write_bench_images(work / "images", images)
    result: dict[str, Any] = {"model": model, "checkpoint": checkpoint, "images": images, "batch_size": batch_size}
    for engine in engines:
        rates = []
        for run in range(repeats):
            out = work / f"corpus-{engine}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            index_images(folder, out, model=model, checkpoint=checkpoint, engine=engine,
                         batch_size=batch_size, shard_size=images, progress=False)
            rates.append(images / (time.perf_counter() - start))
            shutil.rmtree(out, ignore_errors=True)
        result[engine] = {"images_per_s_median": round(float(np.median(rates)), 1),
                          "runs": [round(r, 1) for r in rates]}
    if "local" in result and "ray" in result:
        result["ray_vs_local"] = round(result["ray"]["images_per_s_median"] / result["local"]["images_per_s_median"], 2)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result
