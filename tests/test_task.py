"""Multi-category tasks in the library: definitions, a session's whole loop, metrics."""
from __future__ import annotations

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.evaluation import TaskMetrics, compute_task_metrics
from agile.sampling import UnknownStrategyError
from agile.session import Session, SessionSettings
from agile.session_store import EVALUATION, MemoryStore
from agile.task import NONE_OF_THESE, Category, Task, TaskError

CLUSTERS = (3, 8, 14)  # the categories; every other cluster is "none of these"


def _task(none_of_these: bool = True) -> Task:
    return Task.create([Category.create(f"cluster {c}") for c in CLUSTERS], none_of_these)


def _truth(clusters: np.ndarray, none_of_these: bool = True) -> np.ndarray:
    truth = np.full(len(clusters), len(CLUSTERS) if none_of_these else -1)
    for i, c in enumerate(CLUSTERS):
        truth[clusters == c] = i
    return truth


def _first_model(workspace, clusters, seed: int):
    """A task's first version, trained on its rated expansion batch; and that batch."""
    truth = _truth(clusters)
    store = MemoryStore.create_task("three clusters", _task())
    settings = SessionSettings(batch_size=60, random_negatives=1000, lr=1e-3)
    session = Session(workspace, store, seed=seed, settings=settings)
    batch = session.expand()
    store.rate(batch.ids, truth[batch.ids].tolist())
    return session.train().model, batch


@pytest.mark.parametrize("categories, none, message", [
    (["a"], False, "2 to 10"), ([f"c{i}" for i in range(11)], False, "2 to 10"), (["a", "A "], False, "same name"),
    (["a", NONE_OF_THESE], True, "none_of_these")])
def test_a_task_needs_two_to_ten_named_categories(categories, none, message):
    with pytest.raises(TaskError, match=message):
        Task.create([Category.create(c) for c in categories], none)


def test_a_phrase_belongs_to_one_category_and_answers_are_class_indices():
    with pytest.raises(TaskError, match="belongs to categories"):
        Task.create([Category.create("boots", ["shoes"]), Category.create("sandals", ["Shoes"])])
    task = Task.create([Category.create("boots", ["hiking boots", "boots"]), Category.create("sandals")], True)
    assert task.classes == ["boots", "sandals", NONE_OF_THESE] and task.none_class == 2
    assert task.phrases == ["boots", "hiking boots", "sandals"]
    assert task.check_answer(2) == 2
    for bad in (3, -1, True, "1"):
        with pytest.raises(TaskError, match="class index 0..2"):
            task.check_answer(bad)


def test_task_metrics_per_class_macro_and_confusion():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    probabilities = rng.dirichlet(np.ones(3), 300)
    probabilities[np.arange(300), truth] += 0.5  # informative, not perfect
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    m = compute_task_metrics(truth, probabilities, ["a", "b", "c"], bootstrap=50)
    assert isinstance(m, TaskMetrics) and m.n == 300 and sum(m.counts) == 300
    assert np.array(m.confusion).sum() == 300 and np.trace(m.confusion) / 300 == pytest.approx(m.accuracy)
    assert m.macro_auc_pr == pytest.approx(np.mean(m.auc_pr)) and 0.5 < m.macro_auc_pr < 1
    lo, hi = m.ci["macro_auc_pr"]
    assert lo <= m.macro_auc_pr <= hi and "auc_pr:b" in m.ci
    one = compute_task_metrics(np.zeros(10, int) + np.arange(10) % 2, probabilities[:10], ["a", "b", "c"])
    assert one.auc_pr[2] is None  # no image of class c: undefined, left out of the macro mean


@pytest.mark.parametrize("none_of_these", [True, False])
def test_a_task_session_runs_the_whole_loop(workspace, clusters, none_of_these):
    truth = _truth(clusters, none_of_these)
    rated_ok = truth >= 0  # without "none of these", only images of the categories can be rated
    store = MemoryStore.create_task("three clusters", _task(none_of_these))
    session = Session(workspace, store, seed=0, settings=SessionSettings(batch_size=60, random_negatives=1000, lr=1e-3))
    batch = session.expand()
    assert set(truth[batch.ids]) >= {0, 1, 2}  # every category's phrase brought its images
    store.rate(batch.ids, [int(t) if ok else None for t, ok in zip(truth[batch.ids], rated_ok[batch.ids])])
    for r, strategy in enumerate(("margin", "entropy", "margin")):
        trained, batch = session.round(strategy)
        assert trained.model.classes == 4 - (not none_of_these) and batch.source.split("+")[0] == strategy
        if r == 0 and none_of_these:  # the phrases brought no "none of these": random images are mixed in
            assert batch.source == "margin+random" and "'none of these'" in batch.note, batch.note
            assert len(np.unique(batch.ids)) == 60 and (truth[batch.ids[:30]] == 3).mean() > 0.5
        store.rate(batch.ids, [int(t) if ok else None for t, ok in zip(truth[batch.ids], rated_ok[batch.ids])])
    with pytest.raises(UnknownStrategyError, match="task"):
        session.next_batch(trained, "margin-pm")
    trained = session.train()
    sidecar = store.sidecar(trained.version)
    assert sidecar.concept.classes == _task(none_of_these).classes and sum(sidecar.labels.classes) == 240 - sum(
        r.answer is None for r in store.ratings.values())
    probabilities = trained.model.score_vectors(workspace.corpus.vectors(np.arange(workspace.corpus.count)))
    assert probabilities.shape[1] == trained.model.classes
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    inside = rated_ok
    assert (probabilities[inside].argmax(axis=1) == truth[inside]).mean() > 0.9
    evaluation = session.evaluation_set()
    assert evaluation.models == [f"v{v}" for v in store.versions()[-3:]]  # no zero-shot for a task
    assert len(evaluation.batch.ids) <= 3 * 4 * 10 * 5  # per stratum per class: 20 / classes
    ids = evaluation.batch.ids
    store.rate(ids, [int(t) if ok else None for t, ok in zip(truth[ids], rated_ok[ids])])
    result = session.evaluate(bootstrap=20)
    assert result.ready and result.rated == int(rated_ok[ids].sum()), result.message
    latest = result.models[-1]
    assert latest.threshold is None and isinstance(latest.metrics, TaskMetrics)
    assert latest.metrics.macro_auc_pr > 0.9 and len(latest.metrics.confusion) == trained.model.classes
    assert store.labels(EVALUATION).ids.tolist() == sorted(ids[rated_ok[ids]].tolist())


def test_a_task_round_over_the_int8_kernel_picks_the_exact_kernels_batch(workspace, clusters, tmp_path):
    from agile.int8_mlp import int8_available
    from agile.sampling import select

    if not int8_available():
        pytest.skip("no int8 kernels in this torch build")
    model, batch = _first_model(workspace, clusters, seed=1)
    corpus = Corpus.open(workspace.corpus.root)
    for strategy in ("margin", "entropy", "cluster-margin"):
        exact = select(corpus, model, 50, strategy, batch.ids, kernel="exact")
        fast = select(corpus, model, 50, strategy, batch.ids, kernel="int8", scan_dir=tmp_path / "scan")
        assert len(np.intersect1d(exact, fast)) >= 48, strategy


def test_corpus_wide_scores_of_a_task_give_every_class_and_the_likeliest(workspace, clusters, tmp_path):
    import pyarrow.parquet as pq

    from agile.corpus_scores import ScoreJobError, score_to_parquet

    model, _ = _first_model(workspace, clusters, seed=2)
    summary = score_to_parquet(workspace.corpus, model, tmp_path / "scores.parquet")
    table = pq.read_table(tmp_path / "scores.parquet")
    assert summary["rows"] == workspace.corpus.count and table.column_names == ["id", "uri", "class", "probabilities"]
    every = np.stack(table["probabilities"].to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(every, model.score_vectors(workspace.corpus.vectors(np.arange(workspace.corpus.count))),
                               rtol=1e-5, atol=1e-6)
    assert np.array_equal(table["class"].to_numpy(), every.argmax(axis=1))
    for asked in ({"threshold": 0.5}, {"top": 10}):
        with pytest.raises(ScoreJobError, match="no one score"):
            score_to_parquet(workspace.corpus, model, tmp_path / "other.parquet", **asked)


def test_balanced_margin_asks_about_every_predicted_class_and_streams_exactly(workspace, clusters, tmp_path):
    from agile.int8_mlp import int8_available
    from agile.sampling import balanced_margin, select

    rng = np.random.default_rng(4)
    scores = rng.dirichlet(np.ones(4), 2000).astype(np.float32)
    scores[:1500, 0] += 3  # the model puts most images in class 0
    scores /= scores.sum(axis=1, keepdims=True)
    picked = balanced_margin(scores, 40)
    predicted = scores.argmax(axis=1)
    assert np.bincount(predicted[picked], minlength=4).tolist() == [10, 10, 10, 10]
    gaps = np.sort(scores, axis=1)[:, -1] - np.sort(scores, axis=1)[:, -2]
    for c in range(4):  # each class's share is its most uncertain
        mine = np.flatnonzero(predicted == c)
        assert set(picked[predicted[picked] == c]) == set(mine[np.argsort(gaps[mine], kind="stable")[:10]])
    model, batch = _first_model(workspace, clusters, seed=3)
    everything = model.score_vectors(workspace.corpus.vectors(np.arange(workspace.corpus.count)))
    unrated = np.setdiff1d(np.arange(workspace.corpus.count), batch.ids)
    want = unrated[balanced_margin(everything[unrated], 40)]
    for kernel in ("exact", "int8") if int8_available() else ("exact",):
        got = select(workspace.corpus, model, 40, "balanced-margin", batch.ids, kernel=kernel, rows=700,
                     scan_dir=tmp_path / "scan")
        assert len(np.intersect1d(got, want)) >= (40 if kernel == "exact" else 38), kernel
