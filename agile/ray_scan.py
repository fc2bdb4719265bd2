"""The corpus-wide scan on long-lived Ray actors, each keeping its share of the corpus's shards warm.

`RayScan` is a scan engine (agile.scan_engine). The corpus's shards are cut
into contiguous runs of about equal vector count, one per actor. An actor
opens the corpus by path (every node must see it: a shared filesystem), opens
the int8 scan store or builds it in place (under its file lock, as the local
path does) and reads its own parts into the page cache. A round puts the
model in the object store once; each actor scans its blocks exactly as the
local engine does (`LocalScan` over its shards), narrows its candidates by
the round's `Keep` rule and sends back ids and scores (a few KB); the caller
re-scores and picks as on one machine, so the batch is the same.

Faults: an actor that dies is restarted by Ray (``max_restarts``) and the
call it was running is retried on the new process (``max_task_retries``),
which reopens its shards and scans them again, so the round returns the same
candidates. When the restarts are used up, or a round outlasts
``timeout_s``, the round raises `ScanEngineError` naming the actor and its
shards, having chosen and written nothing, and that actor is replaced before
the next round. ``ray.init()`` joins the cluster in ``RAY_ADDRESS`` or
starts one on this machine.
"""
from __future__ import annotations

import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from agile.corpus import Corpus
from agile.scan_engine import Candidates, Keep, LocalScan, ScanEngineError
from agile.scoring import SCAN_ROWS, resolve_kernel, shard_parts
from agile.training import TrainedModel


@dataclass(frozen=True)
class RayScanSettings:
    actors: int | None = None             # default: one per CPU of the cluster
    cpus_per_actor: float | None = None   # default: the cluster's CPUs shared evenly among the actors
    max_restarts: int = 3                 # restarts of a dead actor (and retries of its call) per actor
    timeout_s: float = 600.0              # a round that takes longer fails
    place_timeout_s: float = 300.0        # Ray giving each actor its CPUs (a pool asking more than is free
                                          # would wait for ever; a cluster that scales up may take minutes)
    start_timeout_s: float = 3600.0       # opening (or building: minutes at 10M) and warming each actor's share
    warm_store: bool = True               # open (or build) and warm the int8 scan store when an actor starts;
                                          # off for jobs that only read the float16 vectors (all-exact scoring)


def connect():
    """The ``ray`` module, connected: to ``RAY_ADDRESS`` if set, else to a cluster started on this machine."""
    import ray

    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    return ray


def split_shards(counts: Sequence[int], parts: int) -> list[list[int]]:
    """Shard indices cut into at most ``parts`` contiguous runs of about equal vector count (empty shards,
    which hold no block, are left out)."""
    full = [i for i, c in enumerate(counts) if c]
    parts = max(1, min(parts, len(full)))
    if not full:
        return [[]]
    total = np.cumsum([counts[i] for i in full])
    cuts = []
    for j in range(1, parts):  # cut after the shard whose running total is nearest j / parts of the whole
        cut = int(np.abs(total - total[-1] * j / parts).argmin()) + 1
        cut = max(cut, (cuts[-1] if cuts else 0) + 1)
        cuts.append(min(cut, len(full) - (parts - j)))
    bounds = [0, *cuts, len(full)]
    return [full[a:b] for a, b in zip(bounds, bounds[1:])]


def _memory_mib() -> dict[str, float]:
    """This process's resident memory: all of it, and the part not backed by files (page cache excluded)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return out


@dataclass(frozen=True)
class ScanReport:
    """What one actor did in one round."""

    actor: int
    pid: int
    vectors: int
    seconds: float        # inside the actor: opening the kernel's blocks, scoring, narrowing
    candidates: int
    memory_mib: dict[str, float]


class ScanActor:
    """One actor of the pool (wrapped by ``ray.remote`` in `RayScan`): a share of the corpus's shards."""

    def __init__(self, index: int, root: str, shards: list[int], scan_dir: str | None, workers: int,
                 calibrate: bool, warm_store: bool = True):
        # Cheap, so that an answer to `ping` means only that Ray has placed the actor; `open` does the work.
        self.index = index
        self.corpus = Corpus.open(root, verify="quick")
        self.local = LocalScan(scan_dir, workers, tuple(shards))
        self.count = sum(self.corpus.shards[i].count for i in shards)
        self.store = None
        self._calibrate, self._warm_store = calibrate, warm_store
        self._opened = False

    def open(self) -> int:
        """Open (or build) and warm this actor's share of the int8 scan store, once (again after a
        restart); the process id."""
        from agile.kernel_choice import calibrate_default_shapes
        from agile.scan_store import ScanStore, build_parts

        scan_dir, shards = self.local.scan_dir, list(self.local.shards)
        if not self._opened and self._warm_store and resolve_kernel("auto") == "int8":  # int8: keep it warm
            build_parts(self.corpus, scan_dir, shards)  # a missing store: each actor builds its own parts at once
            store = ScanStore.open_or_build(self.corpus, scan_dir, calibrate_rows=None)
            if self._calibrate:  # the kernel is chosen here (actor 0) for this actor's threads, before any round
                calibrate_default_shapes(self.corpus, store, SCAN_ROWS, self.local.workers)
            self.store = ScanStore(store.root, store.scales, shard_parts(self.corpus, store.parts, shards))
            self.store.warm(wait=True)
        self._opened = True
        return os.getpid()

    def ping(self) -> int:
        return os.getpid()

    def pin(self) -> bool:
        """Lock this actor's share of the scan store in memory (ScanStore.pin); False if refused or absent."""
        self.open()
        return self.store is not None and self.store.pin()

    def kernel(self, kernel: str, model: TrainedModel, rows: int) -> str:
        return self.local.kernel(kernel, self.corpus, model, rows)

    def scan(self, model: TrainedModel, keep: Keep, exclude: np.ndarray, kernel: str,
             rows: int) -> tuple[Candidates, ScanReport]:
        self.open()  # an actor Ray restarted mid-round opens its share first
        start = time.perf_counter()
        found = keep.narrow(self.local.scan(self.corpus, model, keep, exclude, kernel, rows))
        report = ScanReport(self.index, os.getpid(), self.count, round(time.perf_counter() - start, 4),
                            len(found.ids), _memory_mib())
        return found, report

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.corpus.vectors(ids)

    def write_part(self, model: TrainedModel, shard_index: int, threshold: float | None, part: str) -> int:
        from agile.corpus_scores import write_part  # it imports the sampling code, which imports this engine

        return write_part(self.corpus, shard_index, model, threshold, Path(part), self.local.workers or 1)


@dataclass
class RoundStats:
    """The last round on the pool: time in each actor, bytes sent out and back (pickled sizes; the
    finalists' rows as raw bytes)."""

    seconds: float = 0.0
    bytes_out: dict[str, int] = field(default_factory=dict)
    bytes_back: int = 0                # the candidates
    actors: list[ScanReport] = field(default_factory=list)
    finalist_bytes_back: int = 0       # the float16 rows of the finalists re-scored exactly


class RayScan:
    """A pool of `ScanActor`s over one corpus; a scan engine for `agile.sampling` and `agile score`."""

    def __init__(self, corpus: Corpus, scan_dir: str | Path | None = None,
                 settings: RayScanSettings = RayScanSettings()):
        ray = connect()
        self.corpus, self.settings = corpus, settings
        self.scan_dir = None if scan_dir is None else str(scan_dir)
        total = float(ray.cluster_resources().get("CPU", 1))
        # Other pools may hold some already; Ray leaves out a resource of which none is free.
        free = float(ray.available_resources().get("CPU", 0.0))
        self.shares = split_shards([s.count for s in corpus.shards], settings.actors or max(1, int(free)))
        # Actors may share CPUs (fractional num_cpus), so a pool of 4 runs on a 2-core machine.
        # Ray counts CPUs in steps of 1e-4: round down, so that the shares add up to no more than is free.
        self.cpus_per_actor = settings.cpus_per_actor or max(math.floor(free / len(self.shares) * 1e4) / 1e4, 0.01)
        if self.cpus_per_actor * len(self.shares) > total + 1e-9:  # Ray would wait for them for ever
            raise ScanEngineError(f"{len(self.shares)} scan actors of {self.cpus_per_actor:g} CPUs need "
                                  f"{self.cpus_per_actor * len(self.shares):g}; the Ray cluster has {total:g}")
        self.workers = max(1, int(self.cpus_per_actor))
        self._remote = ray.remote(num_cpus=self.cpus_per_actor, max_restarts=settings.max_restarts,
                                  max_task_retries=settings.max_restarts)(ScanActor)
        self._actors = [self._start(i) for i in range(len(self.shares))]
        self._started = False  # until every actor has answered once: a round's timeout excludes the start
        self._kernels: dict[tuple, str] = {}  # auto's choice per model shape, as actor 0 measured it
        self.last_round = RoundStats()

    def _start(self, i: int):
        return self._remote.remote(i, str(self.corpus.root), self.shares[i], self.scan_dir, self.workers,
                                   i == 0, self.settings.warm_store)

    @property
    def actors(self) -> int:
        return len(self._actors)

    def ready(self) -> list[int]:
        """Wait until Ray has placed every actor, then until each has opened (or built) and warmed its
        share; their process ids."""
        self._await_placement()
        pids = self._gather([a.open.remote() for a in self._actors], "start", timeout_s=self.settings.start_timeout_s)
        self._started = True
        return pids

    def _await_placement(self) -> None:
        """A pool that asks for more CPUs than the cluster will free fails here, saying so, instead of
        waiting for ever."""
        ray = connect()
        pings = [a.ping.remote() for a in self._actors]
        _, waiting = ray.wait(pings, num_returns=len(pings), timeout=self.settings.place_timeout_s)
        if waiting:
            resources = ray.available_resources(), ray.cluster_resources()
            free, total = (float(r.get("CPU", 0.0)) for r in resources)
            raise ScanEngineError(
                f"{len(waiting)} of {len(pings)} Ray scan actors were not given their {self.cpus_per_actor:g} "
                f"CPUs within {self.settings.place_timeout_s:g} s: the cluster has {free:g} of {total:g} CPUs "
                "free (other pools or jobs hold the rest); start fewer actors, or ask less of each")
        self._gather(pings, "start")  # an actor that failed to start is named here

    def pin(self) -> list[bool]:
        """Ask every actor to lock its share in memory (a restarted actor does not: call again)."""
        self._check(self.corpus)
        return self._gather([a.pin.remote() for a in self._actors], "pinning")

    def describe_share(self, i: int) -> str:
        names = [self.corpus.shards[s].name for s in self.shares[i]]
        return f"actor {i} ({names[0]}..{names[-1]})" if len(names) > 1 else f"actor {i} ({names[0]})"

    # -- the engine --------------------------------------------------------------------------------
    def kernel(self, kernel: str, corpus: Corpus, model: TrainedModel, rows: int) -> str:
        """``auto`` is resolved by actor 0: measured for an actor's threads on an actor's machine."""
        self._check(corpus)
        if kernel != "auto":
            return resolve_kernel(kernel)
        from agile.kernel_choice import model_shape

        key = (tuple(model_shape(model)), rows)  # the choice depends on the shape, never on the weights
        if key not in self._kernels:
            self._kernels[key] = self._gather([self._actors[0].kernel.remote(kernel, model, rows)],
                                              "kernel choice")[0]
        return self._kernels[key]

    def scan(self, corpus: Corpus, model: TrainedModel, keep: Keep, exclude: np.ndarray, kernel: str,
             rows: int) -> Candidates:
        ray = connect()
        self._check(corpus)
        start = time.perf_counter()
        model_ref = ray.put(model)  # once per round, whatever the number of actors
        shares = [self._exclude_share(exclude, i) for i in range(self.actors)]
        refs = [a.scan.remote(model_ref, keep, share, kernel, rows) for a, share in zip(self._actors, shares)]
        results = self._gather(refs, "round")
        found = Candidates.join([c for c, _ in results])
        self.last_round = RoundStats(
            round(time.perf_counter() - start, 4),
            {"model": len(pickle.dumps(model)), "rule": len(pickle.dumps(keep)) * self.actors,
             "exclude": sum(s.nbytes for s in shares)},
            sum(c.nbytes for c, _ in results), [r for _, r in results])
        return found

    def vectors(self, corpus: Corpus, ids: np.ndarray) -> np.ndarray:
        """The float16 rows of ``ids``, each read by the actor whose share holds it (the driver need not
        reach the vectors at all): 1 KB a row at 512 dimensions, 1 MB for a round's 1,000 finalists."""
        self._check(corpus)
        order = np.argsort(ids, kind="stable")
        bounds = [corpus.shards[share[0]].first_id for share in self.shares[1:]]
        cuts = np.searchsorted(ids[order], bounds)
        parts = np.split(ids[order], cuts)
        rows = np.concatenate(self._gather([a.vectors.remote(p) for a, p in zip(self._actors, parts)], "read"))
        out = np.empty_like(rows)
        out[order] = rows
        self.last_round.finalist_bytes_back += rows.nbytes
        return out

    def write_parts(self, model: TrainedModel, threshold: float | None, parts: dict[int, Path],
                    progress: Callable[[int, int], None] | None = None) -> None:
        """Score the shards ``parts`` names (shard index -> part file) on the actors that hold them."""
        ray = connect()
        self._check(self.corpus)
        model_ref = ray.put(model)
        owner = {s: i for i, share in enumerate(self.shares) for s in share}
        refs = {self._actors[owner[s]].write_part.remote(model_ref, s, threshold, str(path)): owner[s]
                for s, path in parts.items() if s in owner}  # an empty shard's part is written by the caller
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=self.settings.timeout_s)
            if not ready:
                raise ScanEngineError(f"corpus scoring on Ray did not finish within {self.settings.timeout_s:g} s")
            self._gather(ready, "scoring", actor=refs[ready[0]])
            done += 1
            if progress:
                progress(done, len(parts))

    def close(self) -> None:
        ray = connect()
        for actor in self._actors:
            ray.kill(actor, no_restart=True)
        self._actors = []

    # -- helpers ------------------------------------------------------------------------------------
    def _check(self, corpus: Corpus) -> None:
        if not self._started:
            self.ready()
        if Path(corpus.root).resolve() != Path(self.corpus.root).resolve() or corpus.count != self.corpus.count:
            raise ScanEngineError(f"this Ray scan pool serves {self.corpus.root}, not {corpus.root}")

    def _exclude_share(self, exclude: np.ndarray, i: int) -> np.ndarray:
        """The sorted excluded ids within actor ``i``'s id range: each actor is sent only its own."""
        shards = self.corpus.shards
        first, last = shards[self.shares[i][0]], shards[self.shares[i][-1]]
        lo, hi = np.searchsorted(exclude, [first.first_id, last.first_id + last.count])
        return np.ascontiguousarray(exclude[lo:hi])

    def _gather(self, refs: list, what: str, actor: int | None = None, timeout_s: float | None = None) -> list:
        """The results of ``refs`` (one per actor, in actor order, unless ``actor`` names the one), or a
        `ScanEngineError` that names the actor that failed; a failed actor is replaced."""
        ray = connect()
        from ray.exceptions import GetTimeoutError, RayError, RayTaskError

        timeout_s = timeout_s or self.settings.timeout_s
        deadline = time.monotonic() + timeout_s
        out = []
        for position, ref in enumerate(refs):
            i = position if actor is None else actor
            try:
                out.append(ray.get(ref, timeout=max(deadline - time.monotonic(), 0.001)))
            except RayTaskError:
                raise  # the library's own error inside the actor (e.g. an unreadable scan store), as raised
            except GetTimeoutError:
                self._replace(i, kill=True)
                raise ScanEngineError(
                    f"the Ray {what} did not finish within {timeout_s:g} s: "
                    f"{self.describe_share(i)} is still working; it was restarted, and nothing was chosen or "
                    "written (ratings are kept: run the round again)") from None
            except RayError as e:
                self._replace(i, kill=False)
                reason = str(e).strip().splitlines()[0][:200]
                raise ScanEngineError(
                    f"the Ray {what} could not finish: {self.describe_share(i)} died and could not be restarted "
                    f"after {self.settings.max_restarts} restart(s) ({reason}); nothing was chosen or written "
                    "(ratings are kept), and a new actor takes its shards for the next round") from None
        return out

    def _replace(self, i: int, kill: bool) -> None:
        if kill:
            connect().kill(self._actors[i], no_restart=True)
        self._actors[i] = self._start(i)
        self._started = False
