"""``agile eval compare``: several simulation runs side by side (strategies, batch sizes, raters).

Runs are compared at equal numbers of images rated, the paper's x-axis: a
label count that every run reached is a column of the table.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from agile.atomic import atomic_write_bytes, atomic_write_json
from eval.errors import EvalError
from eval.plots import plot_compare

GROUPS = ("easy", "hard", "all")


def run_label(report: dict) -> str:
    cfg = report["config"]
    return f"{cfg['rater']}, {cfg['strategy']}, batch {cfg['batch']}"


def load_reports(run_dirs: Sequence[str | Path]) -> list[tuple[str, dict]]:
    out = []
    for d in run_dirs:
        path = Path(d) / "report.json"
        if not path.is_file():
            raise EvalError(f"{path}: no report; run `agile eval simulate ... --out {d}` first")
        report = json.loads(path.read_text())
        if not report.get("metrics"):
            raise EvalError(f"{path}: the report holds no finished runs")
        out.append((run_label(report), report))
    return out


def _at_labels(group: dict) -> dict[int, float]:
    return {int(round(r["labels"])): r["mean"] for r in group["rounds"]}


def compare_table(reports: Sequence[tuple[str, dict]]) -> dict:
    """Mean AUC-PR per group at every label count the runs share (exact counts only)."""
    table = {}
    for g in GROUPS:
        curves = [(label, _at_labels(r["metrics"]["auc_pr"]["groups"][g]))
                  for label, r in reports if g in r["metrics"]["auc_pr"]["groups"]]
        if not curves:
            continue
        shared = sorted(set.intersection(*(set(c) for _, c in curves)))
        table[g] = {"zero_shot": reports[0][1]["metrics"]["auc_pr"]["groups"][g]["zero_shot"]["mean"],
                    "labels": shared, "runs": {label: [c[n] for n in shared] for label, c in curves},
                    "final": {label: [max(c), c[max(c)]] for label, c in curves}}
    return table


def markdown(table: dict) -> str:
    lines = []
    for g, t in table.items():
        cols = t["labels"]
        lines.append(f"\n**{g}** (zero-shot {t['zero_shot']:.3f}); AUC-PR at images rated:\n")
        lines.append("| run | " + " | ".join(str(c) for c in cols) + " | last round (labels: AUC-PR) |")
        lines.append("|" + " --- |" * (len(cols) + 2))
        for label, values in t["runs"].items():
            n, v = t["final"][label]
            lines.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in values) + f" | {n}: {v:.3f} |")
    return "\n".join(lines) + "\n"


def compare_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str = "") -> dict:
    reports = load_reports(run_dirs)
    out = Path(out)
    table = compare_table(reports)
    plot = plot_compare(out / "compare.png", reports, title)
    result = {"runs": [str(d) for d in run_dirs], "labels": [label for label, _ in reports],
              "auc_pr": table, "plot": str(plot)}
    atomic_write_json(out / "compare.json", result)
    atomic_write_bytes(out / "compare.md", ((f"# {title}\n" if title else "") + markdown(table)).encode())
    return result
