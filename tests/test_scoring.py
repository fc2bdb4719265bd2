"""Corpus-wide scoring: streaming equals scoring everything in memory."""
from __future__ import annotations

import numpy as np
import pytest

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
