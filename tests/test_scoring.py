"""Corpus-wide scoring: streaming equals scoring everything in memory."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agile.corpus import Corpus
from agile.scoring import score_corpus
from agile.training import TrainConfig, train


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


@pytest.fixture(scope="module")
def model(corpus):
    truth = corpus.column("cluster").to_numpy() == 4
    ids = np.concatenate([np.flatnonzero(truth)[:40], np.flatnonzero(~truth)[:60]])
    return train(corpus, ids, truth[ids].astype(np.float32),
                 TrainConfig.for_round(1, random_negatives=500, batch_size=128, lr=1e-3))


@pytest.mark.parametrize("rows", [777, 65_536])
def test_streaming_scores_equal_in_memory_scores(corpus, model, rows):
    everything = model.score_vectors(corpus.vectors(np.arange(corpus.count)).astype(np.float32))
    got = score_corpus(corpus, model, rows=rows)
    assert got.dtype == np.float32 and got.shape == (corpus.count,)
    np.testing.assert_allclose(got, everything, rtol=1e-5, atol=1e-6)


def test_int8_scores_track_exact_scores(corpus, model, tmp_path):
    exact = score_corpus(corpus, model, kernel="exact")
    fast = score_corpus(corpus, model, rows=1000, kernel="int8", scan_dir=tmp_path / "scan")
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    assert np.corrcoef(exact, fast)[0, 1] > 0.999
    assert np.abs(exact - fast).max() < 0.05


def test_scan_store_is_built_once_resumed_and_rebuilt_for_another_corpus(corpus, corpus_copy, tmp_path):
    from agile.scan_store import ScanStore

    root = tmp_path / "scan"
    store = ScanStore.open_or_build(corpus, root)
    assert store.nbytes == corpus.count * corpus.dim
    first = np.concatenate([b for _, b in store.iter_chunks(999)])
    inverse = (1.0 / store.scales).astype(np.float32)
    vectors = corpus.vectors(np.arange(corpus.count)).astype(np.float32)
    levels = np.clip(np.rint(vectors * inverse), -127, 127)
    np.testing.assert_array_equal(first, (levels + 128).astype(np.uint8))  # stored unsigned, zero point 128
    assert np.abs(store.dequantize(first) - vectors).max() <= store.scales.max() / 2 + 1e-6
    # a build killed after its first shard: scan.json missing, later shards absent
    (root / "scan.json").unlink()
    for part in sorted((root / "u8").iterdir())[1:]:
        part.unlink()
    kept = sorted((root / "u8").iterdir())[0].stat().st_mtime_ns
    again = ScanStore.open_or_build(corpus, root)
    assert sorted((root / "u8").iterdir())[0].stat().st_mtime_ns == kept  # finished shard reused
    np.testing.assert_array_equal(np.concatenate([b for _, b in again.iter_chunks(999)]), first)
    # the same directory asked for by a different corpus is rebuilt for it
    other = Corpus.open(corpus_copy)
    other.manifest.created_at = "2000-01-01T00:00:00+00:00"
    rebuilt = ScanStore.open_or_build(other, root)
    assert json.loads((root / "scan.json").read_text())["corpus"]["created_at"].startswith("2000")
    assert rebuilt.nbytes == store.nbytes


def test_unknown_kernel_and_wrong_dimension(corpus, model):
    from agile.scoring import ScoringError

    with pytest.raises(ScoringError):
        score_corpus(corpus, model, kernel="fp8")
    small = train(corpus, np.array([0, 1]), np.array([1.0, 0.0]),
                  TrainConfig.for_round(0, random_negatives=10))
    small.module[0] = torch.nn.Linear(8, 16)
    with pytest.raises(ScoringError, match="dimensional"):
        score_corpus(corpus, small)


def test_unwritable_scan_dir_is_a_clear_error(corpus, tmp_path):
    from agile.scan_store import ScanStore, ScanStoreError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ScanStoreError, match="scan_dir"):
        ScanStore.open_or_build(corpus, blocker / "scan")


def test_warm_touches_every_page(corpus, tmp_path):
    from agile.scan_store import ScanStore

    store = ScanStore.open_or_build(corpus, tmp_path / "scan")
    assert store.warm() == 0
    rows_per_page = 4096 // corpus.dim
    want = sum(int(p[::rows_per_page, 0].sum()) for _, p in store.parts)
    assert store.warm(wait=True) == want


def test_pin_locks_the_store_or_reports_that_it_cannot(corpus, tmp_path):
    from agile.scan_store import ScanStore

    store = ScanStore.open_or_build(corpus, tmp_path / "scan")
    before = _locked_kib()
    if store.pin():
        assert _locked_kib() - before >= store.nbytes // 1024 - 4 * len(store.parts)
    else:
        assert _locked_kib() == before


def _locked_kib() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    return 0


def test_auto_kernel_is_the_measured_choice_and_is_recorded(corpus, model, tmp_path):
    from agile.int8_mlp import int8_available
    from agile.kernel_choice import model_shape, recorded_choices
    from agile.sampling import select
    from agile.scan_store import ScanStore

    rated = np.arange(0, corpus.count, 7)
    auto = select(corpus, model, k=50, exclude_ids=rated, scan_dir=tmp_path / "scan")
    if not int8_available():
        pytest.skip("no int8 kernels in this torch build: auto is always exact")
    choices = {tuple(c.shape): c for c in recorded_choices(ScanStore.open_or_build(corpus, tmp_path / "scan"))}
    # the loop's own shapes are measured when the store is opened, the model's own at selection
    # (the default ensemble learner's: each hidden layer two units wider than the paper's)
    assert {(corpus.dim, 18), (corpus.dim, 130, 130, 130), tuple(model_shape(model))} <= set(choices)
    chosen = choices[tuple(model_shape(model))]
    assert chosen.kernel in ("exact", "int8") and chosen.reason
    assert chosen.exact_ms_per_block > 0 and chosen.int8_ms_per_block > 0
    assert chosen.machine["torch"] == torch.__version__
    want = select(corpus, model, k=50, exclude_ids=rated, scan_dir=tmp_path / "scan", kernel=chosen.kernel)
    np.testing.assert_array_equal(auto, want)


def test_int8_first_layer_takes_the_stored_unsigned_bytes_exactly(corpus, model, tmp_path):
    from agile.int8_mlp import Int8MLP, int8_available
    from agile.scan_store import ScanStore
    from agile.scoring import calibration_sample

    if not int8_available():
        pytest.skip("no int8 kernels in this torch build")
    store = ScanStore.open_or_build(corpus, tmp_path / "scan", calibrate_rows=None)
    quantized = Int8MLP.from_model(model, store.scales, calibration_sample(store))
    x = np.array(store.parts[0][1][:500])
    want = model.logits(store.dequantize(x))
    got = quantized.logits(torch.from_numpy(x)).numpy()
    assert np.corrcoef(want, got)[0, 1] > 0.999


def test_a_scan_store_of_the_signed_format_is_rebuilt_unsigned(corpus, tmp_path):
    from agile.scan_store import ScanStore

    root = tmp_path / "scan"
    store = ScanStore.open_or_build(corpus, root, calibrate_rows=None)
    meta, build = json.loads((root / "scan.json").read_text()), json.loads((root / "build.json").read_text())
    # what format 1 left: signed parts under int8/, no format in build.json
    (root / "u8").rename(root / "int8")
    for part in (root / "int8").iterdir():
        part.rename(part.with_suffix(".i8"))
    del build["format_version"]
    (root / "build.json").write_text(json.dumps(build))
    (root / "scan.json").write_text(json.dumps({**meta, "format_version": 1}))
    rebuilt = ScanStore.open_or_build(corpus, root, calibrate_rows=None)
    assert not (root / "int8").exists() and json.loads((root / "scan.json").read_text())["format_version"] == 2
    np.testing.assert_array_equal(np.concatenate([b for _, b in rebuilt.iter_chunks(999)]),
                                  np.concatenate([b for _, b in store.iter_chunks(999)]))


def test_block_profile_times_every_layer_and_both_rules(corpus):
    from agile.int8_mlp import int8_available
    from eval.bench.block_profile import profile

    if not int8_available():
        pytest.skip("no int8 kernels in this torch build")
    out = profile(corpus, "ensemble", blocks=3, rows=500)
    times = out["ms_per_block"]
    assert out["blocks"] == 3 and {"layer0", "layer3", "sigmoid", "running_margin_and_top"} <= set(times)
    assert all(v > 0 for v in times.values()) and out["layers_ms"] >= times["layer0"]
