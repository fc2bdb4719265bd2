"""``agile eval simulate --tasks``: every task x seed, resumable, then the report.

Each finished task run is written atomically to
``OUT/tasks/<task>__seed<k>.json`` with the configuration it ran under, so a
killed simulation resumes at the first missing run, raising ``--seeds``
computes only the new seeds, and a changed configuration is never mixed with
old results (the rules of ``eval.runner``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from agile.corpus import Corpus
from agile.workspace import Workspace
from eval.errors import EvalError
from eval.runner import chosen_concepts, resumable_runs, run_facts
from eval.split import HeldOutSplit
from eval.task_report import summarise_tasks, write_task_report
from eval.task_results import TaskRunResult
from eval.task_run import TaskRun, TaskSimulationConfig
from eval.tasks import load_tasks


def run_task_simulation(corpus_path: str | Path, tasks_source: str | Path, config: TaskSimulationConfig,
                        out: str | Path, progress: bool = True, only: Sequence[str] = (),
                        allow_random_weights: bool = False) -> dict:
    """Simulate every task of ``tasks_source`` (or those named in ``only``); write and return the report."""
    start = time.perf_counter()
    out = Path(out)
    corpus = Corpus.open(corpus_path, verify="quick")
    workspace = Workspace(corpus, out, allow_random_weights=allow_random_weights)
    if not workspace.has_text:
        raise EvalError(f"{corpus.root}: the corpus's model {corpus.model.name!r} has no text model, and a simulated "
                        "task owner starts from every category's phrases; simulate tasks on a corpus with one")
    tasks = chosen_concepts(load_tasks(tasks_source, corpus), only, "task")
    split = HeldOutSplit.for_corpus(corpus, config.heldout_fraction)
    key = {"corpus": str(corpus.root.resolve()), "count": corpus.count, "config": config.to_dict()}
    runs, skipped, fresh = resumable_runs(
        tasks, corpus, config.seeds, out / "tasks", key, TaskRunResult, "task",
        lambda task, truth, seed: TaskRun(workspace, task, truth, split, config, seed).run(), progress)
    report = summarise_tasks(runs, config)
    report.update({**run_facts(key, split, skipped, fresh, start), "tasks_source": str(tasks_source)})
    write_task_report(out, report)
    return report
