"""Request and response bodies of the assistant's routes: one pydantic model per direction."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActionPublic(BaseModel):
    label: str
    method: str
    path: str                       # absolute: /api/concepts/{id}/...
    body: dict[str, Any] | None = None


class GroupPublic(BaseModel):
    label: str
    image_ids: list[int]
    positive_rate: float | None = None


class EvidencePublic(BaseModel):
    image_ids: list[int]
    phrases: list[str]
    figures: dict[str, float]
    groups: list[GroupPublic]


class FindingPublic(BaseModel):
    kind: str
    key: str
    severity: Literal["info", "suggest", "warn"]
    title: str
    message: str
    evidence: EvidencePublic
    actions: list[ActionPublic]
    digest: str


class AdvicePublic(BaseModel):
    concept_id: int
    findings: list[FindingPublic]
    tips_on: bool
    wording: str = Field(description="who words the answers: the findings themselves, or the configured model")


class AskTarget(Strict):
    kind: Literal["concept", "phrase", "image", "version"] = "concept"
    phrase: Annotated[str, Field(max_length=200)] | None = None
    image: Annotated[int, Field(ge=0)] | None = None
    version: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _names_its_target(self) -> "AskTarget":
        needed = {"phrase": self.phrase, "image": self.image}.get(self.kind, 0)
        if needed is None:
            raise ValueError(f"an Ask about a {self.kind} needs its '{self.kind}' field")
        return self


class AskRequest(Strict):
    target: AskTarget = AskTarget()
    question: Annotated[str, Field(max_length=1000)] | None = None


class AnswerPublic(BaseModel):
    text: str
    answered: bool
    source: str
    facts: dict[str, Any]
    findings: list[FindingPublic]


class TipRequest(Strict):
    event: Literal["batch", "round", "evaluation", "evaluate", "train", "expand", "score", "ratings"] = "batch"


class TipDismiss(Strict):
    key: Annotated[str, Field(min_length=1, max_length=500)]


class TipPublic(BaseModel):
    tip: FindingPublic | None
    text: str | None = None
    reason: str


class TipsSwitch(Strict):
    tips: bool


class SuggestionPublic(BaseModel):
    phrase: str
    cosine: float


class SuggestionsPublic(BaseModel):
    text: str
    source: str
    suggestions: list[SuggestionPublic]
