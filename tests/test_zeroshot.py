"""The zero-shot scorer: cosine with the mean positive-phrase embedding."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from agile.corpus import Corpus
from agile.embedder import embedder_for_corpus
from agile.zeroshot import ZERO_SHOT_THRESHOLD, ZeroShotError, concept_text_embedding, zero_shot_scores


def test_zero_shot_is_cosine_with_the_mean_phrase(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    embedder = embedder_for_corpus(corpus)
    text = concept_text_embedding(embedder, ["cluster 6", "cluster 6 and cluster 7"])
    phrases = embedder.embed_texts(["cluster 6", "cluster 6 and cluster 7"])
    mean = phrases.mean(axis=0)
    np.testing.assert_allclose(text, mean / np.linalg.norm(mean), rtol=1e-5)
    scores = zero_shot_scores(corpus, text, rows=999)
    want = corpus.vectors(np.arange(corpus.count)).astype(np.float32) @ text
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-6)
    truth = corpus.column("cluster").to_numpy() == 6
    assert average_precision_score(truth, scores) > 0.5
    assert 0 < ZERO_SHOT_THRESHOLD < 1


def test_zero_shot_errors(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    with pytest.raises(ZeroShotError):
        concept_text_embedding(embedder_for_corpus(corpus), [])
    with pytest.raises(ZeroShotError):
        zero_shot_scores(corpus, np.ones(3, dtype=np.float32))
