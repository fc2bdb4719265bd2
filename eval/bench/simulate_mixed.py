"""Simulated users with and without positive mining mixed into batches likely to hold no positives.

``python -m eval.bench.simulate_mixed CORPUS --concepts suite --out DIR [--mixed] [--strategy S]``
runs `eval.runner.run_simulation` unchanged, except that with ``--mixed`` every
active-learning batch is chosen by `agile.sampling.select_batch` (told how
many positives the previous batch held and how many are rated positive) instead of `agile.sampling.select`,
and its strategy label is stored as the batch's source. The selection step
is replaced in-process, so the rest of the simulation is the very code
``agile eval simulate`` runs. Then the share of active-learning batches with
fewer than 5 positives (per source label, and for the first such batch of
every concept) and AUC-PR on the held-out split at each label count are
printed as JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from agile.sampling import MIN_POSITIVES, select_batch
from eval import simulate
from eval.runner import run_simulation
from eval.simulate import SimulationConfig


def _mixed_next_batch(self, model, r: int) -> tuple[np.ndarray, str]:
    """ConceptRun._next_batch with select_batch for the active-learning rounds."""
    if model is None:
        return _plain_next_batch(self, model, r)
    last = [rating.positive for rating in self.labels.ratings.values() if rating.round == r - 1]
    exclude = np.union1d(self.labels.rated_ids(), self.split.ids)
    chosen = select_batch(self.loop.corpus, model, k=self.config.batch, strategy=self.config.strategy,
                          exclude_ids=exclude, seed=self.seed * 1000 + r, scan_dir=self.loop.scan_dir,
                          positives_in_last_batch=sum(last), rated_positives=self.labels.counts()["positive"])
    return chosen.ids, chosen.strategy


_plain_next_batch = simulate.ConceptRun._next_batch


def summarise_batches(out: str | Path) -> dict:
    """Share of active-learning batches with < MIN_POSITIVES positives, and AUC-PR by labels rated."""
    sparse, first_sparse = defaultdict(list), []
    auc_by_labels = defaultdict(list)
    for path in sorted((Path(out) / "concepts").glob("*.json")):
        run = json.loads(path.read_text())
        al = [r for r in run["rounds"] if r["round"] >= 1]
        for r in al:
            sparse[r["source"]].append(r["batch_positive_truth"] < MIN_POSITIVES)
        if al:
            first_sparse.append(al[0]["batch_positive_truth"] < MIN_POSITIVES)
        for r in run["rounds"]:
            auc_by_labels[r["labels"]].append(r["metrics"]["auc_pr"])
    return {"runs": len(first_sparse),
            "share_al_batches_under_5_positives": {s: round(float(np.mean(v)), 4) for s, v in sparse.items()},
            "al_batches": {s: len(v) for s, v in sparse.items()},
            "share_first_al_batches_under_5_positives": round(float(np.mean(first_sparse)), 4) if first_sparse else None,
            "mean_heldout_auc_pr_by_labels": {n: round(statistics.mean(v), 4) for n, v in sorted(auc_by_labels.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--concepts", default="suite")
    parser.add_argument("--out", required=True)
    parser.add_argument("--strategy", default="margin")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--mixed", action="store_true", help="choose batches with select_batch")
    parser.add_argument("--only", action="append", default=[], metavar="CONCEPT", help="repeatable")
    args = parser.parse_args()
    if args.mixed:
        simulate.ConceptRun._next_batch = _mixed_next_batch
    config = SimulationConfig(strategy=args.strategy, seeds=args.seeds, bootstrap=0)
    run_simulation(args.corpus, args.concepts, config, args.out, progress=False, plots=False, only=args.only)
    print(json.dumps(summarise_batches(args.out), indent=2))


if __name__ == "__main__":
    main()
