"""Simulated owners who start from example images, and corpora whose text model is withheld."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.synth import load_world
from agile.workspace import Workspace
from agile_cli.main import main
from eval.concepts import ClusterConcept, write_cluster_concepts
from eval.errors import EvalError
from eval.runner import run_simulation
from eval.simulate import ConceptRun, SimulationConfig
from eval.split import HeldOutSplit
from eval.starts import example_images
from eval.withheld import without_text

FAST = dict(random_negatives=1000, bootstrap=10)


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


@pytest.fixture(scope="module")
def split(corpus):
    return HeldOutSplit.for_corpus(corpus, 0.2)


@pytest.fixture(scope="module")
def misnamed(corpus, small_corpus_path) -> ClusterConcept:
    """A concept whose name points far from its images (the text tower misreads it): named "cluster 3", it is
    the populated cluster least like cluster 3."""
    _, centers = load_world(small_corpus_path)
    counts = np.bincount(corpus.column("cluster").to_numpy(), minlength=len(centers))
    far = next(int(c) for c in np.argsort(centers @ centers[3]) if counts[c] >= 100)
    return ClusterConcept("cluster 3", (far,), ("cluster 3",), (), "hard")


def test_image_seeds_are_positives_outside_the_heldout_split_chosen_per_concept_and_seed(corpus, split, misnamed):
    truth = misnamed.labels(corpus)
    seeds = example_images(truth, split, misnamed.name, seed=0)
    assert len(seeds) == 5 and truth[seeds].all() and not np.isin(seeds, split.ids).any()
    np.testing.assert_array_equal(seeds, example_images(truth, split, misnamed.name, seed=0))  # deterministic
    assert not np.array_equal(seeds, example_images(truth, split, misnamed.name, seed=1))
    assert len(example_images(truth, split, misnamed.name, 0, count=500)) == int(
        (truth & ~np.isin(np.arange(corpus.count), split.ids)).sum())  # all of them where fewer exist
    with pytest.raises(EvalError, match="no positive outside the held-out split"):
        example_images(np.isin(np.arange(corpus.count), split.ids), split, "x", 0)


def test_an_image_starts_first_batch_holds_neighbours_of_its_seeds(corpus, workspace, split, misnamed):
    clusters = corpus.column("cluster").to_numpy()
    target = misnamed.clusters[0]
    truth = misnamed.labels(corpus)
    text = ConceptRun(workspace, misnamed, truth, split, SimulationConfig(rounds=0, batch=60, **FAST), seed=0)
    image = ConceptRun(workspace, misnamed, truth, split,
                       SimulationConfig(rounds=0, batch=60, start="images", **FAST), seed=0)
    concept = image.store.concept()
    assert concept.positives == [misnamed.name] and concept.negatives == []  # the name only
    np.testing.assert_array_equal(concept.seeds.ids, image.seed_ids)
    from_text, from_images = text.session.expand(), image.session.expand()
    assert (clusters[from_text.ids] == target).mean() < 0.1  # the name finds another cluster
    assert (clusters[from_images.ids] == target).mean() > 0.3  # the seeds find their own
    # Every image of the batch is among the nearest of the queries, and those of the target cluster are the seeds'.
    near_seeds = workspace.neighbours_of(corpus.vectors(image.seed_ids).astype(np.float32), 300)
    assert np.isin(from_images.ids[clusters[from_images.ids] == target], near_seeds).all()
    result = ConceptRun(workspace, misnamed, truth, split,
                        SimulationConfig(rounds=1, batch=60, start="images", **FAST), seed=0).run()
    assert result["start"] == "images" and result["seed_ids"] == image.seed_ids.tolist() and result["text_model"]
    assert result["zero_shot"] is not None  # the suite's phrases' ranking stays the reference line


def test_the_start_is_part_of_the_run_key(small_corpus_path, corpus, misnamed, tmp_path):
    concepts = tmp_path / "concepts.json"
    write_cluster_concepts(concepts, [misnamed])
    text = SimulationConfig(rounds=0, batch=50, **FAST)
    out = tmp_path / "run"
    assert run_simulation(small_corpus_path, concepts, text, out, progress=False, plots=False)["runs_computed_now"] == 1
    images = SimulationConfig(rounds=0, batch=50, start="images", **FAST)
    again = run_simulation(small_corpus_path, concepts, images, out, progress=False, plots=False)
    assert again["runs_computed_now"] == 1  # never taken for the text start's run
    assert json.loads((out / "concepts" / "cluster-3__seed0.json").read_text())["start"] == "images"
    # A text start as explicit as "text" is the same run as before this setting existed (start None).
    assert run_simulation(small_corpus_path, concepts, text, tmp_path / "t2", progress=False,
                          plots=False)["config"]["start"] is None


def test_a_text_withheld_run_never_reports_zero_shot(small_corpus_path, corpus, workspace, misnamed, tmp_path, capsys):
    withheld = without_text(workspace)
    assert workspace.has_text and not withheld.has_text and withheld.corpus is workspace.corpus
    config = SimulationConfig(rounds=1, batch=50, text_model=False, **FAST)
    assert config.start == "images"  # the only start without text
    with pytest.raises(EvalError, match="start from images"):
        SimulationConfig(text_model=False, start="text")
    with pytest.raises(EvalError, match="crowd"):
        SimulationConfig(text_model=False, rater="crowd")
    concepts = tmp_path / "concepts.json"
    write_cluster_concepts(concepts, [misnamed, ClusterConcept("cluster 8", (8,), ("cluster 8",))])
    out = tmp_path / "none"
    report = run_simulation(small_corpus_path, concepts, config, out, progress=False)
    assert report["runs"] == 2
    for path in (out / "concepts").glob("*.json"):
        run = json.loads(path.read_text())
        assert run["zero_shot"] is None and run["text_model"] is False and run["start"] == "images"
        assert "zero-shot" not in run["stratified"]["models"]
        assert not any(r["fallback_zero_shot"] for r in run["rounds"])
    assert report["metrics"]["auc_pr"]["groups"]["all"]["zero_shot"] is None
    assert all(c["zero_shot"] is None for c in report["metrics"]["auc_pr"]["concepts"].values())
    assert all("zero-shot" not in names for names in report["stratified_auc_pr"].values())
    text = (out / "report.md").read_text()
    assert "zero-shot" not in text and "text model withheld" in text
    # A corpus that has no text model at all is refused unless told to go without, then runs the same way.
    bare = tmp_path / "bare"
    shutil.copytree(small_corpus_path, bare)
    manifest = json.loads((bare / "corpus.json").read_text())
    manifest["model"] = {"name": "dinov2-small", "text_model": False}
    (bare / "corpus.json").write_text(json.dumps(manifest))
    with pytest.raises(EvalError, match="--no-text"):
        run_simulation(bare, concepts, SimulationConfig(rounds=0, batch=50, **FAST), tmp_path / "b", progress=False)
    assert main(["eval", "simulate", str(bare), "--concepts", str(concepts), "--out", str(tmp_path / "b"),
                 "--rounds", "0", "--batch", "50", "--no-text", "--random-negatives", "1000", "--bootstrap", "0",
                 "--no-plots"]) == 0
    assert "zero-shot" not in capsys.readouterr().out
    compared = main(["eval", "compare", str(out), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")])
    compared_md = (tmp_path / "cmp" / "compare.md").read_text()
    assert compared == 0 and "no zero-shot: no text model" in compared_md and "most gained" in compared_md


def test_start_flags_reach_the_config_only_when_given():
    from agile_cli.eval_commands import simulation_config
    from agile_cli.main import build_parser

    base = ["eval", "simulate", "corpus", "--concepts", "suite", "--out", "out"]
    assert simulation_config(build_parser().parse_args(base)) == SimulationConfig()
    given = simulation_config(build_parser().parse_args([*base, "--start", "images", "--seed-images", "3"]))
    assert given == SimulationConfig(start="images", seed_images=3)
    assert simulation_config(build_parser().parse_args([*base, "--no-text"])) == SimulationConfig(text_model=False)
    assert simulation_config(build_parser().parse_args([*base, "--start", "text"])) == SimulationConfig()  # one key
