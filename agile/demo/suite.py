"""The concept suite: named concepts over the demo world, each with a ground-truth predicate.

``suite.json`` (versioned) lists each concept's name, one-line description,
the positive and negative phrases a person would type, its difficulty and a
predicate in the language of ``agile.demo.predicate``. ``SuiteConcept.labels``
turns the predicate into ground truth for every scene of a demo corpus.
"""
from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agile.demo import predicate as pred
from agile.demo.table import SceneTable
from agile.errors import AgileError

SUITE_PATH = Path(__file__).resolve().parent / "suite.json"


class SuiteError(AgileError):
    """The suite file is missing, malformed, or a concept's predicate does not parse."""


class SuiteConcept(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    difficulty: Literal["easy", "hard"]
    positives: tuple[str, ...] = Field(min_length=1)
    negatives: tuple[str, ...] = ()
    predicate: str

    @field_validator("predicate")
    @classmethod
    def _parses(cls, value: str) -> str:
        pred.parse(value)  # a PredicateError passes through pydantic; load_suite names the file
        return value

    @cached_property
    def tree(self):
        return pred.parse(self.predicate)

    def labels_for(self, table: SceneTable) -> np.ndarray:
        """Ground truth over a ``SceneTable``: bool (table.n,)."""
        return pred.evaluate(self.tree, table)

    def labels(self, corpus) -> np.ndarray:
        """Ground truth for every vector of a demo corpus: bool (corpus.count,)."""
        return self.labels_for(scene_table(corpus))


def scene_table(corpus) -> SceneTable:
    """The attribute table of a demo corpus (read once per corpus object and cached on it)."""
    cached = getattr(corpus, "_demo_scene_table", None)
    if cached is None:
        cached = SceneTable.from_columns(corpus.column)
        try:
            corpus._demo_scene_table = cached
        except AttributeError:  # a corpus type that refuses new attributes simply re-reads
            pass
    return cached


class _SuiteFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["agile-demo-suite"]
    version: int
    concepts: list[SuiteConcept]


def read_json(path: Path, error: type[Exception], what: str):
    """The JSON value in the file at ``path``; ``error`` names the file (and the line of a syntax error)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as e:
        raise error(f"{path}: no such {what} file") from e
    except json.JSONDecodeError as e:
        raise error(f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e


def load_suite(path: str | Path = SUITE_PATH) -> list[SuiteConcept]:
    """The concepts of a suite file (by default the one shipped with the demo world)."""
    path = Path(path)
    raw = read_json(path, SuiteError, "suite")
    try:
        suite = _SuiteFile.model_validate(raw)
    except pred.PredicateError as e:
        raise SuiteError(f"{path}: {e}") from e
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
        raise SuiteError(f"{path}: {problems}") from e
    names = [c.name for c in suite.concepts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SuiteError(f"{path}: concept names repeat: {duplicates}")
    return suite.concepts
