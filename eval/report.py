"""Summaries of simulated runs: means over concepts by difficulty, the JSON report and a Markdown table.

Per concept the seeds are averaged first, so every concept weighs the same;
the 95% intervals of group means come from resampling concepts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from agile.atomic import atomic_write_bytes, atomic_write_json
from eval.starts import SEED_IMAGES

GROUPS = ("easy", "hard", "all")
EVALUATION = ("ground truth over a fixed held-out split: the images whose URI SipHash falls in the lowest "
              "`heldout_fraction` of the 64-bit range; never rated, identical for every model and run")


def group_ci(values: np.ndarray, seed: int = 0, rounds: int = 1000) -> list[float]:
    if len(values) < 2:
        return [float(values.mean()), float(values.mean())] if len(values) else [float("nan")] * 2
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (rounds, len(values)))].mean(axis=1)
    return [float(v) for v in np.percentile(means, [2.5, 97.5])]


def _value(metrics: dict | None, name: str) -> float:
    return float("nan") if metrics is None else float(metrics[name])


def per_concept(runs: Sequence[dict], metric: str = "auc_pr") -> dict[str, dict]:
    """Concept name -> difficulty, zero-shot and per-round means over seeds."""
    table: dict[str, dict] = {}
    for run in runs:
        row = table.setdefault(run["concept"]["name"], {"difficulty": run["concept"]["difficulty"],
                                                        "zero_shot": [], "rounds": [], "labels": [],
                                                        "stratified": []})
        row["zero_shot"].append(_value(run["zero_shot"], metric))
        row["rounds"].append([_value(r["metrics"], metric) for r in run["rounds"]])
        row["labels"].append([r["labels"] for r in run["rounds"]])
        strat = run["stratified"]["models"]
        row["stratified"].append([_value(strat[k], metric) for k in strat])
    return {name: {"difficulty": row["difficulty"], "zero_shot": _mean_or_none(row["zero_shot"]),
                   "rounds": np.mean(row["rounds"], axis=0).tolist(),
                   "labels": np.mean(row["labels"], axis=0).tolist(),
                   "stratified": np.nanmean(row["stratified"], axis=0).tolist()}
            for name, row in table.items()}


def _mean_or_none(values: list[float]) -> float | None:
    """The mean, or None where nothing was measured (no text model: no zero-shot)."""
    values = np.asarray(values, dtype=float)
    return None if np.isnan(values).all() else float(np.nanmean(values))


def _members(concepts: dict[str, dict], group: str) -> list[dict]:
    return [c for c in concepts.values() if group == "all" or c["difficulty"] == group]


def summarise_group(members: list[dict]) -> dict:
    rounds = np.array([c["rounds"] for c in members])
    labels = np.array([c["labels"] for c in members]).mean(axis=0)
    out = {"concepts": len(members),
           "rounds": [{"round": r, "labels": float(labels[r]), "mean": float(rounds[:, r].mean()),
                       "ci": group_ci(rounds[:, r])} for r in range(rounds.shape[1])]}
    if any(c["zero_shot"] is None for c in members):  # no text model: zero-shot is left out altogether
        return {**out, "zero_shot": None}
    zero = np.array([c["zero_shot"] for c in members])
    beats = rounds > zero[:, None]
    for r, row in enumerate(out["rounds"]):
        row["beats_zero_shot"] = float(beats[:, r].mean())
    return {**out, "zero_shot": {"mean": float(zero.mean()), "ci": group_ci(zero)},
            "first_round_mean_beats_zero_shot": next(
                (r for r in range(rounds.shape[1]) if rounds[:, r].mean() > zero.mean()), None),
            "first_round_beating_zero_shot_per_concept": [
                next((r for r in range(rounds.shape[1]) if row[r]), None) for row in beats]}


def summarise(runs: Sequence[dict], config) -> dict:
    report = {"config": config.to_dict(), "evaluation": EVALUATION, "runs": len(runs), "metrics": {}}
    if not runs:
        return report
    for metric in ("auc_pr", "auc_roc", "f1"):
        concepts = per_concept(runs, metric)
        report["metrics"][metric] = {
            "groups": {g: summarise_group(_members(concepts, g)) for g in GROUPS if _members(concepts, g)},
            "concepts": concepts}
    names = list(runs[0]["stratified"]["models"])
    concepts = report["metrics"]["auc_pr"]["concepts"]
    report["stratified_auc_pr"] = {
        g: dict(zip(names, np.nanmean([c["stratified"] for c in _members(concepts, g)], axis=0).tolist()))
        for g in GROUPS if _members(concepts, g)}
    report["stratified_set_images"] = float(np.mean([r["stratified"]["images"] for r in runs]))
    return report


def markdown_table(report: dict, metric: str = "auc_pr") -> str:
    """Zero-shot and rounds 0..R, mean over easy / hard / all concepts, with 95% intervals."""
    groups = report["metrics"][metric]["groups"]
    present = [g for g in GROUPS if g in groups]
    fmt = lambda m, ci: f"{m:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"  # noqa: E731
    head = "| model | labels | " + " | ".join(f"{g} (n={groups[g]['concepts']})" for g in present) + " |"
    lines = [head, "|" + " --- |" * (2 + len(present))]
    if all(groups[g]["zero_shot"] is not None for g in present):  # none without a text model
        lines.append("| zero-shot | 0 | " + " | ".join(fmt(groups[g]["zero_shot"]["mean"],
                                                        groups[g]["zero_shot"]["ci"]) for g in present) + " |")
    for r, row in enumerate(groups[present[-1]]["rounds"]):
        lines.append(f"| round {r} | {row['labels']:.0f} | " + " | ".join(
            fmt(groups[g]["rounds"][r]["mean"], groups[g]["rounds"][r]["ci"]) for g in present) + " |")
    return "\n".join(lines) + "\n"


def write_report(out: str | Path, report: dict, runs: Sequence[dict], plots: bool = True) -> None:
    out = Path(out)
    if plots and runs:
        from eval.plots import plot_run

        report["plots"] = [str(p) for p in plot_run(out / "plots", report)]
    atomic_write_json(out / "report.json", report)
    if runs:
        cfg = report["config"]
        start = {"images": f", starting from the name and {cfg.get('seed_images') or SEED_IMAGES} example images"
                 }.get(cfg.get("start"), "") + (", text model withheld" if cfg.get("text_model") is False else "")
        text = (f"# Simulated {cfg['rater']}: strategy {cfg['strategy']}, batch {cfg['batch']}, "
                f"{cfg['rounds']} rounds, {cfg['seeds']} seed(s){start}\n\nAUC-PR, mean [95% CI over concepts]; "
                f"evaluation: {report['evaluation']}.\n\n" + markdown_table(report))
        if report.get("stopping"):
            from eval.stopping import stopping_table

            text += ("\n## After versions the session called settled\n\nHeld-out AUC-PR gained by the next round "
                     "and by the run's last round, mean [95% CI over rounds].\n\n" + stopping_table(report["stopping"]))
        atomic_write_bytes(out / "report.md", text.encode())
