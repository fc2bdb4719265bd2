"""Typed exceptions of the library.

Callers (the CLI, the server's routes) turn these into exit codes and HTTP
errors; the library itself never prints or returns None on failure.
"""
from __future__ import annotations

from pathlib import Path


class AgileError(Exception):
    """Base class of every error the library raises on purpose."""


class CorpusError(AgileError):
    """A corpus on disk is missing, malformed or inconsistent.

    The message always names the offending file so a user can find it.
    """

    def __init__(self, path: str | Path, message: str):
        self.path = Path(path)
        self.detail = message
        super().__init__(f"{self.path}: {message}")


class CorpusExistsError(CorpusError):
    """A corpus would be written over a different, existing one."""


class EvalError(AgileError):
    """Evaluation input is unusable (a bad concepts file, a degenerate label set, ...)."""
