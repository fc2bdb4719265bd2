"""Typed errors of the evaluation package."""
from __future__ import annotations

from agile.errors import AgileError


class EvalError(AgileError):
    """Evaluation input is unusable (a bad concepts file, a degenerate label set, ...)."""


class ConceptsFileError(EvalError):
    """A concepts file is missing or malformed; the message names the file and entry."""
