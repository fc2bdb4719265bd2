"""Request dependencies: the app state, the caller, and the concepts they may change."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from server.accounts import User
from server.errors import Forbidden, NotFound, Unauthorized
from server.params import ConceptId
from server.repository import ConceptRecord
from server.state import AppState


async def get_state(request: Request) -> AppState:
    return request.app.state.agile


StateDep = Annotated[AppState, Depends(get_state)]


async def current_user(request: Request, state: StateDep) -> User:
    """Async so a poll with a known token never waits for a worker thread."""
    header = request.headers.get("authorization")
    if header is None:
        if state.dev_user is not None:
            return state.dev_user
        raise Unauthorized("missing token: send 'Authorization: Bearer <token>' "
                           "(tokens come from 'agile users add NAME --role owner|viewer')")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header; expected 'Bearer <token>'")
    token = token.strip()
    user = state.accounts.known_user(token) or await run_in_threadpool(state.accounts.user_for_token, token)
    if user is None:
        raise Unauthorized("unknown token (never issued, or revoked)")
    return user


UserDep = Annotated[User, Depends(current_user)]


async def require_owner(user: UserDep) -> User:
    if user.role != "owner":
        raise Forbidden(f"user {user.name!r} is a viewer: viewers can list, poll and score, "
                        "but not create, edit, rate or train")
    return user


OwnerDep = Annotated[User, Depends(require_owner)]


async def readable_concept(concept_id: ConceptId, user: UserDep, state: StateDep) -> int:
    """The concept id, if the caller may read it (always, unless reads are limited to shared concepts).

    Async, and no database query unless reads are limited, so polls stay cheap.
    """
    if state.settings.read_access == "shared" and \
            not await run_in_threadpool(state.repo.can_read, concept_id, user.id):
        raise NotFound(f"no concept {concept_id}")  # the same answer as for a missing one: existence is private
    return concept_id


ReadableConceptId = Annotated[int, Depends(readable_concept)]


def visible_to(user: User, state: AppState) -> int | None:
    """The user whose concepts a listing shows, or None for every concept."""
    return user.id if state.settings.read_access == "shared" else None


def owned_concept(concept_id: ConceptId, user: OwnerDep, state: StateDep) -> ConceptRecord:
    concept = state.repo.concept(concept_id)
    if concept.owner_id != user.id:
        raise Forbidden(f"concept {concept_id} belongs to {concept.owner!r}; only its owner can change it")
    return concept


OwnedConcept = Annotated[ConceptRecord, Depends(owned_concept)]
