"""Model versions: numbered, immutable, reloadable, and safe against a crash mid-write."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.registry import ModelRegistry, RegistryError, label_snapshot
from agile.training import TrainConfig, train


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


@pytest.fixture(scope="module")
def model(corpus):
    truth = corpus.column("cluster").to_numpy() == 1
    ids = np.concatenate([np.flatnonzero(truth)[:30], np.flatnonzero(~truth)[:30]])
    return train(corpus, ids, truth[ids].astype(np.float32), TrainConfig.for_round(0, random_negatives=300))


def test_save_reload_rescore_identical(tmp_path, corpus, model):
    registry = ModelRegistry(tmp_path / "models")
    assert registry.latest() is None and registry.versions() == []
    snap = label_snapshot(np.array([5, 2, 9]), np.array([1, 0, 1]))
    first = registry.save(model, {"labels": snap, "embedding_model": corpus.model.model_dump(),
                                  "metrics": {"auc_pr": 0.5}})
    second = registry.save(model, {"labels": snap})
    assert [v.version for v in registry.versions()] == [1, 2]
    assert registry.latest().version == 2 and second.path.name == "v000002"
    side = registry.sidecar(1)
    assert side["labels"] == {"sha256": snap["sha256"], "positives": 2, "negatives": 1}
    assert side["config"]["hidden"] == [16] and side["training"]["random_negatives"] == 300
    assert side["metrics"] == {"auc_pr": 0.5} and first.created_at
    ids = np.arange(0, corpus.count, 3)
    np.testing.assert_array_equal(registry.load(1).score_ids(corpus, ids), model.score_ids(corpus, ids))
    raw = corpus.vectors(ids[:10]).astype(np.float32)
    np.testing.assert_array_equal(registry.load(2).score_vectors(raw), model.score_vectors(raw))
    with pytest.raises(RegistryError, match="does not exist"):
        registry.load(3)


def test_label_snapshot_ignores_order_but_not_labels():
    a = label_snapshot(np.array([1, 2]), np.array([1, 0]))
    assert a == label_snapshot(np.array([2, 1]), np.array([0, 1]))
    assert a["sha256"] != label_snapshot(np.array([1, 2]), np.array([1, 1]))["sha256"]


def test_damaged_weights_are_detected(tmp_path, model):
    registry = ModelRegistry(tmp_path)
    info = registry.save(model, {})
    (info.path / "weights.pt").write_bytes(b"garbage")
    with pytest.raises(RegistryError, match="checksum"):
        registry.load(1)


def test_failure_during_rename_leaves_no_version(tmp_path, model, monkeypatch):
    registry = ModelRegistry(tmp_path)
    registry.save(model, {"n": 1})

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "rename", boom)
    with pytest.raises(OSError, match="disk full"):
        registry.save(model, {"n": 2})
    monkeypatch.undo()
    assert [v.version for v in registry.versions()] == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["v000001"]


def test_killed_writer_leaves_earlier_versions_and_no_half_version(tmp_path, model):
    registry = ModelRegistry(tmp_path / "models")
    registry.save(model, {"n": 1})
    marker = tmp_path / "writing"
    # A writer that stalls after writing its weights, then gets SIGKILLed.
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        import agile.registry as reg
        original = reg._write_synced
        def slow(path, data):
            original(path, data)
            if path.name == "weights.pt":
                Path({str(marker)!r}).touch()
                time.sleep(60)
        reg._write_synced = slow
        registry = reg.ModelRegistry({str(registry.root)!r})
        registry.save(registry.load(1), {{"n": 2}})
    """)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "writer did not start"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [v.version for v in registry.versions()] == [1]
    assert registry.load(1).config == model.config
    leftovers = [p for p in registry.root.iterdir() if p.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and (leftovers[0] / "weights.pt").exists()
    assert registry.remove_stale() == 1
    assert registry.save(model, {"n": 3}).version == 2
