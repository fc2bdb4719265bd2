"""Summaries of simulated task runs: macro AUC-PR by labels per task and their mean, as JSON and Markdown.

Per task the seeds are averaged first, so every task weighs the same; the 95%
intervals of the mean over tasks come from resampling tasks. Each run's own
curve is kept too (``per_run``), so comparisons can pair runs task by task and
seed by seed (eval.task_compare). "Labels" count every answer the owner gave,
"can't tell" included.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from agile.atomic import atomic_write_bytes, atomic_write_json
from eval.report import EVALUATION, group_ci

METRICS = ("macro_auc_pr", "macro_f1", "accuracy")


def _answers(round_: dict) -> int:
    """The x-axis: images the owner answered so far, "can't tell" included (the effort spent; of a task
    without "none of these", images of no category are answered so), so runs pair at equal effort."""
    return round_["labels"] + round_["skipped"]


def _per_run(run: dict) -> dict:
    return {"task": run["task"]["name"], "seed": run["seed"], "labels": [_answers(r) for r in run["rounds"]],
            **{m: [float(r["metrics"][m]) for r in run["rounds"]] for m in METRICS}}


def _per_task(runs: Sequence[dict], metric: str) -> dict[str, dict]:
    """Task name -> classes, and per round the mean over seeds of labels and of the metric."""
    table: dict[str, dict] = {}
    for run in runs:
        row = table.setdefault(run["task"]["name"], {"classes": run["task"]["classes"], "rounds": [], "labels": []})
        row["rounds"].append([float(r["metrics"][metric]) for r in run["rounds"]])
        row["labels"].append([_answers(r) for r in run["rounds"]])
    return {name: {"classes": row["classes"], "seeds": len(row["rounds"]),
                   "rounds": np.mean(row["rounds"], axis=0).tolist(),
                   "labels": np.mean(row["labels"], axis=0).tolist()} for name, row in table.items()}


def _mean_over_tasks(tasks: dict[str, dict]) -> dict:
    rounds = np.array([t["rounds"] for t in tasks.values()])
    labels = np.array([t["labels"] for t in tasks.values()]).mean(axis=0)
    return {"tasks": len(tasks), "rounds": [{"round": r, "labels": float(labels[r]), "mean": float(rounds[:, r].mean()),
                                             "ci": group_ci(rounds[:, r])} for r in range(rounds.shape[1])]}


def _last_round_per_class(runs: Sequence[dict]) -> dict[str, dict]:
    """Task name -> each class's held-out AUC-PR at the last round, mean over seeds (None: never defined)."""
    table: dict[str, list] = {}
    classes: dict[str, list[str]] = {}
    for run in runs:
        name = run["task"]["name"]
        classes[name] = run["task"]["classes"]
        values = [np.nan if v is None else v for v in run["rounds"][-1]["metrics"]["auc_pr"]]
        table.setdefault(name, []).append(values)
    out = {}
    for name, rows in table.items():
        values = np.array(rows, dtype=float)
        defined = np.isfinite(values).sum(axis=0)
        sums = np.where(np.isfinite(values), values, 0).sum(axis=0)
        out[name] = {"classes": classes[name],
                     "auc_pr": [float(s / n) if n else None for s, n in zip(sums, defined)]}
    return out


def _stratified(runs: Sequence[dict]) -> dict[str, dict]:
    """Task name -> images in the session's evaluation set and the last version's macro AUC-PR on it, means over
    seeds (runs whose set could not be measured are left out)."""
    table: dict[str, dict[str, list]] = {}
    for run in runs:
        strat = run.get("stratified")
        row = table.setdefault(run["task"]["name"], {"images": [], "heldout": [], "last_version": []})
        if strat is None:
            continue
        row["images"].append(strat["images"])
        row["heldout"].append(strat["heldout"])
        last = list(strat["models"].values())[-1] if strat["models"] else None
        if last is not None:
            row["last_version"].append(last["macro_auc_pr"])
    return {name: {k: (float(np.mean(v)) if v else None) for k, v in row.items()} for name, row in table.items()}


def summarise_tasks(runs: Sequence[dict], config) -> dict:
    report = {"kind": "tasks", "config": config.to_dict(), "evaluation": EVALUATION, "runs": len(runs),
              "metrics": {}}
    if not runs:
        return report
    for metric in METRICS:
        tasks = _per_task(runs, metric)
        report["metrics"][metric] = {"mean": _mean_over_tasks(tasks), "tasks": tasks}
    report["per_class_auc_pr_last_round"] = _last_round_per_class(runs)
    report["stratified"] = _stratified(runs)
    report["per_run"] = [_per_run(run) for run in runs]
    return report


def _fmt(mean: float, ci: list[float]) -> str:
    return f"{mean:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def markdown_task_table(report: dict, metric: str = "macro_auc_pr") -> str:
    """Tasks as rows, rounds as columns (the mean number of labels rated), then the mean over tasks."""
    block = report["metrics"][metric]
    mean = block["mean"]
    head = "| task | classes | " + " | ".join(f"{r['labels']:.0f}" for r in mean["rounds"]) + " labels |"
    lines = [head, "|" + " --- |" * (2 + len(mean["rounds"]))]
    for name, task in block["tasks"].items():
        lines.append(f"| {name} | {len(task['classes'])} | " + " | ".join(f"{v:.3f}" for v in task["rounds"]) + " |")
    lines.append(f"| mean over {mean['tasks']} tasks [95% CI] | | "
                 + " | ".join(_fmt(r["mean"], r["ci"]) for r in mean["rounds"]) + " |")
    return "\n".join(lines) + "\n"


def markdown_last_round(report: dict) -> str:
    """Per task at the last round: macro F1, accuracy and each class's AUC-PR."""
    last = {m: {name: t["rounds"][-1] for name, t in report["metrics"][m]["tasks"].items()} for m in METRICS}
    lines = ["| task | macro AUC-PR | macro F1 | accuracy | AUC-PR per class |", "| --- | --- | --- | --- | --- |"]
    for name, per_class in report["per_class_auc_pr_last_round"].items():
        classes = ", ".join(f"{c} {'n/a' if v is None else f'{v:.3f}'}"
                            for c, v in zip(per_class["classes"], per_class["auc_pr"]))
        lines.append(f"| {name} | {last['macro_auc_pr'][name]:.3f} | {last['macro_f1'][name]:.3f} | "
                     f"{last['accuracy'][name]:.3f} | {classes} |")
    return "\n".join(lines) + "\n"


def markdown_stratified(report: dict) -> str:
    lines = ["| task | images in the set | of them held out | last version's macro AUC-PR on it |",
             "| --- | --- | --- | --- |"]
    for name, row in report["stratified"].items():
        cells = ["n/a" if row[k] is None else (f"{row[k]:.0f}" if k != "last_version" else f"{row[k]:.3f}")
                 for k in ("images", "heldout", "last_version")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_task_report(out: str | Path, report: dict) -> None:
    out = Path(out)
    atomic_write_json(out / "report.json", report)
    if not report.get("metrics"):
        return
    cfg = report["config"]
    text = (f"# Simulated task owners: strategy {cfg['strategy']}, batch {cfg['batch']}, {cfg['rounds']} rounds, "
            f"{cfg['seeds']} seed(s)\n\nMacro AUC-PR (the mean of every class's one-vs-rest AUC-PR) on the held-out "
            f"split, mean over seeds; the last row: mean over tasks [95% CI over tasks]. Evaluation: "
            f"{report['evaluation']}.\n\n" + markdown_task_table(report)
            + "\n## Last round\n\n" + markdown_last_round(report)
            + "\n## The session's stratified evaluation set\n\nBuilt by the session over its latest versions "
              "(per class), rated from the ground truth.\n\n" + markdown_stratified(report))
    atomic_write_bytes(out / "report.md", text.encode())
