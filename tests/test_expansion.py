"""Expansion: nearest unrated neighbours per phrase, a seeded draw from the union."""
from __future__ import annotations

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.embedder import embedder_for_corpus
from agile.expansion import ExpansionError, expand
from agile.search import ExactIndex, exact_search


@pytest.fixture(scope="module")
def setup(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    return corpus, ExactIndex(corpus), embedder_for_corpus(corpus)


def test_union_of_nearest_neighbours_minus_rated(setup):
    corpus, index, embedder = setup
    phrases = ["cluster 2", "cluster 5 and cluster 6"]
    _, near = exact_search(corpus, embedder.embed_texts(phrases), 100)
    rated = near[0, :30]
    got = expand(index, embedder, phrases[:1], phrases[1:], exclude_ids=rated, per_phrase=100, batch_size=10_000)
    # each phrase contributes its 100 nearest *unrated* images
    _, deeper = exact_search(corpus, embedder.embed_texts(phrases), 130)
    want = set()
    for row in deeper:
        want |= set(row[~np.isin(row, rated)][:100].tolist())
    assert set(got.tolist()) == want
    assert not np.isin(got, rated).any()


def test_batch_is_seeded_unrated_and_drawn_from_the_union(setup):
    corpus, index, embedder = setup
    rated = np.arange(0, corpus.count, 7)
    a = expand(index, embedder, ["cluster 1"], ["cluster 4"], exclude_ids=rated, seed=3)
    b = expand(index, embedder, ["cluster 1"], ["cluster 4"], exclude_ids=rated, seed=3)
    c = expand(index, embedder, ["cluster 1"], ["cluster 4"], exclude_ids=rated, seed=4)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 100 and len(np.unique(a)) == 100 and a.dtype == np.int64
    assert not np.array_equal(a, c)
    assert not np.isin(a, rated).any()
    union = expand(index, embedder, ["cluster 1"], ["cluster 4"], exclude_ids=rated, batch_size=10_000)
    assert np.isin(a, union).all()


def test_expansion_errors(setup):
    _, index, embedder = setup
    with pytest.raises(ExpansionError):
        expand(index, embedder, [])
    with pytest.raises(ExpansionError):
        expand(index, embedder, ["cluster 1"], batch_size=0)
