"""Concepts, their current batch, and ratings."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from agile.concept import Concept
from agile.refusals import DEFAULT_POLICY, check_phrases_agree, check_policy, load_policy
from agile.session_store import EVALUATION
from server.auth import OwnedConcept, OwnerDep, ReadableConceptId, StateDep, UserDep, visible_to
from server.errors import NotFound
from server.params import ImageId, UserName
from server.repository import ConceptRecord, Rating
from server.schemas import (BatchItem, BatchPublic, ConceptCreate, ConceptPublic, ConceptUpdate, JobPublic, Purpose,
                            RatingChange, ReadersPublic, RatingsPublic, RatingsSubmit)
from server.state import AppState

router = APIRouter(prefix="/api/concepts", tags=["concepts"])


def concept_public(state: AppState, concept: ConceptRecord) -> ConceptPublic:
    rated, positive = state.repo.rating_counts(concept.id)
    evaluation_rated, _ = state.repo.rating_counts(concept.id, EVALUATION)
    jobs = state.repo.jobs(concept.id, limit=1)
    return ConceptPublic(id=concept.id, name=concept.name, owner=concept.owner, positives=concept.positives,
                         negatives=concept.negatives, created_at=concept.created_at,
                         updated_at=concept.updated_at, rated=rated, rated_positive=positive,
                         evaluation_rated=evaluation_rated,
                         latest_version=state.watch.latest(concept.id) or None,
                         job=JobPublic.model_validate(jobs[0], from_attributes=True) if jobs else None)


def refuse_unbuildable(state: AppState, concept: Concept) -> None:
    """Refuse, with the rule's name, a concept the server's policy forbids or whose phrases contradict."""
    check_policy([concept.name, *concept.positives, *concept.negatives],
                 load_policy(state.settings.policy_path or DEFAULT_POLICY))
    check_phrases_agree(concept.positives, concept.negatives)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConceptPublic)
def create_concept(body: ConceptCreate, user: OwnerDep, state: StateDep):
    """Create a concept and start expansion: its first batch is ready when the job is done."""
    clean = Concept.create(body.name, body.positives, body.negatives)
    refuse_unbuildable(state, clean)
    state.jobs.check_room(user.id)
    concept_id = state.repo.create_concept(clean.name, clean.positives, clean.negatives, user.id)
    state.jobs.submit(concept_id, "expand", {}, user.id)
    return concept_public(state, state.repo.concept(concept_id))


@router.get("", response_model=list[ConceptPublic])
def list_concepts(user: UserDep, state: StateDep):
    return [concept_public(state, c) for c in state.repo.concepts(visible_to(user, state))]


@router.get("/{concept_id}", response_model=ConceptPublic)
def get_concept(concept_id: ReadableConceptId, state: StateDep):
    return concept_public(state, state.repo.concept(concept_id))


@router.patch("/{concept_id}", response_model=ConceptPublic)
def edit_phrases(body: ConceptUpdate, concept: OwnedConcept, state: StateDep):
    """Replace the phrases (the name stays the first positive). Jobs read the phrases when they run,
    so the next 'expand' job (and evaluation's zero-shot ranking) uses these."""
    clean = Concept.create(concept.name, body.positives, body.negatives)
    refuse_unbuildable(state, clean)
    state.repo.set_phrases(concept.id, clean.positives, clean.negatives)
    return concept_public(state, state.repo.concept(concept.id))


@router.get("/{concept_id}/batch", response_model=BatchPublic)
def current_batch(concept_id: ReadableConceptId, state: StateDep,
                  purpose: Annotated[Purpose | None, Query(description="only a batch of this purpose "
                                                                       "(default: the newest of either)")] = None):
    """The batch to rate now: expansion first, then the one chosen by the latest AL round (or evaluation)."""
    batch = state.repo.current_batch(concept_id, purpose)
    if batch is None:
        what = f"{purpose} batch" if purpose else "batch"
        raise NotFound(f"concept {concept_id} has no {what} yet; follow its "
                       f"{'evaluate' if purpose == EVALUATION else 'expand'} job")
    ratings = state.repo.ratings_of(concept_id, batch.ids)
    total, _ = state.repo.rating_counts(concept_id, batch.purpose)
    items = [BatchItem(id=i, image_url=f"/api/images/{i}", rating=ratings.get(i)) for i in batch.ids]
    return BatchPublic(id=batch.id, concept_id=concept_id, round=batch.round, source=batch.source,
                       purpose=batch.purpose, model_version=batch.model_version, created_at=batch.created_at,
                       size=len(batch.ids), rated=len(ratings), total_rated=total, items=items)


def _counts(state: AppState, concept_id: int) -> RatingsPublic:
    rated, positive = state.repo.rating_counts(concept_id)
    evaluation_rated, _ = state.repo.rating_counts(concept_id, EVALUATION)
    return RatingsPublic(concept_id=concept_id, rated=rated, rated_positive=positive,
                         evaluation_rated=evaluation_rated)


@router.post("/{concept_id}/ratings", response_model=RatingsPublic)
def submit_ratings(body: RatingsSubmit, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Rate (or re-rate) images of the concept's batches; all are stored or none."""
    state.repo.rate(concept.id, user.id, [Rating(r.id, r.positive, r.seconds) for r in body.ratings])
    return _counts(state, concept.id)


@router.put("/{concept_id}/ratings/{corpus_id}", response_model=RatingsPublic)
def change_rating(corpus_id: ImageId, body: RatingChange, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    state.repo.rate(concept.id, user.id, [Rating(corpus_id, body.positive, body.seconds)])
    return _counts(state, concept.id)


@router.delete("/{concept_id}/ratings/{corpus_id}", response_model=RatingsPublic)
def undo_rating(corpus_id: ImageId, concept: OwnedConcept, state: StateDep):
    """Forget a rating (undo); the image shows as unrated again."""
    state.repo.unrate(concept.id, corpus_id)
    return _counts(state, concept.id)


@router.get("/{concept_id}/readers", response_model=ReadersPublic)
def list_readers(concept: OwnedConcept, state: StateDep):
    """Who the concept is shared with (they read it when the server limits reads to shared concepts)."""
    return ReadersPublic(concept_id=concept.id, readers=state.repo.readers(concept.id))


@router.put("/{concept_id}/readers/{name}", response_model=ReadersPublic)
def add_reader(name: UserName, concept: OwnedConcept, state: StateDep):
    """Share the concept with a user: they may read it, its batches, versions and evaluation, and score."""
    state.repo.add_reader(concept.id, name)
    return ReadersPublic(concept_id=concept.id, readers=state.repo.readers(concept.id))


@router.delete("/{concept_id}/readers/{name}", response_model=ReadersPublic)
def remove_reader(name: UserName, concept: OwnedConcept, state: StateDep):
    state.repo.remove_reader(concept.id, name)
    return ReadersPublic(concept_id=concept.id, readers=state.repo.readers(concept.id))
