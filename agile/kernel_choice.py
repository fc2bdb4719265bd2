"""Choosing the corpus-scan kernel by timing int8 and float32 on this machine, cached per CPU and shape.

A CPU feature says little about speed: oneDNN's int8 kernels run on AMX
tiles, on AVX-512 VNNI, on AVX2 or in a reference loop, and which one a layer
gets depends on the CPU, the torch build, ``ONEDNN_MAX_CPU_ISA`` and the data
types. So the choice is measured: a few blocks of the real corpus through the
real model shape, both kernels interleaved, plus the int8 path's fixed cost
(quantising the model, re-scoring its candidates exactly). The faster
predicted pass over the whole corpus wins; int8 must also win by a margin
and agree with float32, so ``auto`` is never slower than ``exact``.

Results are kept in ``kernels.json`` beside the scan store, one entry per
CPU model, torch version, ISA caps and model shape, written atomically; a
rebuilt scan store (another corpus) starts with none.
"""
from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import torch

from agile.atomic import atomic_write_json
from agile.corpus import Corpus
from agile.cpu import FLAGS_THAT_MATTER, cpu_flags, cpu_model, torch_threads
from agile.int8_mlp import Int8MLP, int8_available
from agile.scan_store import KERNEL_CACHE, ScanStore
from agile.training import DEFAULT_LEARNER, TrainConfig, TrainedModel, build_mlp

log = logging.getLogger("agile.kernel_choice")

CACHE_NAME = KERNEL_CACHE
CACHE_FORMAT = "agile-kernel-choice"
CACHE_VERSION = 1
TIMED_BLOCKS = 3
REPEATS = 3
# int8 must be predicted this much faster: timing a few blocks on shared cores is
# noisy, and a wrong "int8" costs more than a missed small gain.
INT8_MARGIN = 1.15
MIN_LOGIT_CORRELATION = 0.99
# What a process may be told to use less of than its CPU has: oneDNN (int8, bfloat16), torch's own
# vectorised kernels, and MKL (the float32 products).
ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")

_memo: dict[tuple, "KernelChoice"] = {}
_memo_lock = threading.Lock()


@dataclass(frozen=True)
class KernelChoice:
    kernel: str                     # "int8" or "exact"
    reason: str
    shape: list[int]                # [dim, *hidden]
    rows: int                       # rows per block
    workers: int
    blocks: int                     # blocks in a whole pass over the corpus
    exact_ms_per_block: float
    int8_ms_per_block: float
    int8_fixed_ms: float            # quantising the model + exact re-rank of the candidates
    predicted_exact_s: float
    predicted_int8_s: float
    int8_logit_correlation: float
    machine: dict[str, Any]
    measured_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def isa_caps() -> dict[str, str]:
    """The caps on instruction sets this process runs under (``ISA_ENV`` variables that are set)."""
    return {k: os.environ[k] for k in ISA_ENV if k in os.environ}


def machine_key() -> dict[str, Any]:
    """What the timing depends on besides the model shape."""
    return {"cpu": cpu_model(), "flags": sorted(cpu_flags() & set(FLAGS_THAT_MATTER)),
            "torch": torch.__version__, "isa_caps": isa_caps()}


def model_shape(model: TrainedModel) -> list[int]:
    """[input, *hidden widths], and a task's class count after them (a binary concept's one output unit is
    left out, so the loop's recorded shapes keep their keys)."""
    layers = model.linear_layers()
    return [int(layers[0].in_features), *(int(lin.out_features) for lin in layers[:-1]),
            *([model.classes] if model.classes > 1 else [])]


def _cache_key(shape: list[int], rows: int, workers: int) -> str:
    return json.dumps({**machine_key(), "shape": shape, "rows": rows, "workers": workers}, sort_keys=True)


def _read_cache(store: ScanStore) -> dict[str, Any]:
    try:
        data = json.loads((store.root / CACHE_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if data.get("format") != CACHE_FORMAT or data.get("version") != CACHE_VERSION:
        return {}
    return data.get("entries", {})


def recorded_choices(store: ScanStore) -> list[KernelChoice]:
    """Every choice recorded beside this scan store."""
    return [KernelChoice(**entry) for entry in _read_cache(store).values()]


def choose_kernel(corpus: Corpus, store: ScanStore, model: TrainedModel, rows: int,
                  workers: int | None = None, depth: int = 1000) -> KernelChoice:
    """The recorded choice for this machine and model shape, measured now if there is none."""
    return _choice(corpus, store, model_shape(model), rows, workers, lambda: model, depth)


def calibrate_default_shapes(corpus: Corpus, store: ScanStore, rows: int, workers: int | None = None
                             ) -> list[KernelChoice]:
    """Choose for the loop's own model shapes (1 x 16 first, 3 x 128 later, each hidden layer two units wider
    for the default ensemble learner), so no round waits on it."""
    if not int8_available():
        return []
    choices = []
    for round_index in (0, 1):
        model = _stand_in(corpus.dim, TrainConfig.for_round(round_index, learner=DEFAULT_LEARNER))
        choices.append(_choice(corpus, store, model_shape(model), rows, workers, lambda model=model: model))
    return choices


def _stand_in(dim: int, config: TrainConfig) -> TrainedModel:
    """A model of the shape, with fixed random weights: timing does not depend on the weights."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return TrainedModel(config, build_mlp(dim, config))


def _choice(corpus: Corpus, store: ScanStore, shape: list[int], rows: int, workers: int | None,
            model: Callable[[], TrainedModel], depth: int = 1000) -> KernelChoice:
    workers = workers or os.cpu_count() or 1
    key = _cache_key(shape, rows, workers)
    memo_key = (str(store.root), corpus.count, corpus.manifest.created_at, key)  # a rebuilt store starts afresh
    with _memo_lock:
        if memo_key in _memo:
            return _memo[memo_key]
        cached = _read_cache(store).get(key)
        if cached is not None:
            choice = KernelChoice(**cached)
        else:
            choice = measure(corpus, store, model(), rows, workers, depth)
            _record(store, key, choice)
            log.info("scoring kernel %s for a %s model on %s: %s", choice.kernel,
                     "x".join(map(str, choice.shape)), corpus.root, choice.reason)
        _memo[memo_key] = choice
        return choice


def _record(store: ScanStore, key: str, choice: KernelChoice) -> None:
    try:
        with open(store.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # read-merge-write: another process may record its shape
            entries = _read_cache(store)
            entries[key] = choice.to_dict()
            atomic_write_json(store.root / CACHE_NAME,
                              {"format": CACHE_FORMAT, "version": CACHE_VERSION, "entries": entries})
    except OSError as e:  # a read-only store still gets the choice, just not remembered
        log.warning("%s: cannot record the kernel choice (%s)", store.root, e)


def _spread_blocks(chunks: list[tuple[int, np.ndarray]], n: int) -> list[np.ndarray]:
    full = [b for _, b in chunks if len(b) == len(chunks[0][1])] or [b for _, b in chunks]
    picks = np.unique(np.linspace(0, len(full) - 1, min(n, len(full))).round().astype(int))
    return [np.array(full[i]) for i in picks]  # copies: timing is of the kernels, not of disk reads


def _median_ms(fn: Callable[[], Any]) -> float:
    return statistics.median(_once_ms(fn) for _ in range(REPEATS))


def _once_ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(corpus: Corpus, store: ScanStore, model: TrainedModel, rows: int, workers: int,
            depth: int = 1000) -> KernelChoice:
    """Time both kernels on a few blocks of this corpus and predict a whole pass of each."""
    from agile.scoring import calibration_sample, exact_block_logits

    blocks = sum(math.ceil(len(part) / rows) for _, part in store.parts)
    half = _spread_blocks(list(corpus.iter_chunks(rows)), TIMED_BLOCKS)
    int8 = _spread_blocks(list(store.iter_chunks(rows)), TIMED_BLOCKS)
    rng = np.random.default_rng(0)
    rerank = np.sort(rng.choice(corpus.count, min(depth, corpus.count), replace=False))
    with torch.inference_mode(), torch_threads(1):  # as each scoring worker runs
        def fixed() -> Int8MLP:
            quantized = Int8MLP.from_model(model, store.scales, calibration_sample(store), rows)
            model.score_ids(corpus, rerank)
            return quantized
        quantized = fixed()  # also the first call, which builds oneDNN's kernels
        fixed_ms = _median_ms(fixed)
        exact_ms, int8_ms = [], []
        for _ in range(REPEATS):  # interleaved, so a burst of load hits both alike
            exact_ms.append(sum(_once_ms(lambda b=b: exact_block_logits(model, b)) for b in half))
            int8_ms.append(sum(_once_ms(lambda b=b: quantized.logits(torch.from_numpy(b))) for b in int8))
        want = np.concatenate([exact_block_logits(model, b) for b in half])
        got = np.concatenate([quantized.logits(torch.from_numpy(b)).numpy() for b in int8])
    want, got = want.ravel(), got.ravel()  # a task's model: every class's logit
    correlation = float(np.corrcoef(want, got)[0, 1]) if want.std() > 0 and got.std() > 0 else 0.0
    per_exact, per_int8 = statistics.median(exact_ms) / len(half), statistics.median(int8_ms) / len(int8)
    parallel = max(1, min(workers, blocks))
    exact_s = blocks * per_exact / parallel / 1000
    int8_s = (fixed_ms + blocks * per_int8 / parallel) / 1000
    if not correlation >= MIN_LOGIT_CORRELATION:
        kernel, reason = "exact", f"int8 logits disagree with float32 (correlation {correlation:.4f})"
    elif int8_s * INT8_MARGIN < exact_s:
        kernel, reason = "int8", f"predicted pass int8 {int8_s:.3f} s < float32 {exact_s:.3f} s"
    else:
        kernel, reason = "exact", f"predicted pass float32 {exact_s:.3f} s <= int8 {int8_s:.3f} s x {INT8_MARGIN}"
    reason += (f" ({per_int8:.1f} ms/block int8 + {fixed_ms:.0f} ms fixed, {per_exact:.1f} ms/block float32, "
               f"{blocks} blocks of {rows}, {parallel} workers)")
    return KernelChoice(kernel, reason, model_shape(model), rows, workers, blocks, round(per_exact, 3),
                        round(per_int8, 3), round(fixed_ms, 2), round(exact_s, 4), round(int8_s, 4),
                        round(correlation, 5), machine_key(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
