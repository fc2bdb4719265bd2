"""Synthetic corpora: deterministic, clustered, resumable, and usable from the CLI."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.errors import CorpusExistsError
from agile.synth import SynthSpec, load_world, synth_corpus


def test_same_seed_gives_identical_corpus(small_corpus_path, tmp_path):
    again = synth_corpus(tmp_path / "again", SynthSpec(n=5000, dim=64, clusters=20, seed=7, shard_size=2000),
                         workers=2, progress=False)
    first = Corpus.open(small_corpus_path)
    np.testing.assert_array_equal(again.vectors(np.arange(5000)), first.vectors(np.arange(5000)))
    np.testing.assert_array_equal(again.column("cluster").to_numpy(), first.column("cluster").to_numpy())


def test_vectors_are_clustered_around_saved_centres(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    _, centers = load_world(small_corpus_path)
    vectors = corpus.vectors(np.arange(5000)).astype(np.float32)
    labels = corpus.column("cluster").to_numpy()
    sims = vectors @ centers.T
    own = sims[np.arange(5000), labels]
    # Each vector is closer to its own centre than to a typical other one, yet
    # clusters overlap: the nearest centre is not always the right one.
    assert own.mean() > 0.5
    accuracy = (sims.argmax(axis=1) == labels).mean()
    assert 0.8 < accuracy <= 1.0
    counts = np.bincount(labels, minlength=20)
    assert counts.max() > 4 * max(counts.min(), 1)  # uneven prevalence


def test_killed_run_resumes_to_the_same_corpus(small_corpus_path, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(small_corpus_path, out)
    # Simulate a kill: corpus.json never written, one shard lost, temporaries left behind.
    (out / "corpus.json").unlink()
    (out / "shards" / "part-00001.parquet").unlink()
    (out / "shards" / ".part-00001.parquet.tmp").write_bytes(b"half a shard")
    (out / "vectors" / ".part-00001.f16.tmp").write_bytes(b"half")
    corpus = synth_corpus(out, SynthSpec(n=5000, dim=64, clusters=20, seed=7, shard_size=2000),
                          workers=1, progress=False)
    assert not list(out.rglob("*.tmp"))
    np.testing.assert_array_equal(corpus.vectors(np.arange(5000)),
                                  Corpus.open(small_corpus_path).vectors(np.arange(5000)))


def test_refuses_to_mix_two_specs(small_corpus_path, tmp_path):
    out = tmp_path / "mixed"
    shutil.copytree(small_corpus_path, out)
    with pytest.raises(CorpusExistsError, match="spec.json"):
        synth_corpus(out, SynthSpec(n=5000, dim=64, clusters=21, seed=7, shard_size=2000), progress=False)


def test_cli_synth_info_and_error(tmp_path):
    out = tmp_path / "cli"
    run = lambda *a: subprocess.run([sys.executable, "-m", "agile_cli.main", *a],
                                    capture_output=True, text=True)
    made = run("synth", "--n", "3000", "--dim", "32", "--clusters", "5", "--seed", "1", str(out))
    assert made.returncode == 0, made.stderr
    info = run("info", str(out))
    manifest = json.loads(info.stdout)
    assert (manifest["count"], manifest["dim"], manifest["dtype"]) == (3000, 32, "float16")
    assert manifest["shards"][0]["name"] == "part-00000"
    (out / "vectors" / "part-00000.f16").write_bytes(b"")
    broken = run("verify", str(out))
    assert broken.returncode == 2
    assert "part-00000.f16: holds 0 bytes" in broken.stderr
