"""The typed, versioned result of one simulated concept run (``OUT/concepts/<concept>__seed<k>.json``).

Validated when read, so a damaged or foreign file is named rather than
crashing the report; ``format`` grows when a field changes meaning, and files
written before it existed (no ``format``) are format 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eval.errors import EvalError

RESULT_FORMAT = 1


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")


class ConceptInfo(_Part):
    name: str
    difficulty: str
    description: str = ""
    positives: list[str] = Field(default_factory=list)
    negatives: list[str] = Field(default_factory=list)


class RoundResult(_Part):
    round: int
    source: str
    batch: int
    labels: int
    rated_positive: int
    batch_positive_truth: int
    fallback_zero_shot: bool
    metrics: dict[str, Any]
    seconds: float


class StratifiedResult(_Part):
    images: int
    positives: int
    models: dict[str, dict[str, Any] | None]


class ConceptRunResult(_Part):
    format: int = RESULT_FORMAT
    concept: ConceptInfo
    seed: int
    rater: str
    prevalence: float
    heldout: dict[str, int]
    zero_shot: dict[str, Any]
    rounds: list[RoundResult]
    stratified: StratifiedResult
    seconds: float
    run_key: dict[str, Any] | None = None

    @classmethod
    def read(cls, path: Path, data: Any) -> "ConceptRunResult":
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise EvalError(f"{path}: not a concept run result: field {where}: {first['msg']}") from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
