"""The typed result every finder returns: what it saw, how sure, the evidence, and what the owner can do."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["info", "suggest", "warn"]
SEVERITY_RANK = {"info": 0, "suggest": 1, "warn": 2}


@dataclass(frozen=True)
class Action:
    """One click: a request relative to the concept's API (``ratings/17``), or ``tip`` for dismissing."""
    label: str
    method: str
    path: str                    # relative to /api/concepts/{id}/
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Group:
    """A set of images shown together, with what they share ("90% positive")."""
    label: str
    image_ids: tuple[int, ...]
    positive_rate: float | None = None


@dataclass(frozen=True)
class Evidence:
    image_ids: tuple[int, ...] = ()
    phrases: tuple[str, ...] = ()
    figures: dict[str, float] = field(default_factory=dict)
    groups: tuple[Group, ...] = ()


@dataclass(frozen=True)
class Finding:
    kind: str                    # mislabel, phrase-yield, phrase-exhausted, ...
    key: str                     # stable across recomputations: kind + subject
    severity: Severity
    title: str
    message: str
    evidence: Evidence = field(default_factory=Evidence)
    actions: tuple[Action, ...] = ()
    usefulness: float = 0.5      # 0..1, orders findings of one severity

    @property
    def digest(self) -> str:
        """Changes when the evidence does, so a tip shown before may come back with new evidence."""
        figures = {k: round(float(v), 2) for k, v in self.evidence.figures.items()}
        ev = {"ids": sorted(self.evidence.image_ids), "phrases": sorted(self.evidence.phrases), "figures": figures}
        return hashlib.sha1(json.dumps(ev, sort_keys=True).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["digest"] = self.digest
        return out


def rank(findings: list[Finding]) -> list[Finding]:
    """Most useful first: severity, then usefulness, then key (a stable order)."""
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], -f.usefulness, f.key))


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"
