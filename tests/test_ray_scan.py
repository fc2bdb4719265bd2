"""The corpus-wide scan on Ray actors (a Ray cluster started on this machine): the local path's batches and
scores with 1, 2 and 4 actors, an actor killed mid-round, and a round that cannot finish."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

ray = pytest.importorskip("ray")

from agile.corpus import Corpus  # noqa: E402
from agile.corpus_scores import score_to_parquet  # noqa: E402
from agile.ray_scan import RayScan, RayScanSettings, split_shards  # noqa: E402
from agile.sampling import BestOf, margin, select, select_batch, top_scores  # noqa: E402
from agile.scan_engine import LocalScan, ScanEngineError  # noqa: E402
from agile.session import Session, SessionSettings  # noqa: E402
from agile.session_store import MemoryStore  # noqa: E402
from agile.synth import SynthSpec, synth_corpus  # noqa: E402
from agile.training import TrainConfig, train  # noqa: E402
from agile.workspace import Workspace  # noqa: E402

ROWS = 256  # several blocks per shard, the last one short
CPUS = 0.2  # per actor: the module's pools (7 actors) and one more pool of 2 fit the 2 CPUs of the test cluster


def settings(**kwargs) -> RayScanSettings:
    return RayScanSettings(cpus_per_actor=CPUS, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # the test's own Keep rules travel by value: the workers cannot import this module
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """6,000 x 64 vectors in 6 shards, written by the project's own writer."""
    return synth_corpus(tmp_path_factory.mktemp("ray") / "c", SynthSpec(n=6000, dim=64, clusters=20, seed=11,
                                                                        shard_size=1000), workers=1, progress=False)


@pytest.fixture(scope="module")
def scan_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ray-scan") / "scan"


@pytest.fixture(scope="module")
def model(corpus):
    truth = np.isin(corpus.column("cluster").to_numpy(), [2, 9])
    ids = np.concatenate([np.flatnonzero(truth)[:60], np.flatnonzero(~truth)[:60]])
    return train(corpus, ids, truth[ids].astype(np.float32),
                 TrainConfig.for_round(1, random_negatives=500, batch_size=128, lr=1e-3))


@pytest.fixture(scope="module")
def pools(corpus, scan_dir):
    made = {n: RayScan(corpus, scan_dir, settings(actors=n)) for n in (1, 2, 4)}
    yield made
    for pool in made.values():
        pool.close()


def test_shards_are_split_into_contiguous_runs_of_about_equal_size():
    assert split_shards([1000] * 6, 4) == [[0], [1, 2], [3], [4, 5]]
    assert split_shards([1000] * 6, 1) == [[0, 1, 2, 3, 4, 5]]
    assert split_shards([500, 0, 500, 3000], 3) == [[0], [2], [3]]  # the empty shard has no blocks
    assert split_shards([10, 10], 5) == [[0], [1]]  # never an actor without a shard


def test_actors_build_a_missing_scan_store_in_place_byte_for_byte(corpus, pools, tmp_path):
    from agile.scan_store import ScanStore

    local = ScanStore.open_or_build(corpus, tmp_path / "local", calibrate_rows=None)
    pool = RayScan(corpus, tmp_path / "ray", settings(actors=2))
    try:
        pool.ready()  # each actor built its own three parts, then one finished the store
    finally:
        pool.close()
    built = ScanStore.existing(corpus, tmp_path / "ray")
    assert built is not None
    np.testing.assert_array_equal(built.scales, local.scales)
    for (first, a), (_, b) in zip(built.parts, local.parts):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"part at {first}")


@pytest.mark.parametrize("kernel", ["int8", "exact"])
@pytest.mark.parametrize("strategy", ["margin", "margin-pm", "cluster-margin", "random"])
def test_ray_rounds_pick_the_local_batch_with_1_2_and_4_actors(corpus, model, pools, scan_dir, strategy, kernel):
    rng = np.random.default_rng(3)
    rated = np.sort(rng.choice(corpus.count, 400, replace=False))
    local = LocalScan(scan_dir)
    want = select(corpus, model, 50, strategy, rated, seed=4, kernel=kernel, rows=ROWS, engine=local)
    # the mixed batch of the loop: likely positives are scarce among the rated, so the mix runs too
    want_mixed = select_batch(corpus, model, 50, strategy, rated, seed=4, kernel=kernel, rows=ROWS,
                              rated_positives=3, engine=local)
    want_plain = select_batch(corpus, model, 50, strategy, rated, seed=4, kernel=kernel, rows=ROWS,
                              rated_positives=1000, positives_in_last_batch=50, min_positives=0, engine=local)
    for actors, pool in pools.items():
        assert pool.actors == min(actors, 6)
        got = select(corpus, model, 50, strategy, rated, seed=4, kernel=kernel, rows=ROWS, engine=pool)
        np.testing.assert_array_equal(got, want, err_msg=f"{actors} actors")
        mixed = select_batch(corpus, model, 50, strategy, rated, seed=4, kernel=kernel, rows=ROWS,
                             rated_positives=3, engine=pool)
        np.testing.assert_array_equal(mixed.ids, want_mixed.ids, err_msg=f"{actors} actors")
        assert (mixed.strategy, mixed.note, mixed.predicted_positives) == \
            (want_mixed.strategy, want_mixed.note, want_mixed.predicted_positives)
        plain = select_batch(corpus, model, 50, strategy, rated, seed=4, kernel=kernel, rows=ROWS,
                             rated_positives=1000, positives_in_last_batch=50, min_positives=0, engine=pool)
        np.testing.assert_array_equal(plain.ids, want_plain.ids, err_msg=f"{actors} actors")
    assert not np.isin(want, rated).any() and len(np.unique(want)) == 50


def test_a_round_sends_the_model_once_and_gets_few_candidates_back(corpus, model, pools):
    pool = pools[2]
    rated = np.arange(0, 6000, 7)
    select(corpus, model, 20, "margin", rated, kernel="int8", rows=ROWS, engine=pool)
    stats = pool.last_round
    assert [a.vectors for a in stats.actors] == [3000, 3000]
    assert sum(a.candidates for a in stats.actors) <= 2 * 200  # each actor's best depth (10 k), not every block's
    assert stats.bytes_back == sum(a.candidates for a in stats.actors) * 12
    assert stats.finalist_bytes_back == 200 * corpus.dim * 2  # the best 10 k rows, re-scored at the driver
    assert stats.bytes_out["exclude"] == rated.nbytes  # each actor gets only its own share of the rated ids
    assert 0 < stats.bytes_out["model"] < 200_000


@pytest.mark.parametrize("top", [None, 40])
def test_agile_score_on_ray_writes_the_local_file(corpus, model, pools, tmp_path, top):
    kernel = "int8" if top else "exact"
    local = score_to_parquet(corpus, model, tmp_path / "local.parquet", threshold=0.5, top=top, kernel=kernel,
                             workers=1)
    for actors, pool in pools.items():
        out = tmp_path / f"ray-{actors}.parquet"
        summary = score_to_parquet(corpus, model, out, threshold=0.5, top=top, kernel=kernel, engine="ray",
                                   pool=pool)
        assert summary["kernel"] == local["kernel"] == kernel
        assert pq.read_table(out).equals(pq.read_table(tmp_path / "local.parquet")), f"{actors} actors"


@dataclass(frozen=True)
class SlowKeep:
    """A round's rule that takes its time, and says (by a file) when an actor has started on it."""

    inner: BestOf
    started: str
    seconds: float = 0.05

    def __call__(self, first, scores, exclude):
        Path(self.started, f"{os.getpid()}").touch()
        time.sleep(self.seconds)
        return self.inner(first, scores, exclude)

    def narrow(self, candidates):
        return self.inner.narrow(candidates)

    def running(self):
        return self


def _wait_for(path: Path, name: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not (path / name).exists():
        assert time.monotonic() < deadline, f"no actor {name} started"
        time.sleep(0.01)


def test_a_workspace_on_ray_chooses_the_local_batches(corpus, pools, tmp_path):
    truth = np.isin(corpus.column("cluster").to_numpy(), [4, 12])
    rated = np.concatenate([np.flatnonzero(truth)[:30], np.flatnonzero(~truth)[:30]])
    local = Workspace(corpus, tmp_path / "local")
    model = local.train(rated, truth[rated].astype(np.float32), TrainConfig.for_round(0, random_negatives=300))
    on_ray = Workspace(corpus, tmp_path / "ray", engine="ray", scan_actors=2)
    try:
        assert "2 Ray scan actors ready" in on_ray.prepare_scan_store()
        for strategy in ("margin", "cluster-margin"):
            want = local.select(model, np.sort(rated), 40, strategy, seed=1, rated_positives=30)
            got = on_ray.select(model, np.sort(rated), 40, strategy, seed=1, rated_positives=30)
            np.testing.assert_array_equal(got.ids, want.ids)
            assert (got.strategy, got.note) == (want.strategy, want.note)
    finally:
        on_ray.engine.close()
    with pytest.raises(ScanEngineError, match="unknown scan engine 'spark'"):
        Workspace(corpus, tmp_path / "x", engine="spark")
    with pytest.raises(ScanEngineError, match="the Ray cluster has 2"):
        RayScan(corpus, settings=RayScanSettings(actors=3, cpus_per_actor=1))


def test_a_pool_asks_only_for_the_cpus_left_free_and_says_so_when_it_cannot_be_placed(corpus, pools):
    # The module's pools hold 1.4 of the 2 CPUs; this pool takes the rest, so Ray reports none free.
    rest = RayScan(corpus, settings=RayScanSettings(actors=2, cpus_per_actor=0.3))
    try:
        rest.ready()
        late = RayScan(corpus, settings=RayScanSettings(actors=2))  # the default: share what is free
        try:
            assert late.cpus_per_actor == 0.01  # not the cluster's 2 CPUs each, which Ray could never give
        finally:
            late.close()
        greedy = RayScan(corpus, settings=RayScanSettings(actors=2, cpus_per_actor=0.5, place_timeout_s=2))
        try:
            with pytest.raises(ScanEngineError, match=r"2 of 2 Ray scan actors were not given their 0.5 CPUs "
                                                      r"within 2 s: the cluster has [0-9.]+ of 2 CPUs free"):
                greedy.ready()
        finally:
            greedy.close()
    finally:
        rest.close()


def test_evaluation_strata_on_ray_are_the_local_ones(corpus, model, pools, tmp_path):
    from agile.evaluation import StrataSpec

    workspace = Workspace(corpus, tmp_path / "work")
    eligible = np.ones(corpus.count, dtype=bool)
    eligible[np.random.default_rng(8).choice(corpus.count, 500, replace=False)] = False
    spec = StrataSpec(per_stratum=15)
    want = workspace.stratified_by_model(model, eligible, spec)
    assert len(want) > 60 and eligible[want].all()
    for actors, pool in pools.items():
        workspace.engine = pool
        np.testing.assert_array_equal(workspace.stratified_by_model(model, eligible, spec), want,
                                      err_msg=f"{actors} actors")


def test_an_actor_killed_mid_round_is_restarted_and_the_round_returns_the_same_batch(corpus, model, scan_dir,
                                                                                       tmp_path):
    rated = np.arange(0, 6000, 11)
    keep = BestOf((margin, top_scores), 300)
    local = keep.narrow(LocalScan(scan_dir).scan(corpus, model, keep, rated, "int8", ROWS))
    pool = RayScan(corpus, scan_dir, settings(actors=2))
    try:
        want = pool.scan(corpus, model, keep, rated, "int8", ROWS)  # the same round, undisturbed
        pids = pool.ready()
        got = {}
        thread = threading.Thread(target=lambda: got.setdefault(
            "found", pool.scan(corpus, model, SlowKeep(keep, str(tmp_path)), rated, "int8", ROWS)))
        thread.start()
        _wait_for(tmp_path, str(pids[1]))  # actor 1 is inside its scan
        os.kill(pids[1], signal.SIGKILL)
        thread.join(120)
        assert not thread.is_alive() and "found" in got, "the round did not come back"
        for field in ("ids", "scores"):
            np.testing.assert_array_equal(getattr(got["found"], field), getattr(want, field))
            np.testing.assert_array_equal(getattr(keep.narrow(got["found"]), field), getattr(local, field))
        assert got["found"].above == want.above == local.above
        after = pool.ready()
        assert after[0] == pids[0] and after[1] != pids[1]  # restarted, with its shards scanned again
        batch = select_batch(corpus, model, 30, "margin", rated, kernel="int8", rows=ROWS, engine=pool)
        np.testing.assert_array_equal(batch.ids, select_batch(corpus, model, 30, "margin", rated, kernel="int8",
                                                              rows=ROWS, scan_dir=scan_dir).ids)
    finally:
        pool.close()


def test_a_round_that_cannot_finish_fails_clearly_and_keeps_every_rating(corpus, scan_dir, tmp_path):
    truth = np.isin(corpus.column("cluster").to_numpy(), [4, 12])
    workspace = Workspace(corpus, tmp_path / "work")
    workspace.engine = pool = RayScan(corpus, scan_dir, settings(actors=2, max_restarts=0))
    try:
        store = MemoryStore.create("cluster 4", positives=["cluster 12"])
        session = Session(workspace, store, seed=0, settings=SessionSettings(batch_size=40))
        batch = session.expand()
        store.rate(batch.ids, truth[batch.ids])
        rated = store.labels().ids.copy()
        os.kill(pool.ready()[1], signal.SIGKILL)
        with pytest.raises(ScanEngineError, match=r"could not finish: actor 1 \(part-00003..part-00005\) died .* "
                                                  r"nothing was chosen"):
            session.round()
        np.testing.assert_array_equal(store.labels().ids, rated)  # every rating is still there
        # the version was saved before the scan; the pool replaced the dead actor, so trying again works
        batch = session.next_batch(session.trained(store.versions()[-1]))
        assert len(batch.ids) == 40 and not np.isin(batch.ids, rated).any()
    finally:
        pool.close()


def test_a_round_that_outlasts_its_timeout_fails_with_the_straggler_named(corpus, model, scan_dir, tmp_path):
    pool = RayScan(corpus, scan_dir, settings(actors=2, timeout_s=0.5))
    try:
        pool.ready()
        keep = SlowKeep(BestOf((margin,), 10), str(tmp_path), seconds=1.0)
        with pytest.raises(ScanEngineError, match=r"did not finish within 0.5 s: actor 0 .*ratings are kept"):
            pool.scan(corpus, model, keep, np.empty(0, np.int64), "int8", ROWS)
    finally:
        pool.close()


@pytest.mark.slow
def test_bench_al_times_the_ray_round_against_the_local_one(small_corpus_path, pools, tmp_path):
    from eval.bench.loop_bench import bench_al

    out = bench_al(Corpus.open(small_corpus_path), tmp_path / "scan", runs=2, k=20, baseline_rows=2000,
                   exact_check=False, engine="ray", actors=2)["ray"]
    assert out["actors"] == 2 and out["same_batches"]
    assert len(out["ray_seconds"]) == len(out["local_seconds"]) == 2 and out["ray_over_local"] > 0
    assert sum(a["vectors"] for a in out["last_round"]["actors"]) == 5000
    assert out["last_round"]["bytes_back"] > 0 and out["last_round"]["bytes_out"]["model"] > 0


def test_agile_serve_engine_ray_gives_the_server_a_pool(corpus, pools, tmp_path):
    import argparse

    from agile_cli.serve_commands import register
    from server.loop import Loop
    from server.settings import ServerSettings

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", str(corpus.root), "--engine", "ray", "--scan-actors", "2"])
    settings = ServerSettings(corpus=args.corpus, engine=args.engine, scan_actors=args.scan_actors)
    loop = Loop(settings.corpus, tmp_path / "data", engine=settings.engine, scan_actors=settings.scan_actors)
    try:
        assert loop.workspace.engine.actors == 2
        assert "2 Ray scan actors ready" in loop.prepare_scan_store()
        assert "of 2 pinned their share" in loop.prepare_scan_store(pin=True)  # or were refused: memlock
    finally:
        loop.workspace.engine.close()
    assert Loop(corpus.root, tmp_path / "local").workspace.engine is None  # without it nothing changes
