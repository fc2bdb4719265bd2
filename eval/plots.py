"""PNG plots in the style of the paper's Figures 3, 4, 6 and 7: AUC-PR against images rated.

Matplotlib's Agg backend: no display is needed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from agile.atomic import atomic_path  # noqa: E402

GROUP_TITLES = {"easy": "easy concepts", "hard": "hard concepts", "all": "all concepts"}


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _curve(ax, group: dict, label: str, color=None, zero_shot: bool = True) -> None:
    labels = [r["labels"] for r in group["rounds"]]
    means = [r["mean"] for r in group["rounds"]]
    lo = [r["ci"][0] for r in group["rounds"]]
    hi = [r["ci"][1] for r in group["rounds"]]
    line, = ax.plot(labels, means, marker="o", ms=3, label=label, color=color)
    ax.fill_between(labels, lo, hi, alpha=0.15, color=line.get_color())
    if zero_shot and group["zero_shot"] is not None:  # None: no text model
        ax.axhline(group["zero_shot"]["mean"], ls="--", color="gray", label="zero-shot")


def _panels(groups: Sequence[str]):
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.4), squeeze=False, sharey=True)
    for ax, g in zip(axes[0], groups):
        ax.set_title(GROUP_TITLES[g])
        ax.set_xlabel("images rated")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("AUC-PR (held-out)")
    return fig, axes[0]


def plot_run(out: Path, report: dict) -> list[Path]:
    """AUC-PR vs images rated per difficulty group, and per concept."""
    groups = report["metrics"]["auc_pr"]["groups"]
    names = [g for g in ("easy", "hard", "all") if g in groups]
    cfg = report["config"]
    fig, axes = _panels(names)
    for ax, g in zip(axes, names):
        _curve(ax, groups[g], f"{cfg['strategy']}, batch {cfg['batch']} ({cfg['rater']})")
    axes[0].legend(fontsize=8, loc="lower right")
    paths = [_save(fig, out / "auc_pr_vs_labels.png")]

    concepts = report["metrics"]["auc_pr"]["concepts"]
    cols = 4
    rows = -(-len(concepts) // cols)
    fig, axs = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.5 * rows), squeeze=False, sharey=True)
    for ax, (name, c) in zip(axs.flat, sorted(concepts.items(), key=lambda kv: (kv[1]["difficulty"], kv[0]))):
        ax.plot(c["labels"], c["rounds"], marker="o", ms=2)
        if c["zero_shot"] is not None:
            ax.axhline(c["zero_shot"], ls="--", color="gray")
        ax.set_title(f"{name[:28]} ({c['difficulty']})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axs.flat)[len(concepts):]:
        ax.axis("off")
    fig.tight_layout()
    paths.append(_save(fig, out / "auc_pr_per_concept.png"))
    return paths


def plot_compare(path: Path, reports: Sequence[tuple[str, dict]], title: str = "") -> Path:
    """Several runs (strategies, batch sizes, owner vs crowd) on shared axes, per difficulty group."""
    first = reports[0][1]["metrics"]["auc_pr"]["groups"]
    names = [g for g in ("easy", "hard", "all") if g in first]
    fig, axes = _panels(names)
    for ax, g in zip(axes, names):
        for i, (label, report) in enumerate(reports):
            group = report["metrics"]["auc_pr"]["groups"].get(g)  # a run of some concepts may lack a group
            if group is not None:
                _curve(ax, group, label, color=f"C{i}", zero_shot=(i == 0))
    axes[0].legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(title)
        fig.tight_layout(rect=(0, 0, 1, 0.94))  # keep the title clear of the panels' own titles
    return _save(fig, path)
