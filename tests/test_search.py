"""Running top-k and exact search against brute force."""
from __future__ import annotations

import numpy as np

from agile.corpus import Corpus
from agile.search import exact_search
from agile.topk import RunningTopK


def test_running_topk_equals_full_sort_on_random_blocks():
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((4, 10_000)).astype(np.float32)
    top = RunningTopK(37, queries=4)
    for start in range(0, 10_000, 999):
        top.push(scores[:, start:start + 999], np.arange(start, min(start + 999, 10_000)))
    got_scores, got_ids = top.result()
    want_ids = np.argsort(-scores, axis=1, kind="stable")[:, :37]
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_array_equal(got_scores, np.take_along_axis(scores, want_ids, axis=1))


def test_exact_search_matches_brute_force(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    rng = np.random.default_rng(0)
    queries = rng.standard_normal((3, 64)).astype(np.float32)
    scores, ids = exact_search(corpus, queries, k=50, rows=777)
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    full = q @ corpus.vectors(np.arange(corpus.count)).astype(np.float32).T
    want = np.argsort(-full, axis=1, kind="stable")[:, :50]
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(scores, np.take_along_axis(full, want, axis=1), rtol=1e-5)
