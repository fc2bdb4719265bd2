"""Training the concept MLP: the paper's recipe, seeding, refusal of one-class data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from agile.corpus import Corpus
from agile.training import (OneClassError, TrainConfig, TrainedModel, TrainingError, draw_random_negatives,
                            epoch_indices, train)


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


def concept_ratings(corpus, clusters=(3, 8), n=300, seed=0):
    """Rated ids and labels for the concept 'in one of ``clusters``', half positives."""
    truth = np.isin(corpus.column("cluster").to_numpy(), clusters)
    rng = np.random.default_rng(seed)
    pos = rng.choice(np.flatnonzero(truth), n // 2, replace=False)
    neg = rng.choice(np.flatnonzero(~truth), n - n // 2, replace=False)
    ids = np.concatenate([pos, neg])
    return ids, truth[ids].astype(np.float32), truth


def test_round_configs_follow_the_paper():
    first, later = TrainConfig.for_round(0), TrainConfig.for_round(3)
    assert first.hidden == (16,) and later.hidden == (128, 128, 128)
    for c in (first, later, TrainConfig.paper(1)):
        assert (c.dropout, c.lr, c.weight_decay, c.epochs) == (0.5, 1e-4, 1e-4, 10)
    assert TrainConfig.paper(1).random_negatives == 500_000
    assert TrainConfig.from_dict(later.to_dict()) == later
    with pytest.raises(TrainingError):
        TrainConfig(dropout=1.0)


@pytest.mark.parametrize("labels, missing, random_negatives", [([1, 1, 1], "negative", 0),
                                                               ([0, 0, 0], "positive", 1000)])
def test_one_class_data_is_refused_with_what_to_rate(corpus, labels, missing, random_negatives):
    with pytest.raises(OneClassError, match=f"no {missing} ratings"):
        train(corpus, np.array([1, 2, 3]), np.array(labels),
              TrainConfig.for_round(0, random_negatives=random_negatives))


def test_epoch_is_half_positives_quarter_rated_quarter_random():
    rng = np.random.default_rng(0)
    order = epoch_indices(n_pos=30, n_neg=70, n_rand=1000, rng=rng)
    assert len(order) == 4000
    assert (order < 30).sum() == 2000
    assert ((order >= 30) & (order < 100)).sum() == 1000
    random_rows = np.sort(order[order >= 100])
    np.testing.assert_array_equal(random_rows, np.arange(100, 1100))  # each random negative once


def test_random_negatives_are_distinct_and_unrated():
    rng = np.random.default_rng(1)
    rated = np.arange(0, 10_000, 3)
    got = draw_random_negatives(10_000, rated, 2000, rng)
    assert len(np.unique(got)) == 2000 and not np.isin(got, rated).any()
    small = draw_random_negatives(10, np.array([0, 1]), 100, rng)
    np.testing.assert_array_equal(small, np.arange(2, 10))


def test_training_is_seeded_and_learns_the_concept(corpus):
    ids, labels, truth = concept_ratings(corpus)
    config = TrainConfig.for_round(1, random_negatives=1000, batch_size=256, lr=1e-3)
    a = train(corpus, ids, labels, config)
    b = train(corpus, ids, labels, config)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], rtol=0, atol=0)
    scores = a.score_vectors(corpus.vectors(np.arange(corpus.count)))
    assert scores.dtype == np.float32 and ((scores >= 0) & (scores <= 1)).all()
    ap = average_precision_score(truth, scores)
    assert ap > 0.9, ap
    assert a.stats.random_negatives == 1000 and a.stats.positives == 150


def test_state_round_trip_scores_identically(corpus):
    ids, labels, _ = concept_ratings(corpus, n=60)
    model = train(corpus, ids, labels, TrainConfig.for_round(0, random_negatives=500))
    again = TrainedModel.from_state(model.config, model.state_dict())
    probe = np.arange(0, corpus.count, 11)
    np.testing.assert_array_equal(model.score_ids(corpus, probe), again.score_ids(corpus, probe))
    with pytest.raises(TrainingError):
        TrainedModel.from_state(TrainConfig.for_round(1), model.state_dict())
    with pytest.raises(TrainingError):
        model.score_vectors(np.zeros((3, 5), dtype=np.float32))


def test_fast_loop_matches_autograd_reference():
    from agile.mlp_fit import fit_fast
    from agile.training import build_mlp, fit_autograd

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((300, 32)).astype(np.float32))
    y = torch.from_numpy((rng.random(300) > 0.6).astype(np.float32))
    orders = [rng.permutation(300) for _ in range(3)]
    config = TrainConfig(hidden=(16, 8), dropout=0.0, lr=1e-2, batch_size=64, precision="float32")
    torch.manual_seed(1)
    ref = build_mlp(32, config)
    fast = build_mlp(32, config)
    fast.load_state_dict(ref.state_dict())
    ref_steps, ref_loss = fit_autograd(ref, x, y, iter(orders), config, np.random.default_rng(0))
    steps, loss = fit_fast(fast, x, y, iter(orders), config, np.random.default_rng(0))
    assert steps == ref_steps == 15
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(fast.state_dict()[k], v, rtol=1e-4, atol=1e-5)
    assert all(p.requires_grad and p.grad is None for p in fast.parameters())


def test_fast_loop_matches_autograd_reference_with_a_softmax_over_classes():
    from agile.mlp_fit import fit_fast
    from agile.training import build_mlp, fit_autograd

    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((300, 32)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 4, 300))
    orders = [rng.permutation(300) for _ in range(3)]
    config = TrainConfig(hidden=(16,), dropout=0.0, lr=1e-2, batch_size=64, precision="float32", classes=4)
    torch.manual_seed(2)
    ref, fast = build_mlp(32, config), build_mlp(32, config)
    fast.load_state_dict(ref.state_dict())
    _, ref_loss = fit_autograd(ref, x, y, iter(orders), config, np.random.default_rng(0))
    _, loss = fit_fast(fast, x, y, iter(orders), config, np.random.default_rng(0))
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(fast.state_dict()[k], v, rtol=1e-4, atol=1e-5)


def test_a_task_epoch_weighs_every_class_alike_and_shows_each_random_image_once():
    from agile.training import task_epoch_indices

    counts = np.array([30, 5, 0, 12])  # class 2 not rated yet; class 3 is "none of these"
    order = task_epoch_indices(counts, 400, 3, 800, np.random.default_rng(0))
    starts = np.concatenate([[0], np.cumsum(counts)])
    row_class = np.searchsorted(starts, order, side="right") - 1
    assert np.bincount(row_class, minlength=5).tolist() == [800, 800, 0, 400, 400]  # 4: the random images
    assert np.array_equal(np.sort(order[row_class == 4]), starts[-1] + np.arange(400))
    no_none = task_epoch_indices(counts, 0, None, 800, np.random.default_rng(0))
    assert len(no_none) == 3 * 800


def test_dropout_bits_drop_the_requested_share():
    from agile.mlp_fit import DropoutBits

    for dtype in (torch.float32, torch.bfloat16):
        keep = DropoutBits(0.5, np.random.default_rng(0), dtype).keep((1000, 128))
        assert keep.dtype == dtype and set(torch.unique(keep.float()).tolist()) == {0.0, 2.0}
        assert abs(float((keep > 0).float().mean()) - 0.5) < 0.01
    keep = DropoutBits(0.25, np.random.default_rng(1)).keep((1000, 128))
    np.testing.assert_allclose(torch.unique(keep).numpy(), [0.0, 4 / 3], rtol=1e-6)
    assert abs(float((keep > 0).float().mean()) - 0.75) < 0.01
    assert DropoutBits(0.0, np.random.default_rng(0)).keep((3, 3)) is None


@pytest.mark.slow
def test_bench_train_compares_fast_and_reference(corpus):
    from eval.bench.loop_bench import bench_train

    out = bench_train(corpus, runs=2, ratings=200, random_negatives=300, paper_runs=0)
    for name in ("fast", "reference_autograd_float32"):
        assert len(out[name]["seconds"]) == 2 and 0 < out[name]["median_auc_pr"] <= 1
    assert "paper_500k_negatives" not in out  # its run is skipped here: 500k negatives take minutes
    assert out["reference_autograd_float32"]["config"]["engine"] == "autograd"
    assert out["fast"]["config"]["random_negatives"] == 300 and out["speedup_vs_reference"] > 0


def test_the_logistic_regression_peer_is_a_one_layer_model_that_scores_and_selects(small_corpus_path, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from agile.sampling import select

    corpus = Corpus.open(small_corpus_path)
    clusters = corpus.column("cluster").to_numpy()
    ids = np.arange(0, corpus.count, 20)
    labels = (clusters[ids] == 3).astype(np.float32)
    config = TrainConfig.for_round(2, seed=0, learner="logreg")
    model = train(corpus, ids, labels, config)
    assert config.hidden == () and len(model.linear_layers()) == 1 and model.stats.random_negatives == 0
    x = corpus.vectors(ids).astype(np.float32)
    want = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=0).fit(x, labels > 0.5)
    np.testing.assert_allclose(model.score_vectors(x), want.predict_proba(x)[:, 1], atol=1e-5)
    picked = select(corpus, model, k=20, exclude_ids=ids, scan_dir=tmp_path / "scan")
    exact = select(corpus, model, k=20, exclude_ids=ids, kernel="exact")
    assert len(set(picked) & set(exact)) >= 19 and not np.isin(picked, ids).any()
    with pytest.raises(TrainingError):
        TrainConfig(hidden=(16,), learner="logreg")


def test_bfloat16_is_chosen_by_measurement_so_an_isa_cap_that_hides_it_gets_float32():
    import os
    import subprocess
    import sys
    code = ("from agile.mlp_fit import bfloat16_speedup, resolve_precision; "
            "print(bfloat16_speedup(), resolve_precision('auto'))")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}  # no bfloat16 units below AVX512_CORE_BF16
    speedup, dtype = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                    check=True).stdout.split()
    from agile.mlp_fit import BF16_MIN_SPEEDUP
    assert float(speedup) < BF16_MIN_SPEEDUP and dtype == "torch.float32"
