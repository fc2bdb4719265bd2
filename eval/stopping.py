"""Does the stopping signal tell the truth? Held-out gains after versions the session called settled, and not.

For every round r of every run whose version has a stability record (agile.stability), the
held-out AUC-PR gained by the next round (r+1) and by the last round of the run, grouped by
whether version r was settled and by how much of the fixed sample it relabelled. "Settled" is
worked out again from the recorded shares and kappas with the library's current rule, so a
report of earlier runs measures the rule as it is now.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from agile.stability import SETTLED_VERSIONS, calm_streak
from eval.report import group_ci

CHANGED_BINS = (0.0, 0.005, 0.01, 0.02, 0.05, 1.01)  # share of the sample relabelled
USEFUL_GAIN = 0.01  # an AUC-PR gain an owner would want another round for


def _rounds(runs: Sequence[dict]) -> list[dict]:
    rows = []
    for run in runs:
        auc = [r["metrics"].get("auc_pr") for r in run["rounds"]]
        last, streak = len(auc) - 1, 0
        for r, round_ in enumerate(run["rounds"]):
            stability = round_.get("stability")
            streak = calm_streak(streak, stability["changed"], stability["kappa"],
                                 round(stability["positive"] * stability["sample"])) if stability else 0
            if stability is None or r == last or auc[r] is None or auc[r + 1] is None:
                continue
            rows.append({"changed": stability["changed"], "kappa": stability["kappa"],
                         "settled": streak >= SETTLED_VERSIONS, "next": auc[r + 1] - auc[r],
                         "left": auc[last] - auc[r]})
    return rows


def _group(rows: list[dict]) -> dict:
    gains = np.array([row["next"] for row in rows])
    left = np.array([row["left"] for row in rows])
    return {"rounds": len(rows), "next_gain": float(gains.mean()), "next_gain_ci": group_ci(gains),
            "useful_next": float(np.mean(gains >= USEFUL_GAIN)), "left_gain": float(left.mean()),
            "left_gain_ci": group_ci(left)}


def stopping_summary(runs: Sequence[dict]) -> dict | None:
    """Next-round and rest-of-run gains after settled and unsettled versions, and by share relabelled."""
    rows = _rounds(runs)
    if not rows:
        return None
    out = {"useful_gain": USEFUL_GAIN, "settled": {}, "changed": []}
    for flag in (True, False):
        members = [row for row in rows if row["settled"] == flag]
        if members:
            out["settled"][str(flag).lower()] = _group(members)
    for low, high in zip(CHANGED_BINS, CHANGED_BINS[1:]):
        members = [row for row in rows if low <= row["changed"] < high]
        if members:
            out["changed"].append({"low": low, "high": min(high, 1.0), **_group(members)})
    return out


def stopping_table(summary: dict) -> str:
    """Markdown: the gains after settled / unsettled versions, then by share of the sample relabelled."""
    fmt = lambda g, key: f"{g[key]:+.3f} [{g[key + '_ci'][0]:+.3f}, {g[key + '_ci'][1]:+.3f}]"  # noqa: E731
    lines = ["| versions | rounds | next round's gain | share gaining >= "
             f"{summary['useful_gain']:.2f} | gain by the last round |", "| --- | --- | --- | --- | --- |"]
    named = [("settled", summary["settled"].get("true")), ("not settled", summary["settled"].get("false"))]
    named += [(f"relabelled {b['low']:.1%}-{b['high']:.1%}", b) for b in summary["changed"]]
    for name, g in named:
        if g is not None:
            lines.append(f"| {name} | {g['rounds']} | {fmt(g, 'next_gain')} | {g['useful_next']:.0%} | "
                         f"{fmt(g, 'left_gain')} |")
    return "\n".join(lines) + "\n"
