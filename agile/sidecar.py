"""The typed, versioned sidecar of a model version: what produced it, so any score can be traced.

Written by the labelling session, stored beside the weights by the registry
(which adds ``version``, ``config``, ``created_at`` and ``weights_sha256``)
and in the server's version record. ``format`` grows when a field changes
meaning; files of an earlier format still validate (every field added since
format 1 has a default, and unknown fields of later writers are kept).
"""
from __future__ import annotations

from typing import Any

from pydantic import Field

from agile.errors import AgileError
from agile.formats import FormatModel

SIDECAR_FORMAT = 1


class SidecarError(AgileError):
    """A version sidecar does not have the shape of any known format."""


class ConceptRef(FormatModel):
    id: int | None = None
    name: str
    positives: list[str] = Field(default_factory=list)
    negatives: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)   # a multi-category task's classes, in index order


class LabelSnapshot(FormatModel):
    count: int
    sha256: str
    positives: int
    negatives: int
    rounds: list[int] = Field(default_factory=list)
    classes: list[int] | None = None   # a multi-category task's ratings per class


class CorpusRef(FormatModel):
    path: str | None = None
    count: int


class Stability(FormatModel):
    """How much a version changed the labels of the corpus's fixed sample from the version before it
    (agile.stability)."""
    previous_version: int
    sample: int                # images in the fixed sample
    changed: float             # share of them whose predicted label (score >= 0.5) changed
    kappa: float               # Cohen's kappa of the two versions' labels
    positive: float            # share this version labels positive
    calm_versions: int         # versions in a row, this one included, that changed little
    settled: bool              # enough of them that another round of the same kind is unlikely to help


class VersionSidecar(FormatModel):
    format: int = SIDECAR_FORMAT
    concept: ConceptRef
    parent_version: int | None = None
    job_id: int | None = None
    round: int | None = None          # the training round whose recipe the version used (None: before format 1)
    labels: LabelSnapshot
    embedding_model: dict[str, Any] = Field(default_factory=dict)
    corpus: CorpusRef | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    stability: Stability | None = None  # None for a concept's first version
    # Filled in by the registry when the version is written.
    version: int | None = None
    config: dict[str, Any] | None = None
    created_at: str | None = None
    weights_sha256: str | None = None

    @classmethod
    def read(cls, data: Any, source: str = "sidecar") -> "VersionSidecar":
        """Validate a stored sidecar; SidecarError names ``source`` and the first bad field."""
        return cls.parse(data, source, SidecarError)
