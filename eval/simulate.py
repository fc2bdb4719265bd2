"""Simulated users (paper §5): play the owner (or a crowd) from ground truth, round by round.

For one concept and seed: score the zero-shot baseline; rate an expansion
batch; train the first model; then, for every active-learning round, let the
strategy pick a batch among the unrated images, rate it, and retrain. After
every round the whole corpus is scored and the model is measured on the fixed
held-out split (see eval.split) against the ground truth. At the end the
paper's stratified evaluation set is built over all the run's models and
measured too, so the two estimates can be compared.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np

from eval.concepts import GroundTruthConcept
from eval.errors import EvalError
from eval.loop import ZERO_SHOT_THRESHOLD, LibraryLoop, OneClassError
from eval.metrics import compute_metrics
from eval.split import HeldOutSplit
from eval.stratified import StrataSpec, merged_stratified_ids
from eval.users import Crowd, CrowdSpec, Owner

Rater = Literal["owner", "crowd"]


@dataclass(frozen=True)
class SimulationConfig:
    rounds: int = 5                  # active-learning rounds after the expansion round 0
    batch: int = 100                 # images rated per round (expansion included)
    strategy: str = "margin"
    seeds: int = 1
    rater: Rater = "owner"
    crowd: CrowdSpec = field(default_factory=CrowdSpec)
    heldout_fraction: float = 0.2
    per_phrase: int = 100            # raised to `batch` so one phrase can fill a batch
    random_negatives: int | None = None  # None: the library's default
    epochs: int | None = None            # None: the paper's 10
    lr: float | None = None              # None: the paper's 1e-4
    zero_shot_threshold: float = ZERO_SHOT_THRESHOLD
    bootstrap: int = 100             # resamples for 95% intervals on the (small) stratified set; 0: none
    heldout_bootstrap: int = 0       # the same on the held-out split; its intervals are narrow and costly
    per_stratum: int = 20

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.batch < 1 or self.seeds < 1 or min(self.bootstrap, self.heldout_bootstrap) < 0:
            raise EvalError("rounds >= 0, batch >= 1, seeds >= 1 and bootstrap >= 0 are required")
        if self.rater not in ("owner", "crowd"):
            raise EvalError(f"unknown rater {self.rater!r}; choose owner or crowd")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def train_overrides(self) -> dict:
        """Training settings that differ from the library's defaults."""
        chosen = {"random_negatives": self.random_negatives, "epochs": self.epochs, "lr": self.lr}
        return {name: value for name, value in chosen.items() if value is not None}


def _metrics(labels: np.ndarray, scores: np.ndarray, threshold: float, bootstrap: int, seed: int) -> dict | None:
    try:
        return compute_metrics(labels, scores, threshold, bootstrap, seed).to_dict()
    except EvalError:  # a single-class subset: the metrics are undefined
        return None


class ConceptRun:
    """One simulated owner (or crowd) building one concept with one seed."""

    def __init__(self, loop: LibraryLoop, concept: GroundTruthConcept, truth: np.ndarray,
                 split: HeldOutSplit, config: SimulationConfig, seed: int):
        self.loop, self.concept, self.split, self.config, self.seed = loop, concept, split, config, seed
        self.truth = np.asarray(truth, dtype=bool)
        self.heldout_truth = self.truth[split.ids]
        if not self.heldout_truth.any() or self.heldout_truth.all():
            raise EvalError(f"concept {concept.name!r}: the held-out split ({len(split)} images) holds "
                            f"{int(self.heldout_truth.sum())} positives; it needs positives and negatives")
        self.text_scores = loop.zero_shot(concept.positives)
        self.rater = Owner(self.truth) if config.rater == "owner" else \
            Crowd(self.truth, self.text_scores, replace(config.crowd, seed=seed))
        self.labels = loop.new_concept(concept.name, concept.positives, concept.negatives)

    def run(self) -> dict:
        start = time.perf_counter()
        cfg = self.config
        zero_shot = self._heldout_metrics(self.text_scores[self.split.ids], cfg.zero_shot_threshold)
        model_scores = {"zero-shot": self.text_scores[self.split.ids]}
        rounds, model = [], None
        for r in range(cfg.rounds + 1):
            round_start = time.perf_counter()
            ids, source = self._next_batch(model, r)
            answers = self.rater.rate(ids, r)
            for id_, positive in zip(ids.tolist(), answers.tolist()):
                self.labels.rate(id_, positive, r, source)
            try:
                model = self.loop.train(self.labels, r, self.seed, **cfg.train_overrides)
                scores, threshold, fallback = self.loop.score(model)[self.split.ids], 0.5, False
            except OneClassError:  # one class rated so far: the owner still has only the zero-shot ranking
                model = None
                scores, threshold, fallback = model_scores["zero-shot"], cfg.zero_shot_threshold, True
            model_scores[f"round {r}"] = scores
            counts = self.labels.counts()
            rounds.append({"round": r, "source": source, "batch": len(ids), "labels": len(self.labels.ratings),
                           "rated_positive": counts["positive"],
                           "batch_positive_truth": int(self.truth[ids].sum()),
                           "fallback_zero_shot": fallback,
                           "metrics": self._heldout_metrics(scores, threshold),
                           "seconds": round(time.perf_counter() - round_start, 2)})
        return {"concept": _describe(self.concept), "seed": self.seed, "rater": self.rater.name,
                "prevalence": float(self.truth.mean()), "heldout": {"images": len(self.split),
                                                                    "positives": int(self.heldout_truth.sum())},
                "zero_shot": zero_shot, "rounds": rounds, "stratified": self._stratified(model_scores),
                "seconds": round(time.perf_counter() - start, 2)}

    def _heldout_metrics(self, scores: np.ndarray, threshold: float) -> dict:
        return compute_metrics(self.heldout_truth, scores, threshold, self.config.heldout_bootstrap,
                               self.seed).to_dict()

    def _next_batch(self, model, r: int) -> tuple[np.ndarray, str]:
        rated = self.labels.rated_ids()
        cfg = self.config
        if model is None:
            per_phrase = max(cfg.per_phrase, cfg.batch)
            exclude = np.union1d(rated, self._heldout_near(rated, per_phrase))
            return self.loop.expand(self.labels, exclude, per_phrase, cfg.batch, self.seed * 1000 + r), "expansion"
        exclude = np.union1d(rated, self.split.ids)
        return self.loop.select(model, cfg.batch, cfg.strategy, exclude, self.seed * 1000 + r), cfg.strategy

    def _heldout_near(self, rated: np.ndarray, per_phrase: int) -> np.ndarray:
        """Held-out ids among the neighbours expansion will look at, so it can skip them.

        Expansion searches ``per_phrase + len(exclude)`` neighbours per phrase;
        grow the search until every held-out id within that depth is known.
        """
        phrases = [*self.labels.positives, *self.labels.negatives]
        k = per_phrase + len(rated)
        while True:
            near = np.intersect1d(self.split.ids, self.loop.neighbours(phrases, k), assume_unique=True)
            need = min(per_phrase + len(rated) + len(near), self.loop.corpus.count)
            if need <= k:
                return near
            k = need

    def _stratified(self, model_scores: dict[str, np.ndarray]) -> dict:
        """The paper's evaluation: a SipHash-stratified set over all models, rated by the ground truth."""
        spec = StrataSpec(per_stratum=self.config.per_stratum)
        chosen = merged_stratified_ids(list(model_scores.values()), self.split.hashes, self.split.ids, spec)
        pos = np.searchsorted(self.split.ids, chosen)
        labels = self.heldout_truth[pos]
        out = {"images": len(chosen), "positives": int(labels.sum()), "models": {}}
        for name, scores in model_scores.items():
            threshold = self.config.zero_shot_threshold if name == "zero-shot" else 0.5
            out["models"][name] = _metrics(labels, scores[pos], threshold, self.config.bootstrap, self.seed)
        return out


def _describe(concept: GroundTruthConcept) -> dict:
    return {"name": concept.name, "difficulty": concept.difficulty, "description": concept.description,
            "positives": list(concept.positives), "negatives": list(concept.negatives)}
