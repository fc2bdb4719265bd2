"""A simulated owner building a multi-category task (agile.task) from ground truth, round by round.

The protocol of ``eval.simulate.ConceptRun`` for tasks: the held-out split is
reserved; round 0 rates an expansion of every category's phrases; every later
round rates the batch the strategy picks (margin: the gap of the two likeliest
classes; entropy; random; cluster-margin); after each round the new version's
class probabilities on the held-out split are measured against the ground
truth (macro AUC-PR first, macro F1, accuracy, per-class AUC-PR). At the end
the session builds its own stratified evaluation set (per class, over its
latest versions), the ground truth rates it and the session evaluates every
version on it, as an owner pressing Evaluate would see it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from agile.evaluation import compute_task_metrics
from agile.sampling import TASK_STRATEGIES
from agile.session import NothingToOfferError, Session, SessionSettings
from agile.session_store import SKIP, MemoryStore
from agile.training import OneClassError
from agile.workspace import Workspace
from eval.errors import EvalError
from eval.split import HeldOutSplit
from eval.task_results import TaskRunResult
from eval.tasks import NO_CLASS, GroundTruthTask


@dataclass(frozen=True)
class TaskSimulationConfig:
    rounds: int = 5                  # active-learning rounds after the expansion round 0
    batch: int = 100                 # images rated per round (expansion included)
    strategy: str = "margin"         # one of agile.sampling.TASK_STRATEGIES
    seeds: int = 1
    heldout_fraction: float = 0.2
    per_phrase: int = 100            # raised to `batch` so one phrase can fill a batch
    random_negatives: int | None = None  # None: the library's default ("none of these" stand-ins)
    epochs: int | None = None            # None: the paper's 10
    lr: float | None = None              # None: the paper's 1e-4
    bootstrap: int = 100             # resamples for 95% intervals on the (small) stratified set; 0: none
    heldout_bootstrap: int = 0       # the same on the held-out split; its intervals are narrow and costly

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.batch < 1 or self.seeds < 1 or min(self.bootstrap, self.heldout_bootstrap) < 0:
            raise EvalError("rounds >= 0, batch >= 1, seeds >= 1 and bootstrap >= 0 are required")
        if self.strategy not in TASK_STRATEGIES:
            raise EvalError(f"a task's batches are chosen by {', '.join(sorted(TASK_STRATEGIES))}, "
                            f"not {self.strategy!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def session_settings(self) -> SessionSettings:
        """A task's session trains the paper's softmax MLP whatever the learner; only these cuts matter."""
        return SessionSettings(batch_size=self.batch, per_phrase=self.per_phrase,
                               random_negatives=self.random_negatives, epochs=self.epochs, lr=self.lr)


class TaskRun:
    """One simulated owner building one task with one seed, through a labelling session."""

    def __init__(self, workspace: Workspace, task: GroundTruthTask, truth: np.ndarray, split: HeldOutSplit,
                 config: TaskSimulationConfig, seed: int):
        self.workspace, self.task, self.split, self.config, self.seed = workspace, task, split, config, seed
        self.definition = task.definition()
        self.classes = self.definition.classes
        self.truth = np.asarray(truth, dtype=np.int64)
        heldout = self.truth[split.ids]
        self.measured = heldout != NO_CLASS  # images of no class (the owner cannot tell) measure nothing
        self.heldout_truth = heldout[self.measured]
        present = np.unique(self.heldout_truth)
        if len(present) < 2:
            raise EvalError(f"task {task.name!r}: the held-out split ({len(split)} images) holds images of "
                            f"{len(present)} class; it needs two at least")
        # The held-out split is reserved: the session never offers it for rating.
        self.store = MemoryStore.create_task(task.name, self.definition, reserved=split.ids)
        self.session = Session(workspace, self.store, seed=seed, settings=config.session_settings())

    def answers(self, ids: np.ndarray) -> list[int | None]:
        """The owner's answers: the class index, "can't tell" for an image of no class."""
        truth = self.truth[ids]
        return [SKIP if t == NO_CLASS else int(t) for t in truth.tolist()]

    def _class_counts(self, labels: np.ndarray) -> list[int]:
        labels = np.asarray(labels, dtype=np.int64)
        return np.bincount(labels[labels != NO_CLASS], minlength=len(self.classes)).tolist()

    def run(self) -> dict:
        start = time.perf_counter()
        cfg = self.config
        rounds, trained = [], None
        for r in range(cfg.rounds + 1):
            round_start = time.perf_counter()
            # Until a model exists (one class rated so far), the owner only has the phrases.
            batch = self.session.expand() if trained is None else self.session.next_batch(trained, cfg.strategy)
            self.store.rate(batch.ids, self.answers(batch.ids))
            try:
                trained = self.session.train()
                probabilities, fallback = self.workspace.score_ids(trained.model, self.split.ids), False
            except OneClassError:  # one class rated so far: no model, every class equally likely
                trained = None
                probabilities = np.full((len(self.split), len(self.classes)), 1 / len(self.classes), np.float32)
                fallback = True
            rated = self.store.labels()
            rounds.append({"round": r, "source": batch.source, "batch": len(batch.ids), "labels": len(rated.ids),
                           "skipped": len(self.store.skipped_ids()),
                           "rated_classes": self._class_counts(rated.labels),
                           "batch_classes": self._class_counts(self.truth[batch.ids]),
                           "fallback_uniform": fallback,
                           "metrics": compute_task_metrics(self.heldout_truth, probabilities[self.measured],
                                                           self.classes, cfg.heldout_bootstrap, self.seed).to_dict(),
                           "seconds": round(time.perf_counter() - round_start, 2)})
        return TaskRunResult.model_validate({
            "task": _describe(self.task, self.definition), "seed": self.seed, "strategy": cfg.strategy,
            "prevalence": (np.asarray(self._class_counts(self.truth)) / len(self.truth)).tolist(),
            "heldout": {"images": len(self.split), "counts": self._class_counts(self.heldout_truth)},
            "rounds": rounds, "stratified": self._stratified(),
            "seconds": round(time.perf_counter() - start, 2)}).to_json()

    def _stratified(self) -> dict | None:
        """The session's evaluation set over its latest versions, rated from the ground truth and evaluated
        by the session (every version, per-class AUC-PR, macro F1, confusion)."""
        try:
            evaluation = self.session.evaluation_set()
        except NothingToOfferError:  # no version was ever trained: nothing to stratify on
            return None
        ids = evaluation.batch.ids
        self.store.rate(ids, self.answers(ids))
        result = self.session.evaluate(bootstrap=self.config.bootstrap)
        return {"images": len(ids), "heldout": int(np.isin(ids, self.split.ids).sum()), "rated": result.rated,
                "counts": self._class_counts(self.truth[ids]), "message": result.message,
                "models": {m.model: (m.metrics.to_dict() if m.metrics is not None else None)
                           for m in result.models}}


def _describe(task: GroundTruthTask, definition) -> dict:
    return {"name": task.name, "description": task.description, "classes": definition.classes,
            "none_of_these": definition.none_of_these,
            "categories": [{"name": c.name, "phrases": list(c.phrases)} for c in definition.categories]}
