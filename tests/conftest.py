"""Shared fixtures: small seeded synthetic corpora written by the real writer."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agile.synth import SynthSpec, synth_corpus


@pytest.fixture(scope="session")
def small_corpus_path(tmp_path_factory) -> Path:
    """5,000 x 64 vectors in 3 shards; read-only, shared by tests."""
    out = tmp_path_factory.mktemp("corpus") / "small"
    synth_corpus(out, SynthSpec(n=5000, dim=64, clusters=20, seed=7, shard_size=2000),
                 workers=1, progress=False)
    return out


@pytest.fixture
def corpus_copy(small_corpus_path, tmp_path) -> Path:
    """A private copy of the small corpus that a test may damage."""
    dst = tmp_path / "copy"
    shutil.copytree(small_corpus_path, dst)
    return dst


@pytest.fixture(scope="module")
def workspace(small_corpus_path, tmp_path_factory):
    """A workspace over the small corpus, one per test module (indexes and caches are built once)."""
    from agile.workspace import Workspace  # the library loads torch; collection need not

    return Workspace(small_corpus_path, tmp_path_factory.mktemp("ws"))


@pytest.fixture(scope="module")
def clusters(small_corpus_path):
    """The small corpus's cluster of each image: the ground truth of its concepts."""
    from agile.corpus import Corpus

    return Corpus.open(small_corpus_path).column("cluster").to_numpy()
