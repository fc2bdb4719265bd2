"""SipHash evaluation sets and metrics: pinned vectors, per-stratum counts, hand-checked values."""
from __future__ import annotations

import numpy as np
import pytest

from eval.errors import EvalError
from agile.evaluation.hashing import SIPHASH_KEY, hash_fraction, siphash64, uri_hashes
from agile.evaluation.metrics import compute_metrics
from agile.evaluation.stratified import StrataSpec, merged_stratified_ids, stratified_ids, stratum_of

# Reference SipHash-2-4 outputs (Aumasson & Bernstein, vectors.h): key 00 01 .. 0f,
# message i = bytes 00 01 .. (i-1); digests as little-endian 64-bit integers.
REFERENCE_KEY = bytes(range(16))
REFERENCE = {0: 0x726FDB47DD0E0E31, 1: 0x74F839C593DC67FD, 2: 0x0D6C8009D9A94F5A,
             3: 0x85676696D7FB7E2D, 8: 0x93F5F5799A932462, 15: 0xA129CA6149BE45E5}


@pytest.mark.parametrize("length", sorted(REFERENCE))
def test_siphash_matches_published_vectors(length):
    assert siphash64(bytes(range(length)), REFERENCE_KEY) == REFERENCE[length]


def test_uri_hashes_use_the_fixed_key_and_utf8():
    uris = ["demo://0/1", "synth://0/2", "ümlaut.png"]
    got = uri_hashes(uris)
    assert got.dtype == np.uint64
    assert [int(h) for h in got] == [siphash64(u.encode(), SIPHASH_KEY) for u in uris]
    assert len(set(got.tolist())) == 3
    assert int(uri_hashes(["a"], REFERENCE_KEY)[0]) != int(got[0])


def test_hash_fraction_is_deterministic_and_about_right():
    hashes = uri_hashes(f"synth://0/{i}" for i in range(20000))
    mask = hash_fraction(hashes, 0.2)
    assert 0.18 < mask.mean() < 0.22
    np.testing.assert_array_equal(mask, hash_fraction(hashes.copy(), 0.2))
    assert hash_fraction(hashes, 1.0).all()
    with pytest.raises(ValueError):
        hash_fraction(hashes, 0.0)


def test_stratum_edges():
    np.testing.assert_array_equal(stratum_of(np.array([-0.3, 0.0, 0.0999, 0.1, 0.55, 0.9, 1.0, 1.7])),
                                  [0, 0, 0, 1, 5, 9, 9, 9])


def test_stratified_ids_take_lowest_hashes_per_stratum():
    rng = np.random.default_rng(3)
    n = 5000
    scores = rng.beta(0.5, 3.0, n)  # skewed: upper strata are sparse
    hashes = uri_hashes(f"img-{i}" for i in range(n))
    spec = StrataSpec(per_stratum=20)
    chosen = stratified_ids(scores, hashes, spec=spec)
    strata = stratum_of(scores)
    counts = np.bincount(strata, minlength=10)
    got = np.bincount(strata[chosen], minlength=10)
    np.testing.assert_array_equal(got, np.minimum(counts, 20))
    assert counts.min() < 20 < counts.max()  # the test exercises both cases
    for s in range(10):
        members = np.flatnonzero(strata == s)
        want = members[np.argsort(hashes[members])[:20]]
        assert set(chosen[strata[chosen] == s]) == set(want)
    np.testing.assert_array_equal(chosen, stratified_ids(scores, hashes, spec=spec))  # deterministic


def test_stratified_ids_respect_given_ids_and_merge_dedups():
    rng = np.random.default_rng(4)
    ids = np.arange(1000, 4000)
    hashes = uri_hashes(f"x{i}" for i in ids)
    a, b = rng.random(len(ids)), rng.random(len(ids))
    set_a = stratified_ids(a, hashes, ids)
    assert set(set_a) <= set(ids) and len(set_a) == 200
    merged = merged_stratified_ids([a, b, a], hashes, ids)
    assert len(merged) == len(set(merged)) == len(set(set_a) | set(stratified_ids(b, hashes, ids)))
    # each model contributes its full stratified set
    assert set(set_a) <= set(merged)
    with pytest.raises(ValueError):
        stratified_ids(a, hashes[:-1], ids)


def test_metrics_hand_checked():
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.1])
    m = compute_metrics(labels, scores, threshold=0.5)
    # ranking 1,0,1,0: precision at the two positives 1 and 2/3 -> AP = (1 + 2/3) / 2
    assert m.auc_pr == pytest.approx(5 / 6)
    # pairs (pos, neg): (.9,.8) (.9,.1) (.4,.8) (.4,.1) -> 3 of 4 ordered
    assert m.auc_roc == pytest.approx(0.75)
    # predicted positive at 0.5: .9, .8 -> TP 1, FP 1, FN 1 -> F1 0.5; correct: .9 and .1 -> 0.5
    assert m.f1 == pytest.approx(0.5) and m.accuracy == pytest.approx(0.5)
    assert (m.n, m.positives, m.ci) == (4, 2, {})
    shifted = compute_metrics(labels, scores, threshold=0.3)
    assert shifted.f1 == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1)) and shifted.accuracy == pytest.approx(0.75)


def test_bootstrap_intervals_bracket_the_point_and_shrink_with_data():
    rng = np.random.default_rng(0)

    def sample(n):
        labels = rng.random(n) < 0.3
        return labels, labels * 0.5 + rng.random(n)

    small = compute_metrics(*sample(200), bootstrap=200, seed=1)
    large = compute_metrics(*sample(5000), bootstrap=200, seed=1)
    for m in (small, large):
        for name in ("auc_pr", "auc_roc", "f1", "accuracy"):
            lo, hi = m.ci[name]
            assert lo <= getattr(m, name) <= hi
    width = lambda m: m.ci["auc_pr"][1] - m.ci["auc_pr"][0]  # noqa: E731
    assert width(large) < width(small)
    labels, scores = sample(300)
    assert compute_metrics(labels, scores, bootstrap=50, seed=2).ci == \
        compute_metrics(labels, scores, bootstrap=50, seed=2).ci  # seeded: reproducible


def test_metrics_reject_single_class_and_mismatch():
    with pytest.raises(EvalError, match="both positives and negatives"):
        compute_metrics(np.zeros(5), np.arange(5.0))
    with pytest.raises(EvalError, match="labels but"):
        compute_metrics(np.array([0, 1]), np.array([0.1, 0.2, 0.3]))
