"""Query strategies and corpus-wide selection against brute force."""
from __future__ import annotations

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.sampling import BestOf, SamplingError, margin, margin_positive_mining, random_strategy, select, top_scores
from agile.scan_engine import Candidates
from agile.scoring import ScoringError
from agile.training import TrainConfig, train


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


@pytest.fixture(scope="module")
def model(corpus):
    truth = np.isin(corpus.column("cluster").to_numpy(), [2, 9])
    ids = np.concatenate([np.flatnonzero(truth)[:50], np.flatnonzero(~truth)[:50]])
    return train(corpus, ids, truth[ids].astype(np.float32),
                 TrainConfig.for_round(0, random_negatives=500, batch_size=128, lr=1e-3))


def test_strategies_on_plain_arrays():
    rng = np.random.default_rng(0)
    scores = rng.random(1000).astype(np.float32)
    want = np.argsort(np.abs(scores - 0.5), kind="stable")[:10]
    np.testing.assert_array_equal(margin(scores, 10), want)
    pm = margin_positive_mining(scores, 10)
    np.testing.assert_array_equal(pm[:5], np.argsort(-scores, kind="stable")[:5])
    assert len(np.unique(pm)) == 10
    rest = np.setdiff1d(np.arange(1000), pm[:5])
    np.testing.assert_array_equal(pm[5:], rest[np.argsort(np.abs(scores[rest] - 0.5), kind="stable")[:5]])
    r = random_strategy(scores, 10, seed=1)
    assert len(np.unique(r)) == 10
    np.testing.assert_array_equal(r, random_strategy(scores, 10, seed=1))
    assert len(margin(scores[:3], 10)) == 3


@pytest.mark.parametrize("rankings", [(margin,), (margin, top_scores)])
def test_a_running_rule_keeps_fewer_candidates_and_narrows_to_the_same(rankings):
    rng = np.random.default_rng(3)
    scores = np.round(rng.random(40_000), 3).astype(np.float32)  # many ties, broken by id at every stage
    exclude = np.sort(rng.choice(len(scores), 3_000, replace=False))
    blocks = [(first, scores[first:first + 1_000]) for first in range(0, len(scores), 1_000)]
    rule = BestOf(rankings, 150)
    every = Candidates.join([rule(first, block, exclude) for first, block in blocks])
    whole = rule.narrow(every)
    running = rule.running()
    order = rng.permutation(len(blocks))  # blocks arrive in any order (worker threads)
    kept = {i: running(*blocks[i], exclude) for i in order}
    joined = Candidates.join([kept[i] for i in range(len(blocks))])
    assert len(joined.ids) < len(every.ids) / 4  # most blocks kept only the few vectors within the bounds
    narrowed = running.narrow(joined)
    np.testing.assert_array_equal(narrowed.ids, whole.ids)
    np.testing.assert_array_equal(narrowed.scores, whole.scores)
    assert joined.above == whole.above == np.count_nonzero(np.delete(scores, exclude) > 0.5)


@pytest.mark.parametrize("kernel", ["exact", "int8"])
@pytest.mark.parametrize("strategy", ["margin", "margin-pm"])
def test_select_equals_brute_force_over_unrated(corpus, model, strategy, kernel, tmp_path):
    rng = np.random.default_rng(5)
    rated = rng.choice(corpus.count, 700, replace=False)
    scores = model.score_vectors(corpus.vectors(np.arange(corpus.count)))
    unrated = np.setdiff1d(np.arange(corpus.count), rated)
    pick = margin if strategy == "margin" else margin_positive_mining
    want = unrated[pick(scores[unrated], 100)]
    got = select(corpus, model, k=100, strategy=strategy, exclude_ids=rated, rows=613, kernel=kernel,
                 scan_dir=tmp_path / "scan")
    np.testing.assert_array_equal(got, want)
    assert not np.isin(got, rated).any()


def test_random_selection_is_seeded_and_unrated(corpus, model):
    rated = np.arange(0, corpus.count, 2)
    a = select(corpus, model, k=50, strategy="random", exclude_ids=rated, seed=2)
    np.testing.assert_array_equal(a, select(corpus, model, k=50, strategy="random", exclude_ids=rated, seed=2))
    assert len(np.unique(a)) == 50 and not np.isin(a, rated).any()


def test_selection_errors(corpus, model):
    with pytest.raises(ScoringError, match="kernel"):
        select(corpus, model, kernel="gpu")
    with pytest.raises(SamplingError, match="unknown strategy"):
        select(corpus, model, strategy="least-confident")
    with pytest.raises(SamplingError, match="nothing left"):
        select(corpus, model, exclude_ids=np.arange(corpus.count))
    with pytest.raises(SamplingError):
        select(corpus, model, k=0)


@pytest.mark.slow
def test_bench_al_reports_medians_overlap_and_baseline(corpus, tmp_path):
    from eval.bench.loop_bench import bench_al

    out = bench_al(corpus, tmp_path / "scan", runs=3, k=20, baseline_rows=5000, classes=3)
    assert len(out["margin_round"]["seconds"]) == 3 and out["margin_round"]["median_seconds"] > 0
    task = out["task"]
    assert task["classes"] == 4 and task["model_shape"][-1] == 4 and task["train_seconds"] > 0
    assert set(task["rounds"]) == {"binary margin", "task margin", "task entropy"}
    assert all(len(r["seconds"]) == 3 and r["over_baseline"] > 0 for r in task["rounds"].values())
    assert out["exact_float32_stream"]["overlap_top_k"] >= 0.95
    assert out["naive_baseline"]["scaled_seconds"] > 0 and out["speedup_vs_naive"] > 0
    assert out["margin_round"]["peak_rss_mib"] >= out["margin_round"]["peak_anon_rss_mib"] > 0
    assert "skipped" in out["expansion_10_phrases"]


@pytest.mark.parametrize("kernel", ["exact", "int8"])
def test_select_batch_is_select_unless_positives_are_scarce(corpus, model, kernel, tmp_path):
    from agile.sampling import select_batch, top_scores

    rng = np.random.default_rng(3)
    rated = rng.choice(corpus.count, 500, replace=False)
    options = dict(k=100, exclude_ids=rated, rows=613, kernel=kernel, scan_dir=tmp_path / "scan")
    scores = model.score_vectors(corpus.vectors(np.arange(corpus.count)))
    unrated = np.setdiff1d(np.arange(corpus.count), rated)
    predicted = int((scores[unrated] > 0.5).sum())
    plain = select_batch(corpus, model, positives_in_last_batch=40, **options)
    if predicted >= 100:  # enough likely positives: the strategy runs as asked
        assert plain.strategy == "margin" and plain.note == ""
        np.testing.assert_array_equal(plain.ids, select(corpus, model, **options))
    assert plain.predicted_positives == predicted or kernel == "int8"
    mixed = select_batch(corpus, model, positives_in_last_batch=2, **options)
    assert mixed.strategy == "margin+mined" and "2 positives" in mixed.note
    mined = unrated[top_scores(scores[unrated], 50)]
    np.testing.assert_array_equal(mixed.ids[:50], mined)
    rest = np.setdiff1d(unrated, mined)
    np.testing.assert_array_equal(mixed.ids[50:], rest[margin(scores[rest], 50)])


def test_select_batch_mixes_when_the_model_predicts_almost_no_positives(corpus, model, tmp_path):
    from agile.sampling import select_batch

    got = select_batch(corpus, model, k=corpus.count // 2, kernel="exact")
    assert got.strategy == "margin+mined" and "above 0.5" in got.note
    few = select_batch(corpus, model, k=10, kernel="exact", rated_positives=2)
    assert few.strategy == "margin+mined" and "only 2 images are rated positive" in few.note
    below_half = select_batch(corpus, model, k=10, kernel="exact", rated_positives=4)  # fewer than k / 2
    assert "only 4 images are rated positive" in below_half.note
    assert "rated positive" not in select_batch(corpus, model, k=10, kernel="exact", rated_positives=5).note
    assert select_batch(corpus, model, k=10, strategy="random", seed=1).strategy == "random"


@pytest.mark.parametrize("kernel", ["exact", "int8"])
def test_cluster_margin_spreads_the_batch_over_the_uncertain_pool(corpus, model, kernel, tmp_path):
    from agile.sampling import CLUSTER_POOL, cluster_margin
    rated = np.arange(0, corpus.count, 7)
    scores = model.score_vectors(corpus.vectors(np.arange(corpus.count)))
    unrated = np.setdiff1d(np.arange(corpus.count), rated)
    pool = unrated[margin(scores[unrated], CLUSTER_POOL * 40)]
    got = select(corpus, model, k=40, strategy="cluster-margin", exclude_ids=rated, seed=3, rows=613,
                 kernel=kernel, scan_dir=tmp_path / "scan")
    assert len(np.unique(got)) == 40 and np.isin(got, pool).all()  # from the 400 most uncertain unrated
    want = unrated[cluster_margin(corpus, unrated, scores[unrated], 40, 3)]
    # Streaming (and int8 re-ranking) pick the same images; their order within a round may follow
    # float32 rounding of near-equal uncertainties.
    np.testing.assert_array_equal(np.sort(got), np.sort(want))
    plain = select(corpus, model, k=40, strategy="margin", exclude_ids=rated, kernel="exact")

    def mean_similarity(batch):
        v = corpus.vectors(batch).astype(np.float32)
        return float((v @ v.T).sum() - np.trace(v @ v.T)) / (len(v) * (len(v) - 1))
    assert mean_similarity(got) < mean_similarity(plain) - 0.02  # spread over more of the corpus


def test_cluster_margin_never_takes_a_near_duplicate_twice():
    from agile.sampling import NEAR_DUPLICATE_COSINE, cluster_margin
    rng = np.random.default_rng(0)
    base = rng.normal(size=(30, 16)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    vectors = np.repeat(base, 10, axis=0)  # every image ten times
    vectors += rng.normal(scale=1e-3, size=vectors.shape).astype(np.float32)

    class Vectors:
        def vectors(self, ids):
            return vectors[ids]
    scores = (0.5 + rng.normal(scale=0.01, size=len(vectors))).astype(np.float32)
    chosen = cluster_margin(Vectors(), np.arange(len(vectors)), scores, 20, seed=0)
    unit = vectors[chosen] / np.linalg.norm(vectors[chosen], axis=1, keepdims=True)
    similar = unit @ unit.T - np.eye(len(chosen))
    assert len(chosen) == 20 and similar.max() < NEAR_DUPLICATE_COSINE


def test_likely_positives_are_searched_only_for_a_mixed_batch_and_come_first(corpus, model, tmp_path):
    from agile.sampling import select_batch

    rng = np.random.default_rng(3)
    rated = rng.choice(corpus.count, 500, replace=False)
    options = dict(k=100, exclude_ids=rated, kernel="exact", scan_dir=tmp_path / "scan")
    scores = model.score_vectors(corpus.vectors(np.arange(corpus.count)))
    assert int((np.delete(scores, rated) > 0.5).sum()) >= 100  # the model predicts plenty: no mix unless asked
    calls = []
    neighbours = np.setdiff1d(np.arange(corpus.count), rated)[:70]  # more than half a batch, a rated one too

    def likely():
        calls.append(1)
        return np.concatenate([rated[:1], neighbours])

    plain = select_batch(corpus, model, positives_in_last_batch=40, likely_positives=likely, **options)
    assert plain.strategy == "margin" and calls == []  # the search is never made for a batch it cannot enter
    mixed = select_batch(corpus, model, positives_in_last_batch=2, likely_positives=likely, **options)
    assert calls == [1] and mixed.strategy == "margin+mined" and "nearest the rated positives" in mixed.note
    np.testing.assert_array_equal(mixed.ids[:50], neighbours[:50])  # rated ids dropped, half a batch at most
    assert len(np.unique(mixed.ids)) == 100 and not np.isin(mixed.ids, rated).any()
