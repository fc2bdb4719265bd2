"""Simulated users end to end on small synthetic corpora: learning, held-out hygiene, resume, CLI."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.session import SessionSettings
from agile.synth import SynthSpec, load_world, synth_corpus
from agile.workspace import Workspace
from agile_cli.main import main
from eval.ceiling import probe_ceiling
from eval.compare import compare_runs
from eval.concepts import ClusterConcept, make_cluster_concepts, read_cluster_concepts, write_cluster_concepts
from eval.errors import ConceptsFileError, EvalError
from eval.runner import run_simulation
from eval.simulate import ConceptRun, SimulationConfig
from eval.split import HeldOutSplit
from eval.users import Crowd, CrowdSpec, Owner, crowd_notion

FAST = dict(random_negatives=1000, bootstrap=20)


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


@pytest.fixture(scope="module")
def loop(corpus, tmp_path_factory):
    return Workspace(corpus, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def split(corpus):
    return HeldOutSplit.for_corpus(corpus, 0.2)


@pytest.fixture(scope="module")
def overlapping_corpus(tmp_path_factory):
    """6,000 x 32 vectors in 30 clusters that overlap more than the shared small corpus."""
    out = tmp_path_factory.mktemp("overlap") / "c"
    return synth_corpus(out, SynthSpec(n=6000, dim=32, clusters=30, seed=5, spread=1.4, shard_size=6000),
                        workers=1, progress=False)


def _easy_concept(corpus) -> ClusterConcept:
    # a cluster of median size, named by its own phrase
    counts = np.bincount(corpus.column("cluster").to_numpy())
    c = int(np.argsort(counts)[len(counts) // 2])
    return ClusterConcept(f"cluster {c}", (c,), (f"cluster {c}",), (), "easy")


def test_heldout_split_is_fixed_and_sized(corpus, split):
    assert 0.15 < len(split) / corpus.count < 0.25
    again = HeldOutSplit.for_corpus(corpus, 0.2)
    np.testing.assert_array_equal(split.ids, again.ids)
    assert np.all(np.diff(split.ids) > 0)


@pytest.mark.slow
def test_simulated_owner_improves_over_round_zero_and_never_rates_heldout(overlapping_corpus, tmp_path):
    corpus = overlapping_corpus
    split = HeldOutSplit.for_corpus(corpus, 0.2)
    concept = _easy_concept(corpus)
    config = SimulationConfig(rounds=2, batch=60, random_negatives=3000, bootstrap=20)
    run = ConceptRun(Workspace(corpus, tmp_path), concept, concept.labels(corpus), split, config, seed=0)
    result = run.run()
    aucs = [r["metrics"]["auc_pr"] for r in result["rounds"]]
    assert [r["labels"] for r in result["rounds"]] == [60, 120, 180]
    assert aucs[2] > aucs[0] + 0.1 and aucs[2] > 0.6, aucs
    assert result["rounds"][0]["source"] == "expansion" and result["rounds"][1]["source"] == "margin"
    rated = run.store.labels().ids
    assert len(rated) == 180 and not np.isin(rated, split.ids).any()
    # ratings came from the ground truth
    ids, labels = run.store.labels().ids, run.store.labels().labels
    np.testing.assert_array_equal(labels.astype(bool), concept.labels(corpus)[ids])
    strat = result["stratified"]
    assert 20 <= strat["images"] <= 20 * 10 * 4
    assert set(strat["models"]) == {"zero-shot", "round 0", "round 1", "round 2"}
    assert strat["models"]["round 2"]["ci"]["auc_pr"][0] <= strat["models"]["round 2"]["auc_pr"]


def test_crowd_notion_broadens_and_narrows_along_text_similarity():
    rng = np.random.default_rng(0)
    truth = rng.random(2000) < 0.1
    text = rng.random(2000) + truth * 0.5
    spec = CrowdSpec(broaden=0.5, narrow=0.25, noise=0.0)
    notion = crowd_notion(truth, text, spec)
    pos = int(truth.sum())
    added, dropped = notion & ~truth, truth & ~notion
    assert added.sum() == round(0.5 * pos) and dropped.sum() == round(0.25 * pos)
    assert text[added].min() >= text[~truth & ~notion].max()  # the nearest negatives were added
    assert text[dropped].max() <= text[truth & notion].min()  # the furthest positives were dropped
    noisy = Crowd(truth, text, CrowdSpec(broaden=0, narrow=0, noise=0.2, raters=3, seed=1))
    ids = np.arange(2000)
    errors = (noisy.rate(ids, 0) != truth).mean()
    # majority of 3 at p=0.2 errs with 3p^2 - 2p^3 = 0.104
    assert 0.07 < errors < 0.14
    np.testing.assert_array_equal(Owner(truth).rate(ids[:50]), truth[:50])
    with pytest.raises(ValueError):
        CrowdSpec(raters=2)


def test_cluster_concepts_round_trip_and_errors(corpus, small_corpus_path, tmp_path):
    _, centers = load_world(small_corpus_path)
    concepts = make_cluster_concepts(corpus, centers, easy=2, hard=2, seed=0)
    assert [c.difficulty for c in concepts] == ["easy", "easy", "hard", "hard"]
    for c in concepts[2:]:
        named = int(c.positives[0].split()[1])
        excluded = int(c.negatives[0].split()[1])
        assert named in c.clusters and excluded not in c.clusters and len(c.clusters) == 2
    path = tmp_path / "c.json"
    write_cluster_concepts(path, concepts)
    assert read_cluster_concepts(path) == concepts
    labels = concepts[2].labels(corpus)
    assert labels.dtype == bool and 0 < labels.sum() < corpus.count
    path.write_text(json.dumps({"concepts": [{"name": "a", "clusters": []}]}))
    with pytest.raises(ConceptsFileError, match=r"c\.json: concepts\.0\.clusters"):
        read_cluster_concepts(path)
    path.write_text(json.dumps({"concepts": [{"name": "a", "clusters": [1]}, {"name": "a", "clusters": [2]}]}))
    with pytest.raises(ConceptsFileError, match="appears twice"):
        read_cluster_concepts(path)
    with pytest.raises(ConceptsFileError, match="no such"):
        read_cluster_concepts(tmp_path / "missing.json")


def test_concept_without_heldout_positives_is_refused(corpus, loop, split):
    empty = np.zeros(corpus.count, dtype=bool)
    concept = ClusterConcept("cluster 1", (1,), ("cluster 1",))
    with pytest.raises(EvalError, match="held-out split"):
        ConceptRun(loop, concept, empty, split, SimulationConfig(), seed=0)


def test_sparse_batches_are_counted_by_source_and_first_batch(tmp_path):
    from eval.compare import sparse_batches
    runs = {"a": [("expansion", 30), ("margin", 2), ("margin+mined", 9)], "b": [("expansion", 3), ("margin", 7)],
            "c": [("expansion", 0)]}
    (tmp_path / "concepts").mkdir()
    for name, rounds in runs.items():
        rows = [{"round": i, "source": src, "batch_positive_truth": pos} for i, (src, pos) in enumerate(rounds)]
        (tmp_path / "concepts" / f"{name}.json").write_text(json.dumps({"rounds": rows}))
    got = sparse_batches(tmp_path)
    assert got["all"] == {"sparse": 1, "batches": 3, "share": 0.3333}
    assert got["first"] == {"sparse": 1, "batches": 2, "share": 0.5}  # "c" had no AL round
    assert got["by_source"]["margin"] == {"sparse": 1, "batches": 2, "share": 0.5}
    assert got["by_source"]["margin+mined"]["sparse"] == 0 and "expansion" not in got["by_source"]


@pytest.mark.slow
def test_runner_resumes_writes_report_and_cli_compares(small_corpus_path, corpus, tmp_path, capsys):
    _, centers = load_world(small_corpus_path)
    concepts_file = tmp_path / "concepts.json"
    write_cluster_concepts(concepts_file, make_cluster_concepts(corpus, centers, easy=1, hard=1, seed=1))
    config = SimulationConfig(rounds=1, batch=50, **FAST)
    out = tmp_path / "run"
    report = run_simulation(small_corpus_path, concepts_file, config, out, progress=False)
    assert report["runs"] == 2 and report["runs_computed_now"] == 2
    groups = report["metrics"]["auc_pr"]["groups"]
    assert set(groups) == {"easy", "hard", "all"} and len(groups["all"]["rounds"]) == 2
    assert (out / "report.md").read_text().count("| round ") == 2
    for png in report["plots"]:
        assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    again = run_simulation(small_corpus_path, concepts_file, config, out, progress=False, plots=False)
    assert again["runs_computed_now"] == 0
    assert again["metrics"]["auc_pr"]["groups"] == report["metrics"]["auc_pr"]["groups"]

    code = main(["eval", "simulate", str(small_corpus_path), "--concepts", str(concepts_file),
                 "--out", str(tmp_path / "random"), "--rounds", "1", "--batch", "50", "--strategy", "random",
                 "--random-negatives", "1000", "--bootstrap", "0", "--no-plots"])
    assert code == 0 and "| round 1 | 100 |" in capsys.readouterr().out
    result = compare_runs([out, tmp_path / "random"], tmp_path / "cmp", "strategies")
    assert result["auc_pr"]["all"]["labels"] == [50, 100]
    margin, random = ("owner, margin, batch 50, random negatives 1000, learner ensemble",
                      "owner, random, batch 50, random negatives 1000, learner ensemble")
    assert set(result["auc_pr"]["all"]["runs"]) == {margin, random}
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 1000
    paired = result["paired_auc_pr"][random]
    assert paired["minus"] == margin and [r["labels"] for r in paired["rows"]] == [50, 100]
    assert paired["rows"][0]["mean"] == 0 and paired["rows"][0]["concepts"] == 2  # round 0 is the same expansion
    assert [s["all"]["batches"] for s in result["sparse_batches"]] == [2, 2]  # one AL batch per concept
    assert "fewer than 5 positives" in (tmp_path / "cmp" / "compare.md").read_text()
    ceiling = tmp_path / "ceiling.json"
    concepts = report["metrics"]["auc_pr"]["concepts"]
    ceiling.write_text(json.dumps({"concepts": [{"concept": name, "auc_pr": 0.5} for name in concepts]}))
    (label, share), = compare_runs([out], tmp_path / "cmp1", ceiling=ceiling)["ceiling_share"].items()
    assert label == margin and share["labels"] == 100
    assert share["mean"] == pytest.approx(np.mean([c["rounds"][-1] / 0.5 for c in concepts.values()]))
    assert "share of ceiling" in (tmp_path / "cmp1" / "compare.md").read_text()
    assert main(["eval", "compare", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    first = make_cluster_concepts(corpus, centers, easy=1, hard=1, seed=1)[0].name
    one = run_simulation(small_corpus_path, concepts_file, replace(config, epochs=3), tmp_path / "one",
                         progress=False, plots=False, only=[first])
    assert one["runs"] == 1 and one["config"]["epochs"] == 3
    partial = compare_runs([out, tmp_path / "one"], tmp_path / "cmp2")  # the second run lacks a group
    assert (tmp_path / "cmp2" / "compare.png").stat().st_size > 1000 and len(partial["auc_pr"]["all"]["runs"]) == 2
    assert main(["eval", "simulate", str(small_corpus_path), "--concepts", str(concepts_file), "--out",
                 str(tmp_path / "none"), "--only", "no such concept"]) == 2
    two_seeds = run_simulation(small_corpus_path, concepts_file, replace(config, seeds=2), out,
                               progress=False, plots=False)
    assert two_seeds["runs"] == 4 and two_seeds["runs_computed_now"] == 2  # only the new seed ran


@dataclass(frozen=True)
class _CoinFlipConcept:
    """Labels unrelated to the embedding: no probe can beat their prevalence."""
    name: str = "coin flips"
    description: str = ""
    positives: tuple = ("coin flips",)
    negatives: tuple = ()
    difficulty: str = "hard"

    def labels(self, corpus):
        return np.random.default_rng(3).random(corpus.count) < 0.2


def test_linear_probe_ceiling_separates_embedded_from_unembedded_concepts(corpus, split):
    rows = probe_ceiling(corpus, [_easy_concept(corpus), _CoinFlipConcept()], split, train_rows=3000)
    cluster, coin = rows
    assert cluster["auc_pr"] > 0.95, cluster
    assert abs(coin["auc_pr"] - coin["prevalence"]) < 0.08, coin
    assert cluster["train_positives"] > 0 and cluster["difficulty"] == "easy"


def test_training_settings_reach_the_library_only_when_given():
    from agile.training import TrainConfig

    assert SimulationConfig().session_settings().train_overrides == {"learner": "ensemble"}  # the session's
    overrides = SimulationConfig(epochs=3, lr=1e-3, random_negatives=500).session_settings().train_overrides
    config = TrainConfig.for_round(1, seed=0, **overrides)
    assert (config.epochs, config.lr, config.random_negatives) == (3, 1e-3, 500)


def test_simulate_flags_left_out_keep_the_config_defaults():
    from agile_cli.eval_commands import simulation_config
    from agile_cli.main import build_parser

    base = ["eval", "simulate", "corpus", "--concepts", "suite", "--out", "out"]
    assert simulation_config(build_parser().parse_args(base)) == SimulationConfig()
    given = simulation_config(build_parser().parse_args([*base, "--batch", "7", "--crowd-noise", "0.2"]))
    assert given == replace(SimulationConfig(batch=7), crowd=CrowdSpec(noise=0.2))


def test_the_logistic_regression_loop_runs_as_a_peer(corpus, loop, split):
    concept = _easy_concept(corpus)
    config = SimulationConfig(rounds=1, batch=60, learner="logreg", bootstrap=0)
    result = ConceptRun(loop, concept, concept.labels(corpus), split, config, seed=0).run()
    assert [r["labels"] for r in result["rounds"]] == [60, 120]
    assert result["rounds"][1]["metrics"]["auc_pr"] > 0.5
    # The default loop is the session's, named in the run's configuration so runs keep apart when it changes.
    assert SimulationConfig().session_settings().learner == SessionSettings().learner == "ensemble"
    assert SimulationConfig().to_dict()["learner"] == "ensemble"
    assert SimulationConfig(learner="mlp").session_settings().train_overrides == {}  # exactly the paper's
