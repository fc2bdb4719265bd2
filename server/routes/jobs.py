"""Background jobs of a concept: start one, follow its progress, cancel it."""
from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from server.auth import OwnedConcept, OwnerDep, ReadableConceptId, StateDep, UserDep, current_user, readable_concept
from server.errors import Forbidden, Invalid, NotFound
from server.etags import matches, record_etag
from server.params import JobId
from server.schemas import JobCreate, JobParams, JobPublic
from server.status import responses

router = APIRouter(prefix="/api", tags=["jobs"])


def job_public(record) -> JobPublic:
    return JobPublic.model_validate(record, from_attributes=True)


@router.post("/concepts/{concept_id}/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def start_job(body: JobCreate, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Queue expansion, training, an active-learning round, or an evaluation set (409 while another job of
    the concept runs; 429 past the server's bound on queued jobs per user or in all)."""
    if body.kind == "score" and (body.threshold is not None or body.top is not None):
        concept.require_binary("a score job's threshold or top")  # a task's images have no one score
    kept = {"round": {"strategy"}, "score": {"version", "threshold", "top"},
            "expand": {"coverage"}}.get(body.kind, set())
    params = JobParams.model_validate(body.model_dump(include=kept)).model_dump(include=kept, exclude_none=True)
    return job_public(state.repo.job(state.jobs.submit(concept.id, body.kind, params, user.id)))


@router.get("/concepts/{concept_id}/jobs", response_model=list[JobPublic])
def list_jobs(concept_id: ReadableConceptId, state: StateDep):
    """The concept's latest jobs, newest first."""
    state.repo.concept(concept_id)
    return [job_public(j) for j in state.repo.jobs(concept_id)]


@router.get("/jobs/{job_id}", response_model=JobPublic,
            responses={304: {"description": "the job did not change from the If-None-Match ETag within the wait"},
                       **responses(NotFound, Invalid)})
async def get_job(job_id: JobId, request: Request, user: UserDep, state: StateDep,
                  wait: Annotated[float, Query(ge=0, allow_inf_nan=False,
                                               description="long-poll: seconds to wait for a change from the job "
                                                           "If-None-Match names; at most the server's "
                                                           "max_wait_seconds (GET /api/info)")] = 0):
    """One job: status, percent, message and, when done, its result (batch id, version), with its ETag.

    Following a job: send the ETag back as If-None-Match with ?wait=N. The answer comes the moment the
    job starts, reports progress or finishes (200), or after N seconds with 304 if nothing changed.
    """
    if wait > state.settings.max_wait_seconds:
        raise Invalid(f"wait is at most {state.settings.max_wait_seconds:g} seconds on this server")
    named = request.headers.get("if-none-match")
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        with state.job_watch.watching(job_id) as changed:  # before the read: a change after it still wakes us
            job = job_public(await run_in_threadpool(state.repo.job, job_id))
            await readable_concept(job.concept_id, user, state)
            tag = record_etag("job", job.id, job)
            left = deadline - asyncio.get_running_loop().time()
            if not matches(named, tag) or left <= 0:
                break
            await state.job_watch.wait(changed, left)
        user = await current_user(request, state)  # the token may have been revoked while the poll waited
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if matches(named, tag):
        return Response(status_code=304, headers=headers)
    return Response(job.model_dump_json(), media_type="application/json", headers=headers)


@router.delete("/jobs/{job_id}", response_model=JobPublic)
def cancel_job(job_id: JobId, user: OwnerDep, state: StateDep):
    """Cancel a job: a queued one at once, a running one at its next progress step (its status turns
    'cancelled'; a version it already recorded stays). 409 once it has finished."""
    job = state.repo.job(job_id)
    if state.repo.concept(job.concept_id).owner_id != user.id:
        raise Forbidden(f"job {job_id} belongs to another owner's concept; only its owner can cancel it")
    return job_public(state.jobs.cancel(job_id))
