"""Targets: what the owner needs from the classifier, read from a short sentence, and the metric it names.

A target is a metric and a value — AUC-PR, F1 at the version's threshold,
precision at a given recall, or recall at a given precision — optionally with
a latency or size limit for the exported scorer. ``parse_target`` reads
"90% precision at 50% recall" or "AUC-PR of at least 0.8, under 2 ms" and
says what it understood; ``target_value`` measures a target on rated scores.
"""
from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, model_validator
from sklearn.metrics import average_precision_score, f1_score, precision_recall_curve

from agile.errors import AgileError

Metric = Literal["auc_pr", "f1", "precision_at_recall", "recall_at_precision"]
METRIC_WORDS = {"auc_pr": "AUC-PR", "f1": "F1", "precision_at_recall": "precision", "recall_at_precision": "recall"}


class TargetError(AgileError):
    """A target sentence that cannot be read, or a target that cannot be measured."""


class Target(BaseModel):
    metric: Metric
    value: float = Field(gt=0, le=1)
    at: float | None = Field(None, gt=0, le=1, description="the recall (or precision) the metric is read at")
    max_latency_ms: float | None = Field(None, gt=0, description="p50 latency of one exported scoring call")
    max_size_mb: float | None = Field(None, gt=0, description="size of the exported model")

    @model_validator(mode="after")
    def _needs_at(self) -> "Target":
        if (self.metric in ("precision_at_recall", "recall_at_precision")) != (self.at is not None):
            raise ValueError(f"{self.metric} needs `at` (and only it does)")
        return self

    def describe(self) -> str:
        """The target as a sentence: what the parser understood."""
        pct = lambda x: f"{100 * x:g}%"  # noqa: E731
        if self.metric == "precision_at_recall":
            text = f"precision of at least {pct(self.value)} at {pct(self.at)} recall"
        elif self.metric == "recall_at_precision":
            text = f"recall of at least {pct(self.value)} at {pct(self.at)} precision"
        else:
            text = f"{METRIC_WORDS[self.metric]} of at least {self.value:g}"
        limits = [f"scoring within {self.max_latency_ms:g} ms" if self.max_latency_ms else "",
                  f"a model under {self.max_size_mb:g} MB" if self.max_size_mb else ""]
        return ", ".join([text, *filter(None, limits)])


_NUMBER = r"(\d+(?:\.\d+)?)\s*(%|percent)?"
_METRIC = r"(auc[- ]?pr|average precision|f1|f-1|precision|recall)"
# "90% precision" and "precision of at least 0.9": a value and the metric it belongs to, either order.
_VALUE_THEN_METRIC = re.compile(_NUMBER + r"\s*(?:of\s+)?" + _METRIC)
_METRIC_THEN_VALUE = re.compile(_METRIC + r"\s*(?:of|=|:|>=)?\s*(?:at least\s+)?" + _NUMBER)


def _fraction(number: str, percent: str | None) -> float:
    value = float(number)
    return value / 100 if percent or value > 1 else value


def _metric_name(word: str) -> str:
    word = word.replace(" ", "").replace("-", "")
    return {"aucpr": "auc_pr", "averageprecision": "auc_pr"}.get(word, word)


def _pairs(text: str) -> list[tuple[str, float]]:
    """(metric, value) in the order they appear."""
    found = [(m.start(), _metric_name(m.group(3)), _fraction(m.group(1), m.group(2)))
             for m in _VALUE_THEN_METRIC.finditer(text)]
    found += [(m.start(), _metric_name(m.group(1)), _fraction(m.group(2), m.group(3)))
              for m in _METRIC_THEN_VALUE.finditer(text)]
    return [(metric, value) for _, metric, value in sorted(found)]


def parse_target(text: str) -> Target:
    """Read a target from a short sentence; TargetError says what could not be read.

    Understood: "90% precision at 50% recall", "recall 0.8 at precision 0.95",
    "AUC-PR 0.8", "an F1 of at least 70%", each optionally followed by
    "under 5 ms" / "within 5 ms" and "smaller than 2 MB".
    """
    if not isinstance(text, str) or not text.strip() or len(text) > 300:
        raise TargetError("say the target in a short sentence, e.g. '90% precision at 50% recall' or 'AUC-PR 0.8'")
    s = text.lower()
    limits = {}
    if m := re.search(r"(?:under|within|below|at most|<)\s*" + r"(\d+(?:\.\d+)?)\s*ms\b", s):
        limits["max_latency_ms"] = float(m.group(1))
        s = s.replace(m.group(0), " ")
    if m := re.search(r"(?:under|smaller than|below|at most|<)\s*(\d+(?:\.\d+)?)\s*mb\b", s):
        limits["max_size_mb"] = float(m.group(1))
        s = s.replace(m.group(0), " ")
    pairs = _pairs(s)
    if not pairs:
        raise TargetError(f"no metric and value found in {text.strip()[:80]!r}; try '90% precision at 50% recall', "
                          "'recall 0.8 at 95% precision', 'AUC-PR 0.8' or 'F1 0.7'")
    (metric, value), rest = pairs[0], pairs[1:]
    if metric in ("precision", "recall"):
        other = "recall" if metric == "precision" else "precision"
        at = next((v for m, v in rest if m == other), None)
        if at is None:
            raise TargetError(f"{metric} needs the {other} it is read at, e.g. '90% precision at 50% recall'")
        metric = f"{metric}_at_{other}"
        return Target(metric=metric, value=value, at=at, **limits)
    return Target(metric=metric, value=value, **limits)


def target_value(target: Target, labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> float:
    """The target's metric of ``scores`` against 0/1 ``labels`` (both classes required)."""
    truth = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    if truth.all() or not truth.any():
        raise TargetError("the target's metric needs rated positives and negatives")
    if target.metric == "auc_pr":
        return float(average_precision_score(truth, scores))
    if target.metric == "f1":
        return float(f1_score(truth, scores >= threshold, zero_division=0.0))
    precision, recall, _ = precision_recall_curve(truth, scores)
    if target.metric == "precision_at_recall":
        return float(precision[recall >= target.at].max())
    reached = recall[precision >= target.at]
    return float(reached.max()) if len(reached) else 0.0
