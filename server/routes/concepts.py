"""Concepts, their current batch, and ratings."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from agile.candidates import CandidateFilter
from agile.concept import Concept
from agile.embedder import NoTextModelError
from agile.refusals import DEFAULT_POLICY, check_phrases_agree, check_policy, load_policy
from agile.session_store import EVALUATION
from agile.task import Category, Task
from server.auth import OwnedConcept, OwnerDep, ReadableConceptId, StateDep, UserDep, visible_to
from server.errors import Conflict, Forbidden, Invalid, NotFound
from server.exports import FORMATS, Format, encode, label_records
from server.params import ImageId, UserName
from server.repository import ConceptRecord, Rating
from server.seeds import SeedStore
from server.schemas import (BatchItem, BatchPublic, BatchSummaryPublic, CategoryPublic, ConceptCreate, ConceptPublic,
                            ConceptUpdate, JobPublic, Purpose, RatingChange, RatingPublic, RatingsPublic, RatingsSubmit,
                            ReadersPublic)
from server.state import AppState
from server.status import responses

router = APIRouter(prefix="/api/concepts", tags=["concepts"])


def concept_public(state: AppState, concept: ConceptRecord) -> ConceptPublic:
    seeds = SeedStore(state.repo.db)
    candidates = seeds.candidates(concept.id)
    by_category = seeds.category_ids(concept.id) if concept.categories is not None else {}
    rated, positive = state.repo.rating_counts(concept.id)
    evaluation_rated, _ = state.repo.rating_counts(concept.id, EVALUATION)
    jobs = state.repo.jobs(concept.id, limit=1)
    return ConceptPublic(id=concept.id, name=concept.name, owner=concept.owner, positives=concept.positives,
                         negatives=concept.negatives, created_at=concept.created_at,
                         updated_at=concept.updated_at, rated=rated, rated_positive=positive,
                         evaluation_rated=evaluation_rated, skipped=state.repo.skipped_count(concept.id),
                         latest_version=state.watch.latest(concept.id) or None,
                         job=JobPublic.model_validate(jobs[0], from_attributes=True) if jobs else None,
                         seeds=len(seeds.records(concept.id)), candidates=None if candidates is None else
                         candidates.model_dump(exclude_none=True), classes=concept.classes,
                         categories=None if concept.categories is None else [
                             CategoryPublic(name=c.name, phrases=c.phrases, seed_ids=by_category.get(i, []))
                             for i, c in enumerate(concept.categories)])


def refuse_unbuildable(state: AppState, concept: Concept, task: Task | None = None) -> None:
    """Refuse, with the rule's name, a concept the server's policy forbids or whose phrases contradict,
    and phrases on a corpus without a text model (the name alone only names the concept there; a task's
    category names only name its classes)."""
    extra = [p for c in task.categories for p in c.phrases[1:]] if task is not None else []
    if not state.loop.has_text and (concept.positives[1:] or concept.negatives or extra):
        raise NoTextModelError(f"the corpus's model {state.loop.corpus.model.name!r} has no text model, so "
                               "phrases cannot be searched with: give the concept (or each category) a name only, "
                               "and seed it with example images (seed_ids, POST .../seeds) or start from a "
                               "coverage batch")
    check_policy([concept.name, *concept.positives, *concept.negatives, *(task.phrases if task else [])],
                 load_policy(state.settings.policy_path or DEFAULT_POLICY))
    check_phrases_agree(concept.positives, concept.negatives)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ConceptPublic,
             responses=responses(Forbidden, Conflict, Invalid))
def create_concept(body: ConceptCreate, user: OwnerDep, state: StateDep):
    """Create a concept and start expansion: its first batch is ready when the job is done. Expansion takes
    the nearest unrated images of every phrase and image seed; with neither (a corpus without a text model),
    the first batch is drawn for coverage of the corpus. ``expand: false`` waits for seeds to be uploaded.
    An owner's concepts have distinct names (409 for a name already taken, ignoring case)."""
    clean = Concept.create(body.name, body.positives, body.negatives)
    task = None if body.categories is None else Task.create(
        [Category.create(c.name, c.phrases, c.seed_ids) for c in body.categories], body.none_of_these)
    refuse_unbuildable(state, clean, task)
    count = state.loop.corpus.count
    bad = [i for i in [*body.seed_ids, *(task.seed_ids if task else [])] if i >= count]
    if bad:
        raise Invalid(f"seed image {bad[0]} is not in the corpus (0..{count - 1})")
    candidates = None if body.candidates is None else CandidateFilter.model_validate(body.candidates.model_dump())
    if candidates is not None:
        candidates.mask(state.loop.corpus)  # a filter naming no column, or matching nothing, is refused now
    if body.expand:
        state.jobs.check_room(user.id)
    concept_id = state.repo.create_concept(clean.name, clean.positives, clean.negatives, user.id, task)
    seeds = SeedStore(state.repo.db)
    seeds.add_ids(concept_id, body.seed_ids, user.id)
    for i, category in enumerate(task.categories if task else []):
        seeds.add_ids(concept_id, category.seed_ids.tolist(), user.id, category=i)
    if candidates is not None:
        seeds.set_candidates(concept_id, candidates)
    if body.expand:
        state.jobs.submit(concept_id, "expand", {}, user.id)
    return concept_public(state, state.repo.concept(concept_id))


@router.get("", response_model=list[ConceptPublic])
def list_concepts(user: UserDep, state: StateDep):
    """Every concept the caller may read, oldest first, with its rating counts, latest version and latest job."""
    return [concept_public(state, c) for c in state.repo.concepts(visible_to(user, state))]


@router.get("/{concept_id}", response_model=ConceptPublic, responses=responses(NotFound))
def get_concept(concept_id: ReadableConceptId, state: StateDep):
    """One concept: phrases, rating counts, latest version and latest job."""
    return concept_public(state, state.repo.concept(concept_id))


@router.patch("/{concept_id}", response_model=ConceptPublic, responses=responses(NotFound, Forbidden, Conflict))
def edit_concept(body: ConceptUpdate, concept: OwnedConcept, state: StateDep):
    """Rename, or replace the phrases (the name stays the first positive); a task may be renamed, its
    categories stay as they were made. Jobs read the phrases when they run, so the next 'expand' job
    (and evaluation's zero-shot ranking) uses these."""
    if concept.categories is not None and (body.positives is not None or body.negatives is not None):
        raise Invalid("a task's phrases belong to its categories, which cannot be edited: create a new task")
    # A phrase edit replaces both lists (one left out is emptied); a rename keeps the lists it is not given.
    keep = body.name is not None
    positives = body.positives if body.positives is not None else concept.positives[1:] if keep else []
    negatives = body.negatives if body.negatives is not None else concept.negatives if keep else []
    clean = Concept.create(body.name or concept.name, positives, negatives)
    refuse_unbuildable(state, clean)
    if body.name is not None:
        state.repo.rename(concept.id, clean.name, clean.positives, clean.negatives)
    else:
        state.repo.set_phrases(concept.id, clean.positives, clean.negatives)
    return concept_public(state, state.repo.concept(concept.id))


@router.delete("/{concept_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(NotFound, Forbidden))
def delete_concept(concept: OwnedConcept, state: StateDep):
    """Delete a concept (its owner only): it disappears from every read; its rows and version files are
    archived, not erased."""
    state.repo.archive(concept.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{concept_id}/batch", response_model=BatchPublic, responses=responses(NotFound))
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
    items = [batch_item(i, ratings) for i in batch.ids]
    return BatchPublic(id=batch.id, concept_id=concept_id, round=batch.round, source=batch.source,
                       purpose=batch.purpose, model_version=batch.model_version, created_at=batch.created_at,
                       size=len(batch.ids), rated=len(ratings), skipped=sum(it.skipped for it in items),
                       total_rated=total, note=batch.note, items=items)


def batch_item(corpus_id: int, ratings: dict[int, bool | int | None]) -> BatchItem:
    """An image of a batch with its answer: positive or not, a task's class index, or skipped."""
    answer = ratings.get(corpus_id)
    is_class = isinstance(answer, int) and not isinstance(answer, bool)
    return BatchItem(id=corpus_id, image_url=f"/api/images/{corpus_id}", rating=None if is_class else answer,
                     category=answer if is_class else None, skipped=corpus_id in ratings and answer is None)


@router.get("/{concept_id}/batches", response_model=list[BatchSummaryPublic], responses=responses(NotFound))
def batch_history(concept_id: ReadableConceptId, state: StateDep):
    """Every batch of the concept, newest first: round, source, purpose, the version that chose it, progress."""
    return [BatchSummaryPublic.model_validate(b, from_attributes=True) for b in state.repo.batches(concept_id)]


@router.get("/{concept_id}/ratings", response_model=list[RatingPublic], responses=responses(NotFound))
def list_ratings(concept_id: ReadableConceptId, state: StateDep,
                 offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
                 limit: Annotated[int, Query(ge=1, le=10_000)] = 1000):
    """The concept's answers in the order given (positive, negative or skip), with round, purpose and rater."""
    rows = state.repo.rating_rows(concept_id, offset, limit)
    return [RatingPublic(batch_id=row.batch_id, **record) for row, record in
            zip(rows, label_records(rows, state.loop.corpus.uris))]


@router.get("/{concept_id}/labels", responses={200: {"content": {t: {} for t in FORMATS.values()},
                                                     "description": "the labels file"}, **responses(NotFound)})
def export_labels(concept_id: ReadableConceptId, state: StateDep,
                  format: Annotated[Format, Query(description="csv, jsonl or parquet")] = "csv"):
    """Download every answer as a file: id, uri, label (positive / negative / skip), round, purpose
    (training or evaluation), seconds, rater, time."""
    data = encode(label_records(state.repo.rating_rows(concept_id), state.loop.corpus.uris), format)
    return Response(data, media_type=FORMATS[format], headers={
        "Content-Disposition": f'attachment; filename="concept-{concept_id}-labels.{format}"'})


def _counts(state: AppState, concept_id: int) -> RatingsPublic:
    rated, positive = state.repo.rating_counts(concept_id)
    evaluation_rated, _ = state.repo.rating_counts(concept_id, EVALUATION)
    return RatingsPublic(concept_id=concept_id, rated=rated, rated_positive=positive,
                         evaluation_rated=evaluation_rated)


@router.post("/{concept_id}/ratings", response_model=RatingsPublic,
             responses=responses(NotFound, Forbidden, Conflict, Invalid))
def submit_ratings(body: RatingsSubmit, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Rate (or re-rate) images of the concept's batches: positive, negative or skip ("can't tell");
    all are stored or none. With ``batch_id``, a rating made on a batch that is no longer the concept's
    current one is refused (409)."""
    state.repo.rate(concept.id, user.id,
                    [Rating(r.id, r.positive, r.seconds, r.batch_id, r.category) for r in body.ratings])
    return _counts(state, concept.id)


@router.put("/{concept_id}/ratings/{corpus_id}", response_model=RatingsPublic,
            responses=responses(NotFound, Forbidden, Invalid))
def change_rating(corpus_id: ImageId, body: RatingChange, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Set the answer for one image of the concept's batches (positive, negative or skip)."""
    state.repo.rate(concept.id, user.id, [Rating(corpus_id, body.positive, body.seconds, category=body.category)])
    return _counts(state, concept.id)


@router.delete("/{concept_id}/ratings/{corpus_id}", response_model=RatingsPublic,
               responses=responses(NotFound, Forbidden))
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
    """Stop sharing the concept with a user (where reads are limited to shared concepts)."""
    state.repo.remove_reader(concept.id, name)
    return ReadersPublic(concept_id=concept.id, readers=state.repo.readers(concept.id))
