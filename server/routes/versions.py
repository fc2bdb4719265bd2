"""Model versions: list, get, poll the latest (ETag + long-poll), and score with one."""
from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from agile.sidecar import VersionSidecar
from agile.task import NotForTasksError
from server.auth import ReadableConceptId, StateDep, current_user
from server.errors import Invalid, NotFound, TooLarge
from server.etags import matches, version_etag
from server.repository import VersionRecord
from server.params import VersionNumber
from server.schemas import BrowseItem, BrowsePublic, ScorePublic, ScoreRequest, VersionPublic
from server.state import AppState
from server.status import responses
from server.uploads import embed_upload, read_upload

router = APIRouter(prefix="/api/concepts/{concept_id}/versions", tags=["versions"])


def public_sidecar(sidecar: VersionSidecar) -> dict:
    """The sidecar without the server's filesystem paths (the corpus is named by its count and model)."""
    return sidecar.model_dump(mode="json", exclude_none=True, exclude={"corpus": {"path"}, "path": True})


def version_public(record: VersionRecord) -> VersionPublic:
    s = VersionSidecar.read(record.sidecar, f"sidecar of version {record.version} of concept {record.concept_id}")
    return VersionPublic(concept_id=record.concept_id, version=record.version, created_at=record.created_at,
                         job_id=record.job_id, parent_version=s.parent_version, classes=s.concept.classes or None,
                         labels=s.labels.model_dump(mode="json"), metrics=s.metrics,
                         stability=s.stability.model_dump(mode="json") if s.stability else None,
                         training=s.training, embedding_model=s.embedding_model, sidecar=public_sidecar(s))


@router.get("", response_model=list[VersionPublic], responses=responses(NotFound))
def list_versions(concept_id: ReadableConceptId, state: StateDep):
    """Every version of the concept, oldest first, each with its sidecar (labels, training, metrics)."""
    return [version_public(v) for v in state.repo.versions(concept_id)]


@router.get("/latest", response_model=VersionPublic,
            responses={304: {"description": "no newer version than the If-None-Match ETag within the wait"},
                       **responses(NotFound, Invalid)})
async def latest_version(concept_id: ReadableConceptId, request: Request, state: StateDep,
                         wait: Annotated[float, Query(ge=0, allow_inf_nan=False, description="long-poll: seconds to wait for a "
                                                      "version newer than the one If-None-Match names (or, "
                                                      "with no version yet, for the first); at most the "
                                                      "server's max_wait_seconds (GET /api/info)")] = 0):
    """The newest version, with its ETag.

    Polling: send the ETag back as If-None-Match (``*`` names whatever version exists) with ?wait=N.
    The answer is 200 with the version as soon as one newer than the named one is recorded, 304 if none
    is within N seconds. With no version yet, ?wait=N waits for the first: 200 when it arrives, 404 (with
    an ETag to poll on) if it does not.
    """
    if wait > state.settings.max_wait_seconds:
        raise Invalid(f"wait is at most {state.settings.max_wait_seconds:g} seconds on this server")
    if not state.watch.knows(concept_id):  # 404 for unknown concepts; then polls skip the database
        await run_in_threadpool(state.repo.concept, concept_id)
        state.watch.remember(concept_id)
    named = request.headers.get("if-none-match")
    known = state.watch.latest(concept_id)
    if known == 0 or matches(named, version_etag(concept_id, known), known > 0):
        latest = await state.watch.wait_past(concept_id, known, wait)
        await current_user(request, state)  # the token may have been revoked while the poll waited
        if latest == known and matches(named, version_etag(concept_id, known), known > 0):
            return Response(status_code=304, headers={"ETag": version_etag(concept_id, known)})
        known = latest
    headers = {"ETag": version_etag(concept_id, known), "Cache-Control": "no-cache"}
    if known == 0:
        raise NotFound(f"concept {concept_id} has no model version yet", headers=headers)
    record = await run_in_threadpool(state.repo.version, concept_id, known)
    return Response(version_public(record).model_dump_json(), media_type="application/json", headers=headers)


@router.get("/{version}", response_model=VersionPublic, responses=responses(NotFound))
def get_version(concept_id: ReadableConceptId, version: VersionNumber, state: StateDep):
    """One version and everything recorded with it."""
    return version_public(state.repo.version(concept_id, version))


def _model(state: AppState, concept_id: int, version: int):
    state.repo.version(concept_id, version)  # 404 unless recorded
    return state.loop.model(concept_id, version)


@router.get("/{version}/browse", response_model=BrowsePublic, responses=responses(NotFound))
def browse(concept_id: ReadableConceptId, version: VersionNumber, state: StateDep,
           where: Annotated[Literal["top", "threshold", "bottom"],
                            Query(description="top: highest scores first; threshold: nearest to 0.5 first; "
                                              "bottom: lowest first")] = "top",
           offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
           limit: Annotated[int, Query(ge=1, le=500)] = 60):
    """The corpus sorted by a version's score, a page at a time, with each image's score and answer
    (binary concepts; a task's images have no one score to sort by)."""
    if _model(state, concept_id, version).classes > 1:
        raise NotForTasksError("browsing by score is for binary concepts: a task's images have a probability per "
                               "class; score them (POST .../score) instead")
    scores = state.loop.corpus_scores(concept_id, version)
    ids = state.loop.corpus_order(concept_id, version, where)[offset:offset + limit].tolist()
    answers = state.repo.ratings_of(concept_id, ids)
    items = [BrowseItem(id=i, image_url=f"/api/images/{i}", score=float(scores[i]), rating=answers.get(i),
                        skipped=i in answers and answers[i] is None) for i in ids]
    return BrowsePublic(concept_id=concept_id, version=version, where=where, threshold=0.5, offset=offset,
                        total=len(scores), items=items)


@router.post("/{version}/score", response_model=ScorePublic, responses=responses(NotFound, Invalid, TooLarge))
def score(concept_id: ReadableConceptId, version: VersionNumber, body: ScoreRequest, state: StateDep):
    """Score corpus ids or raw embeddings (of the corpus's model) with a version."""
    limit, count, dim = state.settings.max_score_items, state.loop.corpus.count, state.loop.corpus.dim
    items = body.ids if body.ids is not None else body.embeddings
    if len(items) > limit:
        raise TooLarge(f"{len(items)} items in one request; at most {limit}")
    model = _model(state, concept_id, version)
    if body.ids is not None:
        bad = [i for i in body.ids if i >= count]
        if bad:
            raise Invalid(f"id {bad[0]} is not in the corpus (0..{count - 1})")
        return score_public(state, concept_id, version, state.loop.score_ids(model, body.ids), body.ids)
    if not items or any(len(e) != dim for e in items):
        raise Invalid(f"give at least one embedding, each of {dim} numbers (the corpus model's dimension)")
    vectors = unit_rows(np.asarray(items, dtype=np.float64))
    return score_public(state, concept_id, version, model.score_vectors(vectors))


@router.post("/{version}/score-image", response_model=ScorePublic, responses=responses(NotFound, Invalid, TooLarge))
def score_image(concept_id: ReadableConceptId, version: VersionNumber, state: StateDep,
                image: Annotated[UploadFile, File(description="an image file (PNG, JPEG, ...)")]):
    """Embed an uploaded image with the corpus's model and score it."""
    data = read_upload(image, state.settings.max_upload_bytes)
    model = _model(state, concept_id, version)
    vector = embed_upload(state, data)
    return score_public(state, concept_id, version, model.score_vectors(vector))


def score_public(state: AppState, concept_id: int, version: int, values: np.ndarray,
                 ids: list[int] | None = None) -> ScorePublic:
    """A binary concept's scores, or a task's class probabilities with its classes (in index order)."""
    if values.ndim == 1:
        return ScorePublic(concept_id=concept_id, version=version, ids=ids, scores=values.tolist())
    return ScorePublic(concept_id=concept_id, version=version, ids=ids, probabilities=values.tolist(),
                       classes=state.repo.concept(concept_id).classes)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32, without overflow (3e38) or underflow (1e-30) on the way."""
    if not np.isfinite(vectors).all():
        raise Invalid("embeddings must be finite numbers")
    peak = np.abs(vectors).max(axis=1, keepdims=True)
    if (peak == 0).any():
        raise Invalid("embeddings must be non-zero")
    scaled = vectors / peak  # largest entry 1: its norm is between 1 and sqrt(dim)
    return (scaled / np.linalg.norm(scaled, axis=1, keepdims=True)).astype(np.float32)
