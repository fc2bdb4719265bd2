"""The assistant: advice (every current finding), Ask about a target, tips after events, the tips switch,
and first phrases for a concept not yet created."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from agile.assistant import Finding, Target
from agile.errors import AgileError
from server.assistant import Assistant
from server.assistant_schemas import (AdvicePublic, AnswerPublic, AskRequest, FindingPublic, SuggestionsPublic,
                                      TipDismiss, TipPublic, TipRequest, TipsSwitch)
from server.auth import OwnedConcept, ReadableConceptId, StateDep, UserDep
from server.errors import Forbidden, NotFound
from server.status import responses
from server.tips import DISMISSED

router = APIRouter(prefix="/api", tags=["assistant"])


def get_assistant(request: Request, state: StateDep) -> Assistant:
    """One assistant per app, made on first use (its vocabulary is embedded then, once)."""
    assistant = getattr(request.app.state, "assistant", None)
    if assistant is None:
        assistant = request.app.state.assistant = Assistant(state)
    return assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]


def finding_public(concept_id: int, finding: Finding) -> FindingPublic:
    """Actions get absolute paths: the library speaks relative to the concept."""
    data = finding.to_dict()
    for action in data["actions"]:
        action["path"] = f"/api/concepts/{concept_id}/{action['path']}".rstrip("/")
    return FindingPublic.model_validate(data)


@router.get("/concepts/{concept_id}/advice", response_model=AdvicePublic, responses=responses(NotFound))
def advice(concept_id: ReadableConceptId, user: UserDep, state: StateDep, assistant: AssistantDep):
    """Every current finding about the concept, most useful first, each with its evidence and actions."""
    state.repo.concept(concept_id)
    findings = assistant.advice(concept_id)
    return AdvicePublic(concept_id=concept_id, findings=[finding_public(concept_id, f) for f in findings],
                        tips_on=assistant.tips.tips_on(user.id), wording=assistant.wording)


@router.post("/concepts/{concept_id}/ask", response_model=AnswerPublic, responses=responses(NotFound, AgileError))
def ask(concept_id: ReadableConceptId, body: AskRequest, state: StateDep, assistant: AssistantDep):
    """Findings and facts about a phrase, an image, a version or the concept; free text is matched to
    finding kinds. Says plainly when it cannot answer."""
    state.repo.concept(concept_id)
    t = body.target
    answer, text, source = assistant.ask(concept_id, Target(t.kind, t.phrase, t.image, t.version), body.question)
    return AnswerPublic(text=text, answered=answer.answered, source=source, facts=answer.facts,
                        findings=[finding_public(concept_id, f) for f in answer.findings])


@router.post("/concepts/{concept_id}/tips", response_model=TipPublic, responses=responses(NotFound, Forbidden))
def next_tip(body: TipRequest, concept: OwnedConcept, user: UserDep, assistant: AssistantDep):
    """After a batch, round or evaluation: at most one new tip, the most useful not shown before."""
    tip, text, reason = assistant.next_tip(concept.id, user.id)
    return TipPublic(tip=finding_public(concept.id, tip) if tip else None, text=text, reason=reason)


@router.post("/concepts/{concept_id}/tips/dismiss", response_model=TipPublic,
             responses=responses(NotFound, Forbidden))
def dismiss_tip(body: TipDismiss, concept: OwnedConcept, user: UserDep, assistant: AssistantDep):
    """A dismissed finding never comes back as a tip (it stays in the advice list)."""
    assistant.tips.mark(concept.id, body.key, "", DISMISSED, user.id)
    return TipPublic(tip=None, reason=f"{body.key} dismissed")


@router.get("/me/assistant", response_model=TipsSwitch)
def tips_switch(user: UserDep, assistant: AssistantDep):
    """Whether the assistant offers this user tips."""
    return TipsSwitch(tips=assistant.tips.tips_on(user.id))


@router.put("/me/assistant", response_model=TipsSwitch)
def set_tips_switch(body: TipsSwitch, user: UserDep, assistant: AssistantDep):
    """Switch tips on or off for this user (Ask and advice keep working)."""
    assistant.tips.set_tips(user.id, body.tips)
    return body


@router.get("/assistant/phrases", response_model=SuggestionsPublic)
def first_phrases(_: UserDep, assistant: AssistantDep,
                  text: Annotated[str, Query(min_length=1, max_length=200,
                                             description="what kind of classifier would you like to create?")]):
    """Phrases to start a concept with, before its first batch: vocabulary phrases near the images
    nearest to the text."""
    source, picks = assistant.first_phrases(text)
    return SuggestionsPublic(text=text, source=source, suggestions=picks)
