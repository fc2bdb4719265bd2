"""A concept's image seeds (corpus images and uploads), "more like this", and its candidate filter."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

from agile.candidates import CandidateFilter
from server.auth import OwnedConcept, OwnerDep, ReadableConceptId, StateDep
from server.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from server.params import ImageId
from server.schemas import CandidatesBody, JobPublic
from server.seed_schemas import SeedIdsAdd, SeedPublic, SeedsPublic
from server.seeds import SeedStore, content_hash
from server.state import AppState
from server.status import responses
from server.uploads import embed_upload, read_upload

router = APIRouter(prefix="/api/concepts", tags=["seeds"])
MAX_UPLOADS = 20  # images in one seeding request


def seeds_public(state: AppState, concept_id: int) -> SeedsPublic:
    records = SeedStore(state.repo.db).records(concept_id)
    return SeedsPublic(concept_id=concept_id, text_model=state.loop.has_text, seeds=[
        SeedPublic(id=r.id, kind="corpus" if r.corpus_id is not None else "upload", corpus_id=r.corpus_id,
                   image_url=None if r.corpus_id is None else f"/api/images/{r.corpus_id}", sha256=r.sha256,
                   added_at=r.added_at) for r in records])


def _check_ids(state: AppState, ids: list[int]) -> None:
    count = state.loop.corpus.count
    bad = [i for i in ids if i >= count]
    if bad:
        raise Invalid(f"seed image {bad[0]} is not in the corpus (0..{count - 1})")


@router.get("/{concept_id}/seeds", response_model=SeedsPublic, responses=responses(NotFound))
def list_seeds(concept_id: ReadableConceptId, state: StateDep):
    """The concept's example images: corpus images (with their image url) and uploads (their sha256)."""
    state.repo.concept(concept_id)
    return seeds_public(state, concept_id)


@router.post("/{concept_id}/seeds", response_model=SeedsPublic, responses=responses(NotFound, Forbidden, Invalid))
def add_seed_ids(body: SeedIdsAdd, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Add images of the corpus as seeds; the next 'expand' job also takes their nearest unrated images."""
    _check_ids(state, body.ids)
    SeedStore(state.repo.db).add_ids(concept.id, body.ids, user.id)
    return seeds_public(state, concept.id)


@router.post("/{concept_id}/seeds/images", response_model=SeedsPublic,
             responses=responses(NotFound, Forbidden, Invalid, TooLarge))
def add_seed_images(concept: OwnedConcept, user: OwnerDep, state: StateDep,
                    images: Annotated[list[UploadFile], File(description="image files (PNG, JPEG, ...)")]):
    """Upload example images: each is embedded with the corpus's image model and kept as its content hash
    and embedding (all or none are added); an image already a seed is not added twice."""
    if not 1 <= len(images) <= MAX_UPLOADS:
        raise Invalid(f"send 1 to {MAX_UPLOADS} images")
    datas = [read_upload(image, state.settings.max_upload_bytes) for image in images]
    vectors = [embed_upload(state, data)[0] for data in datas]
    SeedStore(state.repo.db).add_uploads(concept.id, [content_hash(d) for d in datas], vectors, user.id)
    return seeds_public(state, concept.id)


@router.delete("/{concept_id}/seeds/{seed_id}", response_model=SeedsPublic,
               responses=responses(NotFound, Forbidden))
def remove_seed(seed_id: ImageId, concept: OwnedConcept, state: StateDep):
    """Remove a seed (by its seed id): later expansions no longer search near it."""
    SeedStore(state.repo.db).remove(concept.id, seed_id)
    return seeds_public(state, concept.id)


@router.post("/{concept_id}/more-like/{corpus_id}", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic,
             responses=responses(NotFound, Forbidden, Conflict, Invalid))
def more_like_this(corpus_id: ImageId, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """"More like this": make an image of the corpus a seed and start an 'expand' job, whose batch holds
    the nearest unrated images of every seed and phrase (409 while another job of the concept runs)."""
    _check_ids(state, [corpus_id])
    state.jobs.check_room(user.id)
    SeedStore(state.repo.db).add_ids(concept.id, [corpus_id], user.id)
    job_id = state.jobs.submit(concept.id, "expand", {}, user.id)
    return JobPublic.model_validate(state.repo.job(job_id), from_attributes=True)


@router.put("/{concept_id}/candidates", response_model=CandidatesBody, responses=responses(NotFound, Forbidden,
                                                                                           Invalid))
def set_candidates(body: CandidatesBody, concept: OwnedConcept, state: StateDep):
    """Limit where expansion and active learning look: an id set, or a metadata predicate
    (``{"column": "split", "op": "==", "value": "train"}``). Refused when it names no column or matches nothing."""
    candidates = CandidateFilter.model_validate(body.model_dump())
    candidates.mask(state.loop.corpus)
    SeedStore(state.repo.db).set_candidates(concept.id, candidates)
    return body


@router.delete("/{concept_id}/candidates", status_code=status.HTTP_204_NO_CONTENT,
               responses=responses(NotFound, Forbidden))
def clear_candidates(concept: OwnedConcept, state: StateDep):
    """Let batches come from anywhere in the corpus again."""
    SeedStore(state.repo.db).set_candidates(concept.id, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
