"""Simulated owners of multi-category tasks: the task files, a run that learns, resume, comparison, CLI."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.demo import scene_at, scene_columns
from agile.demo.attributes import Scene, SceneObject
from agile.demo.table import COLUMNS
from agile.demo.tasks import DemoTaskError, load_tasks as load_demo_tasks
from agile.task import NONE_OF_THESE
from agile.workspace import Workspace
from agile_cli.main import main
from eval.compare import compare_runs
from eval.errors import EvalError, TasksFileError
from eval.split import HeldOutSplit
from eval.task_run import TaskRun, TaskSimulationConfig
from eval.task_runner import run_task_simulation
from eval.tasks import NO_CLASS, ClusterCategory, ClusterTask, load_tasks, read_cluster_tasks

FAST = dict(random_negatives=1000, bootstrap=10)


class _DemoCorpus:
    """The attribute columns of a few scenes, as a demo corpus holds them (the loader reads nothing else)."""

    def __init__(self, scenes: list[Scene]):
        self.table, self.count, self.root = scene_columns(scenes), len(scenes), Path("scenes")
        self.manifest = SimpleNamespace(metadata_columns=list(COLUMNS))

    def column(self, name: str):
        return self.table.column(name)


def _obj(shape: str, color: str = "red", pattern: str = "solid") -> SceneObject:
    return SceneObject(shape, color, "medium", pattern, 0.5, 0.5, 8.0, 0.0)


def _write(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps({"format": "agile-demo-tasks", "version": 1, "tasks": tasks}))
    return path


def _category(name: str, predicate: str, *phrases: str) -> dict:
    return {"name": name, "phrases": list(phrases), "predicate": predicate}


def test_the_shipped_demo_tasks_split_every_scene_into_one_class():
    tasks = load_demo_tasks()
    names = [t.name for t in tasks]
    assert {"background", "shape family", "how many objects"} <= set(names) and len(tasks) >= 4
    corpus = _DemoCorpus([scene_at(0, i) for i in range(3000)])
    for task in load_tasks("suite", corpus):
        labels = task.labels(corpus)
        classes = task.definition().classes
        assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() < len(classes), task.name
        assert (np.bincount(labels, minlength=len(classes)) > 0).all(), task.name  # every class occurs
        assert (classes[-1] == NONE_OF_THESE) == task.none_of_these
    count = next(t for t in tasks if t.name == "how many objects")
    assert not count.none_of_these
    np.testing.assert_array_equal(count.labels(corpus), np.minimum(corpus.column("n_objects").to_numpy(), 3) - 1)


def test_a_task_whose_categories_overlap_is_refused_naming_the_file_and_the_task(tmp_path):
    corpus = _DemoCorpus([Scene("white", "", (_obj("star", "red"),)), Scene("grass", "", (_obj("circle", "blue"),)),
                          Scene("sky", "", (_obj("star", "blue"),))])
    path = _write(tmp_path / "tasks.json", [
        {"name": "fine", "description": "d", "none_of_these": True,
         "categories": [_category("on grass", "background == grass"), _category("in the sky", "background == sky")]},
        {"name": "stars or red", "description": "d", "none_of_these": True,
         "categories": [_category("stars", "any(shape == star)"), _category("red things", "any(color == red)")]}])
    assert [t.name for t in load_demo_tasks(path)] == ["fine", "stars or red"]  # the file itself is well formed
    with pytest.raises(TasksFileError, match=r"tasks\.json.*'stars or red'.*'stars' and 'red things' both fit 1 "
                                             r"scenes \(the first: row 0\)"):
        load_tasks(path, corpus)
    # Without "none of these", a scene of no category is a definition error too.
    _write(path, [{"name": "shapes", "description": "d", "none_of_these": False,
                   "categories": [_category("stars", "all(shape == star)"), _category("hearts", "all(shape == heart)")]}])
    with pytest.raises(TasksFileError, match=r"task 'shapes': 1 scenes fit no category .*no 'none of these'"):
        load_tasks(path, corpus)
    # A predicate's mistake names the task and the category; a malformed entry names the task.
    _write(path, [{"name": "typo", "description": "d", "none_of_these": True,
                   "categories": [_category("stars", "any(shape == starr)"), _category("red", "any(color == red)")]}])
    with pytest.raises(DemoTaskError, match=r"tasks\.json: task 'typo', category 'stars': unknown shape 'starr'"):
        load_demo_tasks(path)
    _write(path, [{"name": "one", "description": "d", "none_of_these": True, "categories": "x"}])
    with pytest.raises(DemoTaskError, match=r"tasks\.json: task 'one': categories"):
        load_demo_tasks(path)
    _write(path, [{"name": "same phrase", "description": "d", "none_of_these": True,
                   "categories": [_category("stars", "any(shape == star)", "shapes"),
                                  _category("hearts", "any(shape == heart)", "Shapes")]}])
    with pytest.raises(DemoTaskError, match=r"task 'same phrase': phrase 'Shapes' belongs to categories"):
        load_demo_tasks(path)
    with pytest.raises(TasksFileError, match="demo corpus"):
        load_tasks("suite", SimpleNamespace(manifest=SimpleNamespace(metadata_columns=["cluster"]), root="c"))


def test_cluster_tasks_refuse_a_cluster_in_two_categories(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"tasks": [{"name": "t", "categories": [
        {"name": "cluster 1", "clusters": [1, 2]}, {"name": "cluster 3", "clusters": [3, 2]}]}]}))
    with pytest.raises(TasksFileError, match=r"t\.json: task 't': cluster 2 is in categories 'cluster 1' and"):
        read_cluster_tasks(path)
    path.write_text(json.dumps({"tasks": [{"name": "t", "categories": [{"name": "cluster 1", "clusters": [1]}]}]}))
    with pytest.raises(TasksFileError, match=r"t\.json: tasks\.0\.categories"):
        read_cluster_tasks(path)


@pytest.fixture(scope="module")
def corpus(small_corpus_path):
    return Corpus.open(small_corpus_path)


def _three_clusters(none_of_these: bool = True) -> ClusterTask:
    return ClusterTask("three clusters", tuple(ClusterCategory(f"cluster {c}", (c,)) for c in (3, 8, 14)),
                       none_of_these)


def test_a_task_run_improves_macro_auc_pr_over_its_first_round_and_never_rates_heldout(corpus, workspace):
    task = _three_clusters()
    truth = task.labels(corpus)
    split = HeldOutSplit.for_corpus(corpus, 0.2)
    run = TaskRun(workspace, task, truth, split, TaskSimulationConfig(rounds=2, batch=60, **FAST), seed=0)
    result = run.run()
    aucs = [r["metrics"]["macro_auc_pr"] for r in result["rounds"]]
    assert [r["labels"] for r in result["rounds"]] == [60, 120, 180]
    sources = [r["source"] for r in result["rounds"]]  # "margin+random": a scarce class's share mixed in
    assert sources[0] == "expansion" and all(s.startswith("margin") for s in sources[1:]), sources
    assert aucs[-1] > aucs[0] + 0.1 and aucs[-1] > 0.8, aucs
    assert len(result["rounds"][-1]["metrics"]["auc_pr"]) == 4 and result["task"]["classes"][-1] == NONE_OF_THESE
    rated = run.store.labels()
    assert not np.isin(rated.ids, split.ids).any()
    np.testing.assert_array_equal(rated.labels.astype(int), truth[rated.ids])  # answers from the ground truth
    strat = result["stratified"]
    assert list(strat["models"]) == ["v1", "v2", "v3"] and strat["images"] > 0 and sum(strat["counts"]) > 0
    # A task without "none of these": the owner cannot tell images of other clusters, and they measure nothing.
    plain = _three_clusters(none_of_these=False)
    run = TaskRun(workspace, plain, plain.labels(corpus), split, TaskSimulationConfig(rounds=1, batch=60, **FAST), 1)
    result = run.run()
    skipped = np.intersect1d(run.store.skipped_ids(), run.store.batch_ids("training"))  # not the evaluation set's
    assert len(skipped) == result["rounds"][-1]["skipped"] > 0
    assert (plain.labels(corpus)[run.store.skipped_ids()] == NO_CLASS).all()
    assert sum(result["heldout"]["counts"]) == int((plain.labels(corpus)[split.ids] != NO_CLASS).sum())
    with pytest.raises(EvalError, match="margin-pm"):
        TaskSimulationConfig(strategy="margin-pm")


def test_the_task_runner_resumes_compares_and_runs_from_the_command_line(small_corpus_path, tmp_path, capsys):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"format": "agile-cluster-tasks", "version": 1, "tasks": [
        {"name": "three clusters", "categories": [{"name": f"cluster {c}", "clusters": [c]} for c in (3, 8, 14)]},
        {"name": "two clusters", "categories": [{"name": f"cluster {c}", "clusters": [c]} for c in (1, 7)]}]}))
    config = TaskSimulationConfig(rounds=1, batch=50, **FAST)
    out = tmp_path / "margin"
    report = run_task_simulation(small_corpus_path, tasks, config, out, progress=False)
    assert report["kind"] == "tasks" and report["runs"] == 2 and report["runs_computed_now"] == 2
    stored = {p.name: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json")}
    assert set(stored) == {"three-clusters__seed0.json", "two-clusters__seed0.json"}
    again = run_task_simulation(small_corpus_path, tasks, config, out, progress=False)
    assert again["runs_computed_now"] == 0 and again["metrics"] == report["metrics"]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "tasks").glob("*.json")} == stored  # nothing rewritten
    more = run_task_simulation(small_corpus_path, tasks, TaskSimulationConfig(rounds=1, batch=50, seeds=2, **FAST),
                               out, progress=False)
    assert more["runs"] == 4 and more["runs_computed_now"] == 2  # only the new seed ran
    md = (out / "report.md").read_text()
    assert "| three clusters | 4 |" in md and "mean over 2 tasks" in md and "AUC-PR per class" in md

    code = main(["eval", "simulate", str(small_corpus_path), "--tasks", str(tasks), "--out", str(tmp_path / "random"),
                 "--rounds", "1", "--batch", "50", "--strategy", "random", "--seeds", "2",
                 "--random-negatives", "1000", "--bootstrap", "10"])
    assert code == 0 and "| mean over 2 tasks [95% CI] |" in capsys.readouterr().out
    result = compare_runs([out, tmp_path / "random"], tmp_path / "cmp")
    assert result["kind"] == "tasks" and result["macro_auc_pr"]["labels"] == [50, 100]
    (label, paired), = result["paired_macro_auc_pr"].items()
    assert label.startswith("tasks, random") and paired["minus"].startswith("tasks, margin")
    first, second = paired["rows"]
    assert first["mean"] == 0 and first["pairs"] == 4 and first["tasks"] == 2  # round 0: the same expansion
    assert second["labels"] == 100 and second["ci"][0] <= second["mean"] <= second["ci"][1]
    assert "paired by task and seed" in (tmp_path / "cmp" / "compare.md").read_text()
    assert main(["eval", "compare", str(out), str(tmp_path / "random"), "--out", str(tmp_path / "c2")]) == 0
    # A task run is never compared with a concept run, and concept-only flags are refused.
    (tmp_path / "concepts").mkdir()
    (tmp_path / "concepts" / "report.json").write_text(json.dumps({"config": {}, "metrics": {"auc_pr": {}}}))
    with pytest.raises(EvalError, match="compare each kind apart"):
        compare_runs([out, tmp_path / "concepts"], tmp_path / "c3")
    assert main(["eval", "simulate", str(small_corpus_path), "--tasks", str(tasks), "--out", str(tmp_path / "x"),
                 "--rater", "crowd"]) == 2
    assert "--rater: not a setting of a task's simulation" in capsys.readouterr().err


def test_task_flags_left_out_keep_the_config_defaults():
    from agile_cli.eval_commands import task_simulation_config
    from agile_cli.main import build_parser

    base = ["eval", "simulate", "corpus", "--tasks", "suite", "--out", "out"]
    assert task_simulation_config(build_parser().parse_args(base)) == TaskSimulationConfig()
    given = task_simulation_config(build_parser().parse_args([*base, "--strategy", "entropy", "--seeds", "3"]))
    assert given == TaskSimulationConfig(strategy="entropy", seeds=3)
    with pytest.raises(SystemExit):
        build_parser().parse_args([*base, "--concepts", "suite"])


def test_a_task_without_two_classes_in_the_heldout_split_is_refused(corpus, workspace):
    task = _three_clusters()
    truth = np.full(corpus.count, 3, dtype=np.int64)  # every image "none of these"
    with pytest.raises(EvalError, match="held-out split"):
        TaskRun(workspace, task, truth, HeldOutSplit.for_corpus(corpus), TaskSimulationConfig(), seed=0)
