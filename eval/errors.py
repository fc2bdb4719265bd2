"""Typed errors of the evaluation harness (the library's own are in ``agile.errors``)."""
from __future__ import annotations

from agile.errors import EvalError

__all__ = ["ConceptsFileError", "EvalError", "TasksFileError"]


class ConceptsFileError(EvalError):
    """A concepts file is missing or malformed; the message names the file and entry."""


class TasksFileError(ConceptsFileError):
    """A tasks file is missing or malformed, or a task does not fit the corpus; the message names the file."""
