"""``agile eval compare``: several simulation runs side by side (strategies, batch sizes, raters).

Runs are compared at equal numbers of images rated, the paper's x-axis: a
label count that every run reached is a column of the table. Because every
run plays the same concepts, each run is also compared with the first one
concept by concept: the mean paired difference, its 95% interval (resampling
concepts) and how many concepts it wins, which separates strategies whose
group means lie within each other's (much wider) intervals. Each run's
active-learning batches are also counted: the share that held fewer than
``MIN_POSITIVES`` positives, by how the batch was chosen, and among each
concept's first active-learning batch.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from agile.atomic import atomic_write_bytes, atomic_write_json
from agile.sampling import MIN_POSITIVES
from eval.errors import EvalError
from eval.plots import plot_compare
from eval.report import group_ci
from eval.starts import SEED_IMAGES

GROUPS = ("easy", "hard", "all")


def run_label(report: dict) -> str:
    """Rater, strategy and batch, plus any training setting changed from the library's default."""
    cfg = report["config"]
    changed = [f"{name.replace('_', ' ')} {cfg[name]:g}" for name in ("epochs", "lr", "random_negatives")
               if cfg.get(name) is not None]
    if cfg.get("learner") is not None:  # None: a run from before the learner was recorded (the paper's MLP)
        changed.append(f"learner {cfg['learner']}")
    if cfg.get("recipe") not in (None, "fixed"):
        changed.append(f"recipe {cfg['recipe']}")
    if cfg.get("mix_likely_positives") is False:
        changed.append("no mixing")
    if cfg.get("start") == "images":
        changed.append(f"image start ({cfg.get('seed_images') or SEED_IMAGES})")
    if cfg.get("text_model") is False:
        changed.append("text withheld")
    return ", ".join([cfg["rater"], cfg["strategy"], f"batch {cfg['batch']}", *changed])


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
        # The same corpus and phrases give every run the same zero-shot; a run without text has none.
        zero = next((r["metrics"]["auc_pr"]["groups"][g]["zero_shot"] for _, r in reports
                     if r["metrics"]["auc_pr"]["groups"].get(g, {}).get("zero_shot") is not None), None)
        table[g] = {"zero_shot": None if zero is None else zero["mean"],
                    "labels": shared, "runs": {label: [c[n] for n in shared] for label, c in curves},
                    "final": {label: [max(c), c[max(c)]] for label, c in curves}}
    return table


def _per_concept_at_labels(report: dict) -> dict[str, dict[int, float]]:
    concepts = report["metrics"]["auc_pr"]["concepts"]
    return {name: {int(round(n)): v for n, v in zip(c["labels"], c["rounds"])} for name, c in concepts.items()}


def paired_differences(reports: Sequence[tuple[str, dict]]) -> dict:
    """Each later run minus the first, per concept, at every label count both reached."""
    base_label, base = reports[0]
    base_values = _per_concept_at_labels(base)
    out = {}
    for label, report in reports[1:]:
        values = _per_concept_at_labels(report)
        names = sorted(set(values) & set(base_values))
        shared = sorted(set.intersection(*(set(values[n]) & set(base_values[n]) for n in names))) if names else []
        rows = []
        for n_labels in shared:
            by_name = {n: values[n][n_labels] - base_values[n][n_labels] for n in names}
            by_name = {n: float(d) for n, d in by_name.items() if not np.isnan(d)}
            diff = np.array(list(by_name.values()))
            rows.append({"labels": n_labels, "mean": float(diff.mean()), "ci": group_ci(diff),
                         "wins": int((diff > 1e-3).sum()), "losses": int((diff < -1e-3).sum()),
                         "concepts": len(diff), "per_concept": by_name})
        out[label] = {"minus": base_label, "rows": rows, "zero_shot": _zero_shot(reports)}
    return out


def _zero_shot(reports: Sequence[tuple[str, dict]]) -> dict[str, float]:
    """Each concept's zero-shot AUC-PR (the same in every run that has text; none in a run without)."""
    out: dict[str, float] = {}
    for _, report in reports:
        for name, c in report["metrics"]["auc_pr"]["concepts"].items():
            if c.get("zero_shot") is not None:
                out.setdefault(name, c["zero_shot"])
    return out


def markdown_extremes(paired: dict, count: int = 5) -> str:
    """The concepts each run gains and loses most on at the last label count it shares with the first, beside
    their zero-shot AUC-PR (a concept whose phrases the text tower misreads has a low one)."""
    lines = []
    for label, p in paired.items():
        if not p["rows"]:
            continue
        row = p["rows"][-1]
        ranked = sorted(row["per_concept"].items(), key=lambda kv: -kv[1])
        cell = lambda kv: (f"{kv[0]} {kv[1]:+.3f}"  # noqa: E731
                           + (f" (zero-shot {p['zero_shot'][kv[0]]:.3f})" if kv[0] in p["zero_shot"] else ""))
        lines.append(f"\n**{label}** minus **{p['minus']}** at {row['labels']} images rated: most gained "
                     + "; ".join(cell(kv) for kv in ranked[:count]) + ". Most lost: "
                     + "; ".join(cell(kv) for kv in ranked[::-1][:count]) + ".\n")
    return "".join(lines)


def sparse_batches(run_dir: str | Path) -> dict:
    """Active-learning batches that held fewer than MIN_POSITIVES true positives, per source and first batch."""
    by_source: dict[str, list[bool]] = {}
    first = []
    for path in sorted((Path(run_dir) / "concepts").glob("*.json")):
        rounds = [r for r in json.loads(path.read_text())["rounds"] if r["round"] >= 1]
        for r in rounds:
            by_source.setdefault(r["source"], []).append(r["batch_positive_truth"] < MIN_POSITIVES)
        if rounds:
            first.append(rounds[0]["batch_positive_truth"] < MIN_POSITIVES)
    every = [s for v in by_source.values() for s in v]

    def share(flags: list[bool]) -> dict:
        return {"sparse": int(sum(flags)), "batches": len(flags),
                "share": round(sum(flags) / len(flags), 4) if flags else None}
    return {"all": share(every), "first": share(first),
            "by_source": {source: share(v) for source, v in sorted(by_source.items())}}


def markdown_sparse(labels: Sequence[str], sparse: Sequence[dict]) -> str:
    lines = [f"\nActive-learning batches with fewer than {MIN_POSITIVES} positives:\n",
             "| run | all | first of each concept | by how chosen |", "| --- | --- | --- | --- |"]
    for label, s in zip(labels, sparse):
        def cell(x: dict) -> str:
            return f"{x['sparse']} of {x['batches']}" + (f" ({x['share']:.1%})" if x["batches"] else "")
        sources = "; ".join(f"{name}: {cell(x)}" for name, x in s["by_source"].items())
        lines.append(f"| {label} | {cell(s['all'])} | {cell(s['first'])} | {sources} |")
    return "\n".join(lines) + "\n"


def markdown(table: dict) -> str:
    lines = []
    for g, t in table.items():
        cols = t["labels"]
        zero = "no zero-shot: no text model" if t["zero_shot"] is None else f"zero-shot {t['zero_shot']:.3f}"
        lines.append(f"\n**{g}** ({zero}); AUC-PR at images rated:\n")
        lines.append("| run | " + " | ".join(str(c) for c in cols) + " | last round (labels: AUC-PR) |")
        lines.append("|" + " --- |" * (len(cols) + 2))
        for label, values in t["runs"].items():
            n, v = t["final"][label]
            lines.append(f"| {label} | " + " | ".join(f"{x:.3f}" for x in values) + f" | {n}: {v:.3f} |")
    return "\n".join(lines) + "\n"


def markdown_paired(paired: dict) -> str:
    lines = []
    for label, p in paired.items():
        lines.append(f"\n**{label}** minus **{p['minus']}**, per concept (all concepts):\n")
        lines.append("| images rated | mean difference [95% CI] | better / worse (of concepts) |")
        lines.append("| --- | --- | --- |")
        for r in p["rows"]:
            lines.append(f"| {r['labels']} | {r['mean']:+.3f} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}] | "
                         f"{r['wins']} / {r['losses']} (of {r['concepts']}) |")
    return "\n".join(lines) + "\n"


def ceiling_shares(reports: Sequence[tuple[str, dict]], ceiling: dict) -> dict:
    """Per run, each concept's AUC-PR at its last label count as a share of the concept's probe ceiling
    (`agile eval ceiling --out`), and their mean over concepts with a 95% interval."""
    probe = {c["concept"]: c["auc_pr"] for c in ceiling["concepts"] if c.get("auc_pr")}
    out = {}
    for label, report in reports:
        values = _per_concept_at_labels(report)
        shares = {name: v[max(v)] / probe[name] for name, v in values.items() if name in probe and v}
        arr = np.array([x for x in shares.values() if not np.isnan(x)])
        out[label] = {"labels": max(max(v) for v in values.values()), "mean": float(arr.mean()),
                      "ci": group_ci(arr), "concepts": shares}
    return out


def markdown_ceiling(shares: dict) -> str:
    lines = ["\nShare of the linear-probe ceiling reached at the last round, mean over concepts [95% CI]:\n",
             "| run | labels | share of ceiling |", "| --- | --- | --- |"]
    lines += [f"| {label} | {s['labels']} | {s['mean']:.3f} [{s['ci'][0]:.3f}, {s['ci'][1]:.3f}] |"
              for label, s in shares.items()]
    return "\n".join(lines) + "\n"


def _kind(run_dir: str | Path) -> str:
    """"tasks" for a run of `agile eval simulate --tasks`, else "concepts" (also where no report is yet)."""
    path = Path(run_dir) / "report.json"
    try:
        return json.loads(path.read_text()).get("kind", "concepts")
    except (OSError, json.JSONDecodeError, AttributeError):
        return "concepts"  # load_reports names what is wrong with it


def compare_runs(run_dirs: Sequence[str | Path], out: str | Path, title: str = "",
                 ceiling: str | Path | None = None) -> dict:
    """Runs of concepts side by side (below), or runs of tasks (eval.task_compare); never the two mixed."""
    kinds = {_kind(d) for d in run_dirs}
    if "tasks" in kinds:
        if len(kinds) > 1:
            raise EvalError("runs of tasks and runs of concepts measure different things: compare each kind apart")
        if ceiling:
            raise EvalError("the probe ceiling is measured per concept: task runs have none")
        from eval.task_compare import compare_task_runs

        return compare_task_runs(run_dirs, out, title)
    reports = load_reports(run_dirs)
    out = Path(out)
    table = compare_table(reports)
    paired = paired_differences(reports)
    sparse = [sparse_batches(d) for d in run_dirs]
    plot = plot_compare(out / "compare.png", reports, title)
    labels = [label for label, _ in reports]
    shares = ceiling_shares(reports, json.loads(Path(ceiling).read_text())) if ceiling else None
    result = {"runs": [str(d) for d in run_dirs], "labels": labels, "auc_pr": table, "paired_auc_pr": paired,
              "sparse_batches": sparse, "ceiling_share": shares, "plot": str(plot)}
    atomic_write_json(out / "compare.json", result)
    text = ((f"# {title}\n" if title else "") + markdown(table) + markdown_paired(paired) + markdown_extremes(paired)
            + markdown_sparse(labels, sparse) + (markdown_ceiling(shares) if shares else ""))
    atomic_write_bytes(out / "compare.md", text.encode())
    return result
