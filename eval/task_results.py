"""The typed, versioned result of one simulated task run (``OUT/tasks/<task>__seed<k>.json``).

Validated when read, so a damaged or foreign file is named rather than
crashing the report; ``format`` grows when a field changes meaning.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from agile.formats import FormatModel
from eval.errors import EvalError

TASK_RESULT_FORMAT = 1


class CategoryInfo(FormatModel):
    name: str
    phrases: list[str]


class TaskInfo(FormatModel):
    name: str
    description: str = ""
    classes: list[str]               # in class-index order: the categories, then "none of these" if it has it
    none_of_these: bool
    categories: list[CategoryInfo]


class TaskRoundResult(FormatModel):
    round: int
    source: str                      # "expansion" or the strategy that chose the batch
    batch: int
    labels: int                      # images rated with a class so far ("can't tell" answers left out)
    skipped: int                     # "can't tell" answers so far: images of no class of a task without "none"
    rated_classes: list[int]         # ratings so far per class
    batch_classes: list[int]         # the batch's images per class, by the ground truth
    fallback_uniform: bool           # no model could be trained yet (one class rated): measured as uniform
    metrics: dict[str, Any]          # agile.evaluation.TaskMetrics on the held-out split
    seconds: float


class TaskStratifiedResult(FormatModel):
    """The session's own evaluation set (``Session.evaluation_set``) rated from the ground truth."""
    images: int
    heldout: int                     # of them in the held-out split (the set takes the lowest URI hashes)
    rated: int
    counts: list[int]                # rated images per class
    message: str
    models: dict[str, dict[str, Any] | None]


class TaskRunResult(FormatModel):
    format: int = TASK_RESULT_FORMAT
    kind: Literal["task"] = "task"
    task: TaskInfo
    seed: int
    strategy: str
    prevalence: list[float]          # share of the corpus in each class
    heldout: dict[str, Any]          # images, counts per class
    rounds: list[TaskRoundResult]
    stratified: TaskStratifiedResult | None = None  # None: no version to stratify on
    seconds: float
    run_key: dict[str, Any] | None = None

    @classmethod
    def read(cls, path: Path, data: Any) -> "TaskRunResult":
        return cls.parse(data, f"{path}: not a task run result", EvalError)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
