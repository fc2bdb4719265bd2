"""Benchmarks of the labelling loop: one active-learning round at scale, and training.

The round is timed with each scoring kernel and with ``auto``'s measured
choice, on the machine it runs on (CPU flags and any oneDNN ISA cap are
reported, with the oneDNN implementation of every layer). Both return plain dicts (printed as JSON by ``agile bench``) with medians over
several runs, peak memory, and a baseline measured in the same run. The
concept is synthetic: a few clusters of a synthetic corpus are "the concept";
600 ratings mimic a few rounds of labelling (half positives; negatives half
from the clusters nearest the concept, half anywhere).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import psutil
import torch
from sklearn.metrics import average_precision_score

from agile.corpus import Corpus
from agile.expansion import expand
from agile.int8_mlp import Int8MLP, int8_available
from agile.kernel_choice import choose_kernel, isa_caps
from agile.cpu import cpu_flags, cpu_model
from agile.mlp_fit import bfloat16_speedup, resolve_precision
from agile.sampling import margin, select
from agile.scan_store import ScanStore
from agile.scoring import SCAN_ROWS, calibration_sample, exact_block_logits, score_corpus
from agile.synth import load_world
from agile.training import PAPER_RANDOM_NEGATIVES, TrainConfig, TrainedModel, train
from eval.bench.onednn_trace import trace


class PeakMemory:
    """Samples this process's resident memory in a thread; keeps the peaks (MiB)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.peak_rss = self.peak_anon = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        rss, anon = psutil.Process().memory_info().rss, _rss_anon()
        self.peak_rss = max(self.peak_rss, rss / 2**20)
        self.peak_anon = max(self.peak_anon, anon / 2**20)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def report(self) -> dict[str, float]:
        """Peak RSS, and peak anonymous RSS (memory beyond mapped files / page cache)."""
        return {"peak_rss_mib": round(self.peak_rss), "peak_anon_rss_mib": round(self.peak_anon)}


def _rss_anon() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return psutil.Process().memory_info().rss


def machine() -> dict[str, Any]:
    """The CPU and what of it matters to the int8 kernels (and any cap set on what oneDNN may use)."""
    flags = cpu_flags()
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "amx_int8": "amx_int8" in flags, "avx512_vnni": "avx512_vnni" in flags, "avx2": "avx2" in flags,
            "isa": sorted(flags & {"avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16",
                                   "amx_int8"}),
            "isa_caps": isa_caps()}


def timed(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        seconds.append(round(time.perf_counter() - start, 4))
    return seconds, result


# -- the synthetic concept ---------------------------------------------------------------
def synthetic_concept(corpus: Corpus, clusters: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(concept cluster ids, ground truth bool (count,)) for a few mid-sized clusters."""
    labels = corpus.column("cluster").to_numpy()
    sizes = np.bincount(labels)
    # mid-sized clusters: a concept of 0.1-1% of the corpus, like a typical subjective concept
    candidates = np.flatnonzero((sizes > np.quantile(sizes, 0.4)) & (sizes < np.quantile(sizes, 0.9)))
    chosen = np.random.default_rng(seed).choice(candidates, clusters, replace=False)
    return chosen, np.isin(labels, chosen)


def concept_ratings(corpus: Corpus, chosen: np.ndarray, truth: np.ndarray, n: int = 600,
                    seed: int = 0, positive_share: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rated ids and labels: ``positive_share`` positives; negatives half from the
    clusters nearest the concept (what margin sampling asks about), half anywhere."""
    rng = np.random.default_rng([seed, 1])
    _, centers = load_world(corpus.root)
    labels = corpus.column("cluster").to_numpy()
    similarity = (centers @ centers[chosen].T).max(axis=1)
    similarity[chosen] = -np.inf
    near = np.argsort(-similarity)[:10]
    n_pos = min(int(n * positive_share), int(truth.sum()))
    pos = rng.choice(np.flatnonzero(truth), n_pos, replace=False)
    near_neg = rng.choice(np.flatnonzero(np.isin(labels, near)), (n - n_pos) // 2, replace=False)
    far = np.setdiff1d(rng.choice(corpus.count, 4 * n, replace=False), np.concatenate([pos, near_neg]))
    far = far[~truth[far]][: n - n_pos - len(near_neg)]
    ids = np.concatenate([pos, near_neg, far])
    return ids, truth[ids].astype(np.float32)


def auc_pr(corpus: Corpus, model: TrainedModel, truth: np.ndarray, rated: np.ndarray,
           eval_rows: int = 1_000_000) -> float:
    """AUC-PR (average precision) over unrated vectors (the first ``eval_rows`` ids)."""
    scores = score_corpus(corpus, model) if corpus.count <= eval_rows else \
        model.score_vectors(corpus.vectors(np.arange(eval_rows)))
    keep = np.ones(len(scores), dtype=bool)
    keep[rated[rated < len(scores)]] = False
    return float(average_precision_score(truth[:len(scores)][keep], scores[keep]))


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


# -- one active-learning round ------------------------------------------------------------
def layer_kernels(corpus: Corpus, store: ScanStore, model: TrainedModel, rows: int = SCAN_ROWS) -> dict[str, Any]:
    """The oneDNN implementation and time of each layer on one block, for both kernels."""
    quantized = Int8MLP.from_model(model, store.scales, calibration_sample(store), rows)
    int8_block = torch.from_numpy(np.array(next(store.iter_chunks(rows))[1]))
    half_block = np.array(next(corpus.iter_chunks(rows))[1])
    with torch.inference_mode():
        quantized.logits(int8_block)  # oneDNN builds its kernels on the first call; trace the second
        exact_block_logits(model, half_block)
        int8_runs = trace(lambda: quantized.logits(int8_block))
        exact_runs = trace(lambda: exact_block_logits(model, half_block))
    return {"rows_per_block": len(int8_block),
            "int8": [r.to_dict() for r in int8_runs],
            "exact": [r.to_dict() for r in exact_runs] or "no oneDNN primitive (float32 products in aten/MKL)"}


def bench_al(corpus: Corpus, scan_dir: str | Path | None = None, runs: int = 3, k: int = 100,
             baseline_rows: int = 1_000_000, exact_check: bool = True, seed: int = 0,
             exact_runs: int | None = None, engine: str = "local", actors: int | None = None,
             strategies: Sequence[str] = (), learner: str = "mlp", classes: int = 1) -> dict[str, Any]:
    """Time margin sampling over the whole corpus (score all, pick ``k``) with each kernel and with
    ``auto``'s measured choice, against baselines; name the oneDNN kernel of every layer.

    Order: auto and int8 alternating run by run, then exact (``exact_runs`` of
    it, default ``runs``). The exact pass reads the float16 vectors, twice the
    bytes of the scan store, and on a machine whose page cache cannot hold
    both it evicts the store; so it runs last, and the store is read back into
    the cache (untimed) before the auto and int8 rounds, as the server does at start.

    ``engine="ray"`` also times the same round on a pool of ``actors`` Ray
    scan actors against the local round, interleaved run by run (`_ray_rounds`);
    ``strategies`` times other query strategies against margin the same way;
    ``learner`` is the model's (agile.training.LEARNERS), timed against the paper's MLP the same way;
    ``classes`` > 1 also trains a multi-category task of that many categories and "none of these"
    (`task_ratings`) and times its margin and entropy rounds against the binary model's the same way."""
    chosen, truth = synthetic_concept(corpus, seed=seed)
    ids, labels = concept_ratings(corpus, chosen, truth, seed=seed)
    train_s, model = timed(lambda: train(corpus, ids, labels, TrainConfig.for_round(3, learner=learner)), 1)
    out: dict[str, Any] = {"corpus": str(corpus.root), "count": corpus.count, "dim": corpus.dim, "k": k,
                           "model_shape": [corpus.dim, *(lin.out_features for lin in model.linear_layers())],
                           "machine": machine(), "int8_kernel": int8_available(), "train_seconds": train_s[0]}
    build_s, store = timed(lambda: ScanStore.open_or_build(corpus, scan_dir), 1)
    warm_s, _ = timed(lambda: store.warm(wait=True), 1)
    out["scan_store"] = {"path": str(store.root), "gib": round(store.nbytes / 2**30, 2),
                         "open_or_build_and_calibrate_seconds": build_s[0], "first_read_seconds": warm_s[0]}
    choice = choose_kernel(corpus, store, model, SCAN_ROWS)
    out["auto_choice"] = choice.to_dict()
    out["layers"] = layer_kernels(corpus, store, model)

    picked: dict[str, np.ndarray] = {}
    rounds: dict[str, Any] = {}
    kernels = ("int8", "exact") if exact_check else ("int8",)

    def round_(kernel: str) -> np.ndarray:
        return select(corpus, model, k=k, strategy="margin", exclude_ids=ids, kernel=kernel, scan_dir=scan_dir)
    # auto and int8 alternate run by run on the warm store, so a burst of load or a slow first run hits both
    # alike; the exact pass, which evicts the store from a page cache too small for both, comes last
    store.warm(wait=True)
    seconds: dict[str, list[float]] = {"auto": [], "int8": []}
    with PeakMemory() as memory:
        for _ in range(runs):
            for kernel in seconds:
                taken, picked[kernel] = timed(lambda: round_(kernel), 1)
                seconds[kernel] += taken
    for kernel, taken in seconds.items():
        rounds[kernel] = {"seconds": taken, "median_seconds": _median(taken), **memory.report()}
    if exact_check:
        with PeakMemory() as memory:
            taken, picked["exact"] = timed(lambda: round_("exact"), exact_runs or runs)
        rounds["exact"] = {"seconds": taken, "median_seconds": _median(taken), **memory.report()}
    rounds["auto"]["chose"] = choice.kernel
    fastest = min(rounds[kk]["median_seconds"] for kk in kernels)
    rounds["auto"]["vs_fastest_kernel"] = round(rounds["auto"]["median_seconds"] / max(fastest, 1e-9), 3)
    out["round_by_kernel"] = rounds
    # the figures earlier reports carried: the int8 round and its agreement with the exact pass
    out["margin_round"] = {"kernel": f"int8 scan + exact re-rank of {10 * k} candidates",
                           "workers": os.cpu_count(), **rounds["int8"]}
    if exact_check:
        store.warm(wait=True)
        raw = select(corpus, model, k=k, exclude_ids=ids, kernel="int8", scan_dir=scan_dir, depth=k)
        exact = picked["exact"]
        out["exact_float32_stream"] = {"seconds": rounds["exact"]["seconds"][0],
                                       "overlap_top_k": len(np.intersect1d(picked["int8"], exact)) / k,
                                       "overlap_top_k_without_rerank": len(np.intersect1d(raw, exact)) / k}
    if engine == "ray":
        out["ray"] = _ray_rounds(corpus, model, store, ids, k, runs, scan_dir, actors)
    if strategies:  # against margin
        out["strategies"] = _alternated_rounds(corpus, store, ids, k, runs, scan_dir, {
            s: (model, s) for s in ["margin", *[s for s in strategies if s != "margin"]]})
    if learner != "mlp":  # against the paper's MLP trained on the same ratings
        paper = train(corpus, ids, labels, TrainConfig.for_round(3, learner="mlp"))
        out["learners"] = _alternated_rounds(corpus, store, ids, k, runs, scan_dir,
                                             {"mlp": (paper, "margin"), learner: (model, "margin")})
    if classes > 1:
        out["task"] = _task_rounds(corpus, store, model, classes, k, runs, scan_dir, seed)
    out["expansion_10_phrases"] = _expansion(corpus, ids, runs)
    out["naive_baseline"] = _naive_baseline(corpus, model, ids, k, min(baseline_rows, corpus.count), runs)
    out["speedup_vs_naive"] = round(out["naive_baseline"]["scaled_seconds"]
                                    / max(out["margin_round"]["median_seconds"], 1e-9), 2)
    return out


def _ray_rounds(corpus: Corpus, model: TrainedModel, store: ScanStore, rated: np.ndarray, k: int, runs: int,
                scan_dir: str | Path | None, actors: int | None) -> dict[str, Any]:
    """The loop's round (``auto`` kernel) locally and on Ray scan actors, alternating run by run so load
    hits both alike: seconds, the ratio of medians, whether the batches agree, and what the actors did."""
    from agile.ray_scan import RayScan, RayScanSettings

    start = time.perf_counter()
    pool = RayScan(corpus, scan_dir, RayScanSettings(actors=actors))
    try:
        pool.ready()
        started_s = round(time.perf_counter() - start, 2)
        store.warm(wait=True)

        def round_on(engine) -> np.ndarray:
            return select(corpus, model, k=k, strategy="margin", exclude_ids=rated, kernel="auto",
                          scan_dir=scan_dir, engine=engine)
        first_s, _ = timed(lambda: round_on(pool), 1)  # each actor's first call builds oneDNN's kernels
        local_s, ray_s, same = [], [], True
        for _ in range(runs):
            seconds, want = timed(lambda: round_on(None), 1)
            local_s += seconds
            seconds, got = timed(lambda: round_on(pool), 1)
            ray_s += seconds
            same &= bool(np.array_equal(want, got))
        stats = pool.last_round
        cores = pool.cpus_per_actor
        per_actor = [{"actor": a.actor, "vectors": a.vectors, "scan_seconds": a.seconds,
                      "vectors_per_second_per_core": round(a.vectors / a.seconds / cores),
                      "candidates_back": a.candidates, "memory_mib": a.memory_mib} for a in stats.actors]
        return {"actors": pool.actors, "cpus_per_actor": cores, "threads_per_actor": pool.workers,
                "shards_per_actor": [len(s) for s in pool.shares], "start_seconds": started_s,
                "first_round_seconds": first_s[0], "local_seconds": local_s, "ray_seconds": ray_s,
                "local_median_seconds": _median(local_s), "ray_median_seconds": _median(ray_s),
                "ray_over_local": round(statistics.median(ray_s) / max(statistics.median(local_s), 1e-9), 3),
                "same_batches": same,
                "local_vectors_per_second_per_core": round(corpus.count / statistics.median(local_s)
                                                           / (os.cpu_count() or 1)),
                "last_round": {"driver_seconds": stats.seconds, "bytes_out": stats.bytes_out,
                               "bytes_back": stats.bytes_back, "finalist_bytes_back": stats.finalist_bytes_back,
                               "actors": per_actor}}
    finally:
        pool.close()


def task_ratings(corpus: Corpus, categories: int, n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` ratings of a task whose categories are mid-sized clusters: half the images of the categories
    (equal shares), half "none of these" (class ``categories``), drawn as `concept_ratings` draws negatives."""
    chosen, _ = synthetic_concept(corpus, clusters=categories, seed=seed)
    labels = corpus.column("cluster").to_numpy()
    rng = np.random.default_rng([seed, 2])
    per_class = n // (2 * categories)
    ids = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in chosen]
    none = np.setdiff1d(rng.choice(corpus.count, 4 * n, replace=False), np.concatenate(ids))
    none = none[~np.isin(labels[none], chosen)][: n - per_class * categories]
    classes = np.concatenate([np.full(per_class, i) for i in range(categories)] + [np.full(len(none), categories)])
    return np.concatenate([*ids, none]), classes.astype(np.float32)


def _task_rounds(corpus: Corpus, store: ScanStore, binary: TrainedModel, categories: int, k: int, runs: int,
                 scan_dir: str | Path | None, seed: int) -> dict[str, Any]:
    """A task of ``categories`` categories and none of these, trained on `task_ratings`: its training time,
    and its margin and entropy rounds against the binary model's margin round, alternated run by run."""
    ids, labels = task_ratings(corpus, categories, seed=seed)
    config = TrainConfig.for_round(3, classes=categories + 1, none_class=categories)
    train_s, task = timed(lambda: train(corpus, ids, labels, config), 1)
    rounds = _alternated_rounds(corpus, store, ids, k, runs, scan_dir, {
        "binary margin": (binary, "margin"), "task margin": (task, "margin"), "task entropy": (task, "entropy")})
    return {"classes": categories + 1, "model_shape": [corpus.dim, *config.hidden, categories + 1],
            "train_seconds": train_s[0], "rounds": rounds}


def _alternated_rounds(corpus: Corpus, store: ScanStore, rated: np.ndarray, k: int, runs: int,
                       scan_dir: str | Path | None, variants: dict[str, tuple[TrainedModel, str]]) -> dict[str, Any]:
    """Rounds (``auto`` kernel) of each (model, strategy) variant, the first the baseline: one warm-up each,
    then alternating run by run so load hits all alike; seconds, medians and each median over the first's."""
    store.warm(wait=True)

    def round_(name: str) -> np.ndarray:
        model, strategy = variants[name]
        return select(corpus, model, k=k, strategy=strategy, exclude_ids=rated, kernel="auto", scan_dir=scan_dir)
    for name in variants:
        round_(name)
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name in variants:
            seconds[name] += timed(lambda: round_(name), 1)[0]
    return _against_first(seconds)


def _against_first(seconds: dict[str, list[float]]) -> dict[str, Any]:
    """Seconds and medians of each variant, and each median over the first variant's."""
    base = statistics.median(next(iter(seconds.values())))
    return {name: {"seconds": s, "median_seconds": _median(s),
                   "over_baseline": round(statistics.median(s) / max(base, 1e-9), 3)} for name, s in seconds.items()}


def _expansion(corpus: Corpus, rated: np.ndarray, runs: int) -> dict[str, Any]:
    """Expansion of 10 phrases through the corpus's FAISS index (skipped without one)."""
    from agile.embedder import embedder_for_corpus
    from agile.index import open_index

    index = open_index(corpus)
    if getattr(index, "kind", "") == "exact":
        return {"skipped": "the corpus has no FAISS index (agile index build); exact search is not timed"}
    embedder = embedder_for_corpus(corpus)
    clusters = np.random.default_rng(1).choice(len(embedder.centers), 10, replace=False)
    phrases = [f"cluster {c}" for c in clusters]
    seconds, batch = timed(lambda: expand(index, embedder, phrases[:7], phrases[7:], exclude_ids=rated), runs)
    return {"index": type(index).__name__, "seconds": seconds, "median_seconds": _median(seconds),
            "batch": len(batch)}


def _naive_baseline(corpus: Corpus, model: TrainedModel, rated: np.ndarray, k: int, rows: int,
                    runs: int) -> dict[str, Any]:
    """float32 vectors in RAM, the model's nn.Sequential in one pass, margin top-k; scaled to the corpus."""
    x = torch.from_numpy(corpus.vectors(np.arange(rows)).astype(np.float32))

    def one_pass() -> np.ndarray:
        with torch.inference_mode():
            p = torch.sigmoid(model.module(x)[:, 0]).numpy()
        p[rated[rated < rows]] = np.nan
        return margin(np.nan_to_num(p, nan=2.0), k)
    seconds, _ = timed(one_pass, runs)
    return {"rows": rows, "seconds": seconds, "median_seconds": _median(seconds),
            "scaled_seconds": round(statistics.median(seconds) * corpus.count / rows, 4),
            "float32_gib_at_full_size": round(corpus.count * corpus.dim * 4 / 2**30, 1)}


# -- training -------------------------------------------------------------------------------
def bench_train(corpus: Corpus, runs: int = 3, ratings: int = 600, random_negatives: int | None = None,
                paper_runs: int = 1, seed: int = 0) -> dict[str, Any]:
    """Train the 3 x 128 model on ``ratings`` ratings: the default fast loop, the autograd
    reference with the same settings and the paper's 500k random negatives; time and AUC-PR; then the
    ensemble with the logistic regression (agile.ensemble) against the fast loop, alternated, and the
    adaptive recipe's choice."""
    chosen, truth = synthetic_concept(corpus, seed=seed)
    ids, labels = concept_ratings(corpus, chosen, truth, ratings, seed=seed)
    fast = TrainConfig.for_round(3, **({"random_negatives": random_negatives} if random_negatives else {}))
    variants = {
        "fast": (fast, runs),
        "reference_autograd_float32": (replace(fast, engine="autograd", precision="float32"), runs),
        "paper_500k_negatives": (replace(fast, random_negatives=PAPER_RANDOM_NEGATIVES, precision="float32"),
                                 paper_runs),
    }
    out: dict[str, Any] = {"corpus": str(corpus.root), "count": corpus.count, "ratings": len(ids),
                           "positives": int(labels.sum()), "concept_prevalence": round(float(truth.mean()), 5),
                           "machine": machine(), "bfloat16_speedup_measured": round(bfloat16_speedup(), 2)}
    for name, (config, n_runs) in variants.items():
        if n_runs < 1:
            continue
        seconds, scores = [], []
        with PeakMemory() as memory:
            for run in range(n_runs):
                start = time.perf_counter()
                model = train(corpus, ids, labels, replace(config, seed=run))
                seconds.append(round(time.perf_counter() - start, 4))
                scores.append(round(auc_pr(corpus, model, truth, ids), 4))
        out[name] = {"config": config.to_dict(), "precision": str(resolve_precision(config.precision)),
                     "steps": model.stats.steps, "seconds": seconds, "median_seconds": _median(seconds),
                     "auc_pr": scores, "median_auc_pr": statistics.median(scores), **memory.report()}
    out["speedup_vs_reference"] = round(out["reference_autograd_float32"]["median_seconds"]
                                        / out["fast"]["median_seconds"], 2) if runs else None
    out["ensemble_against_fast"] = _alternated_training(
        corpus, ids, labels, {"fast": fast, "ensemble": replace(fast, learner="ensemble")}, runs)
    out["adaptive_recipe"] = _adaptive_choice(corpus, ids, labels, truth, runs, random_negatives)
    return out


def _alternated_training(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, configs: dict[str, TrainConfig],
                         runs: int) -> dict[str, Any]:
    """Each config trained ``runs`` times, alternating run by run after one untimed warm-up of each (the first
    training reads the random negatives' rows into the page cache); medians and each over the first's."""
    for config in configs.values():
        train(corpus, ids, labels, config)
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for run in range(runs):
        for name, config in configs.items():
            seconds[name] += timed(lambda: train(corpus, ids, labels, replace(config, seed=run)), 1)[0]
    return _against_first(seconds)


def _adaptive_choice(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, truth: np.ndarray, runs: int,
                     random_negatives: int | None) -> dict[str, Any]:
    """The adaptive recipe's cross-validated choice among its candidates (agile.recipes) on the same ratings:
    its time on top of training, the candidates' estimates, and the chosen model's AUC-PR."""
    from agile.recipes import choose_recipe
    from agile.workspace import Workspace

    overrides = {"random_negatives": random_negatives} if random_negatives else {}
    with tempfile.TemporaryDirectory() as work:
        workspace = Workspace(corpus, work)
        seconds, choice = timed(lambda: choose_recipe(workspace, ids, labels, 3, 0, overrides), runs)
    model = train(corpus, ids, labels, choice.config)
    return {"choice_seconds": seconds, "median_choice_seconds": _median(seconds), "chosen": choice.name,
            "cv_auc_pr": choice.cv_auc_pr, "auc_pr": round(auc_pr(corpus, model, truth, ids), 4)}
