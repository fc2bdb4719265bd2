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
    want = np.clip(np.rint(corpus.vectors(np.arange(corpus.count)).astype(np.float32) * inverse), -127, 127)
    np.testing.assert_array_equal(first, want.astype(np.int8))
    # a build killed after its first shard: scan.json missing, later shards absent
    (root / "scan.json").unlink()
    for part in sorted((root / "int8").iterdir())[1:]:
        part.unlink()
    kept = sorted((root / "int8").iterdir())[0].stat().st_mtime_ns
    again = ScanStore.open_or_build(corpus, root)
    assert sorted((root / "int8").iterdir())[0].stat().st_mtime_ns == kept  # finished shard reused
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
