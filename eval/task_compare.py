"""``agile eval compare`` of task runs: mean macro AUC-PR at equal labels, and paired differences.

Every run plays the same tasks with the same seeds, and a task's seed s
starts from the same expansion batch in every run, so each later run is
compared with the first run pair by pair (task x seed) at every number of
labels both reached: the mean difference (seeds averaged per task first, so
every task weighs the same), its 95% interval from resampling tasks (as
concept comparisons resample concepts; with few tasks it is coarse, so the
interval from resampling the task x seed pairs is given beside it), and how
many pairs and tasks it wins or loses.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from agile.atomic import atomic_write_bytes, atomic_write_json
from eval.errors import EvalError
from eval.report import group_ci

TIE = 1e-3  # a difference smaller than this is neither a win nor a loss


def task_run_label(report: dict) -> str:
    """Strategy and batch, plus any training setting changed from the library's default."""
    cfg = report["config"]
    changed = [f"{name.replace('_', ' ')} {cfg[name]:g}" for name in ("epochs", "lr", "random_negatives")
               if cfg.get(name) is not None]
    return ", ".join(["tasks", cfg["strategy"], f"batch {cfg['batch']}", *changed])


def is_task_report(report: dict) -> bool:
    return report.get("kind") == "tasks"


def load_task_reports(run_dirs: Sequence[str | Path]) -> list[tuple[str, dict]]:
    out = []
    for d in run_dirs:
        path = Path(d) / "report.json"
        if not path.is_file():
            raise EvalError(f"{path}: no report; run `agile eval simulate ... --tasks ... --out {d}` first")
        report = json.loads(path.read_text())
        if not is_task_report(report):
            raise EvalError(f"{path}: a run of concepts, not of tasks; compare task runs with task runs")
        if not report.get("metrics"):
            raise EvalError(f"{path}: the report holds no finished runs")
        out.append((task_run_label(report), report))
    return out


def _curves(report: dict, metric: str) -> dict[tuple[str, int], dict[int, float]]:
    """(task, seed) -> {labels: value} of one run."""
    return {(r["task"], r["seed"]): {int(n): v for n, v in zip(r["labels"], r[metric])} for r in report["per_run"]}


def compare_task_table(reports: Sequence[tuple[str, dict]], metric: str = "macro_auc_pr") -> dict:
    """Mean over tasks of each run at every label count all runs reached, and per task."""
    curves = [(label, {int(round(r["labels"])): r["mean"] for r in report["metrics"][metric]["mean"]["rounds"]})
              for label, report in reports]
    shared = sorted(set.intersection(*(set(c) for _, c in curves)))
    per_task = {}
    for label, report in reports:
        for name, task in report["metrics"][metric]["tasks"].items():
            at = {int(round(n)): v for n, v in zip(task["labels"], task["rounds"])}
            per_task.setdefault(name, {})[label] = [at.get(n) for n in shared]
    return {"labels": shared, "runs": {label: [c[n] for n in shared] for label, c in curves}, "tasks": per_task}


def task_paired_differences(reports: Sequence[tuple[str, dict]], metric: str = "macro_auc_pr") -> dict:
    """Each later run minus the first, over the task x seed pairs both played, at every label count they share."""
    base_label, base = reports[0]
    base_curves = _curves(base, metric)
    out = {}
    for label, report in reports[1:]:
        curves = _curves(report, metric)
        pairs = sorted(set(curves) & set(base_curves))
        if not pairs:
            raise EvalError(f"{label} and {base_label} share no task and seed")
        shared = sorted(set.intersection(*(set(curves[p]) & set(base_curves[p]) for p in pairs)))
        rows = []
        for n_labels in shared:
            diff = np.array([curves[p][n_labels] - base_curves[p][n_labels] for p in pairs])
            tasks = sorted({t for t, _ in pairs})
            by_task = np.array([diff[[i for i, p in enumerate(pairs) if p[0] == t]].mean() for t in tasks])
            rows.append({"labels": n_labels, "mean": float(by_task.mean()), "ci": group_ci(by_task),
                         "ci_pairs": group_ci(diff), "pairs": len(pairs), "tasks": len(tasks),
                         "pair_wins": int((diff > TIE).sum()), "pair_losses": int((diff < -TIE).sum()),
                         "task_wins": int((by_task > TIE).sum()), "task_losses": int((by_task < -TIE).sum()),
                         "per_task": dict(zip(tasks, by_task.tolist()))})
        out[label] = {"minus": base_label, "rows": rows}
    return out


def markdown_task_compare(table: dict, paired: dict, metric: str = "macro_auc_pr") -> str:
    name = metric.replace("_", " ").replace("auc pr", "AUC-PR")
    cols = table["labels"]
    lines = [f"\nMean {name} over tasks at images rated:\n",
             "| run | " + " | ".join(str(c) for c in cols) + " |", "|" + " --- |" * (len(cols) + 1)]
    lines += [f"| {label} | " + " | ".join(f"{v:.3f}" for v in values) + " |"
              for label, values in table["runs"].items()]
    for label, p in paired.items():
        lines.append(f"\n**{label}** minus **{p['minus']}**, paired by task and seed:\n")
        lines.append("| images rated | mean difference [95% CI, resampling tasks] | [95% CI, resampling pairs] | "
                     "better / worse pairs | better / worse tasks |")
        lines.append("| --- | --- | --- | --- | --- |")
        for r in p["rows"]:
            lines.append(f"| {r['labels']} | {r['mean']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}] | "
                         f"[{r['ci_pairs'][0]:+.3f}, {r['ci_pairs'][1]:+.3f}] | {r['pair_wins']} / {r['pair_losses']} "
                         f"(of {r['pairs']}) | {r['task_wins']} / {r['task_losses']} (of {r['tasks']}) |")
    return "\n".join(lines) + "\n"


def compare_task_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str = "") -> dict:
    reports = load_task_reports(run_dirs)
    out = Path(out)
    table = compare_task_table(reports)
    paired = task_paired_differences(reports)
    text = (f"# {title}\n" if title else "") + markdown_task_compare(table, paired)
    result = {"kind": "tasks", "runs": [str(d) for d in run_dirs], "labels": [label for label, _ in reports],
              "macro_auc_pr": table, "paired_macro_auc_pr": paired, "markdown": text}
    atomic_write_json(out / "compare.json", result)
    atomic_write_bytes(out / "compare.md", text.encode())
    return result
