"""Each version's recipe, chosen on the labels it has: a few candidates ranked by a cross-validated AUC-PR.

The paper's recipe is one fixed MLP schedule (1 x 16 after expansion, 3 x 128 after). Which learner
is best depends on the concept and on how many labels there are: a linear head needs fewer labels
than three hidden layers; a logistic regression on the rated images alone is not misled by random
negatives that happen to be positives (a concept covering much of the corpus). ``choose_recipe``
refits every candidate on the same stratified folds of the rated images (cheap settings,
`agile.crossval`) and takes the best pooled out-of-fold AUC-PR, the paper's MLP winning ties. The
folds and every fit are seeded, so the choice is reproducible for a seed; it is recorded in the
version's sidecar. Measured on the simulated-user benchmark it did worse than the fixed schedule
(docs/results.md): the rated images are the ones margin sampling chose, near the boundary, where
a model of the rated images alone cross-validates best; so it is an opt-in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from agile.crossval import cross_validated_auc_pr
from agile.training import TrainConfig

PAPER = "paper"
RECIPES = ("fixed", "adaptive")  # fixed: the session's learner on the paper's schedule
# name -> its settings on top of the session's for the round (agile.training.TrainConfig.for_round)
CANDIDATES: dict[str, dict[str, Any]] = {
    PAPER: {"learner": "mlp"},
    # A linear head with the paper's random negatives (a logistic regression that also sees the
    # corpus); at the paper's lr of 1e-4 its 400 steps leave it far from converged, so 1e-3.
    "linear": {"learner": "mlp", "hidden": (), "lr": 1e-3},
    "logreg": {"learner": "logreg"},      # scikit-learn's balanced logistic regression, rated images only
}
MARGIN = 0.005  # a candidate must beat the paper's cross-validated AUC-PR by this much to replace it


@dataclass(frozen=True)
class RecipeChoice:
    name: str
    config: TrainConfig
    cv_auc_pr: dict[str, float]   # candidate -> pooled out-of-fold AUC-PR (empty: too few ratings to compare)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.name, "cv_auc_pr": self.cv_auc_pr, "seconds": round(self.seconds, 3)}


def candidate_config(name: str, round_: int, seed: int, overrides: dict[str, Any]) -> TrainConfig:
    """The candidate ``name``'s settings for a model trained with round ``round_``'s ratings."""
    changes = {**overrides, **CANDIDATES[name]}
    hidden = changes.pop("hidden", None)
    config = TrainConfig.for_round(round_, seed=seed, **changes)
    return config if hidden is None else replace(config, hidden=hidden)


def choose_recipe(workspace, ids: np.ndarray, labels: np.ndarray, round_: int, seed: int,
                  overrides: dict[str, Any], folds: int = 3) -> RecipeChoice:
    """The candidate with the best cross-validated AUC-PR on the rated images (the paper's on a tie, or
    when a class has fewer ratings than folds)."""
    start = time.perf_counter()
    paper = candidate_config(PAPER, round_, seed, overrides)
    scores: dict[str, float] = {}
    for name in CANDIDATES:
        cv = cross_validated_auc_pr(workspace, ids, labels, candidate_config(name, round_, seed, overrides),
                                    folds=folds, seed=seed, bootstrap=0)
        if cv is None:
            return RecipeChoice(PAPER, paper, {}, time.perf_counter() - start)
        scores[name] = round(cv.auc_pr, 4)
    best = max(scores, key=lambda n: (scores[n] - (0 if n == PAPER else MARGIN), n == PAPER))
    return RecipeChoice(best, candidate_config(best, round_, seed, overrides), scores, time.perf_counter() - start)
