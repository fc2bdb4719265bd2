"""The stopping signal: how much a version relabels the corpus's fixed sample, recorded by the session, read
by the assistant and summarised against held-out gains by the simulator's report."""
from __future__ import annotations

import numpy as np
import pytest

from agile.assistant import AssistantState, advise
from agile.corpus import Corpus
from agile.session import Session, SessionSettings
from agile.session_store import TRAINING, MemoryStore
from agile.stability import MIN_SAMPLE_POSITIVES, SETTLED_VERSIONS, agreement_kappa, fixed_sample
from agile.synth import load_world
from agile_cli.main import main
from eval.concepts import make_cluster_concepts, write_cluster_concepts
from eval.runner import run_simulation
from eval.simulate import SimulationConfig
from eval.stopping import stopping_summary, stopping_table


def test_kappa_is_one_for_identical_labels_and_corrects_for_chance():
    a = np.zeros(1000, bool)
    assert agreement_kappa(a, a.copy()) == 1.0  # one label everywhere: kappa is 0/0, the labels agree
    a[:10] = True
    b = a.copy()
    b[:5] = False  # half the rare positives lost: 99.5% of labels agree, kappa says much less
    expected_agree, p_a, p_b = 0.995, 0.01, 0.005
    chance = p_a * p_b + (1 - p_a) * (1 - p_b)
    assert agreement_kappa(a, b) == pytest.approx((expected_agree - chance) / (1 - chance))
    assert agreement_kappa(a, b) < 0.7


def test_a_version_that_relabels_nothing_counts_towards_settled_and_new_evidence_resets_it(workspace, clusters):
    truth = clusters == 3
    store = MemoryStore.create("cluster 3", negatives=["cluster 4"])
    settings = SessionSettings(batch_size=40, random_negatives=2000, lr=1e-3)
    session = Session(workspace, store, seed=0, settings=settings)
    batch = session.expand()
    store.rate(batch.ids, truth[batch.ids])
    first = session.train()
    assert store.sidecar(first.version).stability is None  # nothing to compare a first version with
    # Retraining on the same ratings gives the same model (seeded): the sample's labels do not move.
    for streak in range(1, SETTLED_VERSIONS + 1):
        s = store.sidecar(session.train().version).stability
        assert (s.changed, s.kappa, s.calm_versions) == (0.0, 1.0, streak)
        assert s.settled == (streak >= SETTLED_VERSIONS)
        assert s.sample == len(fixed_sample(workspace.corpus).ids)
    state = AssistantState(workspace, store)
    assert [f.kind for f in advise(state, only={"progress"}) if f.key == "model-churn"] == ["model-stopped"]
    # The owner now says every image was the opposite: the model must move, and the streak ends.
    labels = store.labels(TRAINING)
    store.rate(labels.ids, labels.labels < 0.5)
    moved = store.sidecar(session.train().version).stability
    assert moved.changed > 0.01 and moved.kappa < 0.9 and moved.calm_versions == 0 and not moved.settled
    state = AssistantState(workspace, store)
    assert [f.kind for f in advise(state, only={"progress"}) if f.key == "model-churn"] == ["model-changing"]


def _run(aucs, stabilities):
    rounds = [{"metrics": {"auc_pr": a}, "stability": s} for a, s in zip(aucs, stabilities)]
    return {"rounds": rounds}


def test_the_report_sets_next_round_gains_after_settled_versions_against_the_rest():
    calm = {"changed": 0.001, "kappa": 0.99, "positive": 0.05, "sample": 4000}
    moving = {"changed": 0.03, "kappa": 0.6, "positive": 0.05, "sample": 4000}
    # A model that labels (almost) nothing positive agrees with itself about nothing: never settled.
    blind = {"changed": 0.0, "kappa": 1.0, "positive": (MIN_SAMPLE_POSITIVES - 1) / 4000, "sample": 4000}
    runs = [_run([0.2, 0.4, 0.6, 0.61, 0.61, 0.61], [None, moving, moving, calm, calm, calm]),
            _run([0.5, 0.5, 0.5, 0.5], [None, calm, calm, calm]),
            _run([0.1, 0.1, 0.1, 0.9], [None, blind, blind, blind])]
    summary = stopping_summary(runs)
    settled, unsettled = summary["settled"]["true"], summary["settled"]["false"]
    # Rounds with a next round (the last has none); settled from the second calm version in a row on.
    assert SETTLED_VERSIONS == 2 and (settled["rounds"], unsettled["rounds"]) == (2, 6)
    assert settled["next_gain"] == pytest.approx(0.0) and settled["useful_next"] == 0.0
    assert unsettled["next_gain"] == pytest.approx((0.2 + 0.01 + 0 + 0 + 0 + 0.8) / 6)
    assert unsettled["left_gain"] == pytest.approx((0.21 + 0.01 + 0 + 0 + 0.8 + 0.8) / 6)
    assert [b["rounds"] for b in summary["changed"]] == [6, 2]
    assert "| settled | 2 |" in stopping_table(summary)
    assert stopping_summary([_run([0.1, 0.2], [None, None])]) is None


def test_a_simulation_records_the_signal_and_the_cli_reports_it(small_corpus_path, tmp_path, capsys):
    corpus = Corpus.open(small_corpus_path)
    _, centers = load_world(small_corpus_path)
    concepts = tmp_path / "concepts.json"
    write_cluster_concepts(concepts, make_cluster_concepts(corpus, centers, easy=1, hard=0, seed=1))
    config = SimulationConfig(rounds=2, batch=40, random_negatives=1000, bootstrap=0)
    run_simulation(small_corpus_path, concepts, config, tmp_path / "run", progress=False, plots=False)
    assert main(["eval", "stopping", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "1 runs" in out and "| versions | rounds |" in out
    assert main(["eval", "stopping", str(tmp_path / "nothing")]) == 2
