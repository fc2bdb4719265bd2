"""The typed, versioned result of one simulated concept run (``OUT/concepts/<concept>__seed<k>.json``).

Validated when read, so a damaged or foreign file is named rather than
crashing the report; ``format`` grows when a field changes meaning, and files
written before it existed (no ``format``) are format 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


from agile.formats import FormatModel
from agile.sidecar import ConceptRef, Stability
from eval.errors import EvalError

RESULT_FORMAT = 1


class ConceptInfo(ConceptRef):
    """A ground-truth concept as a version sidecar names one, with what the benchmark knows of it."""
    difficulty: str
    description: str = ""


class RoundResult(FormatModel):
    round: int
    source: str
    batch: int
    labels: int
    rated_positive: int
    batch_positive_truth: int
    fallback_zero_shot: bool
    metrics: dict[str, Any]
    seconds: float
    stability: Stability | None = None  # how much the version changed the fixed sample's labels (None: first)
    recipe: dict[str, Any] | None = None  # the adaptive recipe's choice (agile.recipes.RecipeChoice)
    fallback_constant: bool = False     # no model and no text (withheld): measured as a constant score


class StratifiedResult(FormatModel):
    images: int
    positives: int
    models: dict[str, dict[str, Any] | None]


class ConceptRunResult(FormatModel):
    format: int = RESULT_FORMAT
    concept: ConceptInfo
    seed: int
    rater: str
    prevalence: float
    heldout: dict[str, int]
    zero_shot: dict[str, Any] | None    # None: no text model (withheld), so no zero-shot
    rounds: list[RoundResult]
    stratified: StratifiedResult
    seconds: float
    run_key: dict[str, Any] | None = None
    start: str = "text"                 # "images": the name and seed_ids as the owner's start (eval.starts)
    seed_ids: list[int] = []
    text_model: bool = True             # False: the corpus's text model was withheld (eval.withheld)

    @classmethod
    def read(cls, path: Path, data: Any) -> "ConceptRunResult":
        return cls.parse(data, f"{path}: not a concept run result", EvalError)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
