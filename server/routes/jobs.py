"""Background jobs of a concept: start one, follow its progress, cancel it."""
from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.concurrency import run_in_threadpool

from server.auth import OwnedConcept, OwnerDep, ReadableConceptId, StateDep, UserDep, readable_concept
from server.errors import Forbidden
from server.params import JobId
from server.schemas import JobCreate, JobParams, JobPublic

router = APIRouter(prefix="/api", tags=["jobs"])


def job_public(record) -> JobPublic:
    return JobPublic.model_validate(record, from_attributes=True)


@router.post("/concepts/{concept_id}/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def start_job(body: JobCreate, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Queue expansion, training, an active-learning round, or an evaluation set (409 while another job of
    the concept runs; 429 past the server's bound on queued jobs per user or in all)."""
    kept = {"round": {"strategy"}, "score": {"version", "threshold", "top"},
            "expand": {"coverage"}}.get(body.kind, set())
    params = JobParams.model_validate(body.model_dump(include=kept)).model_dump(include=kept, exclude_none=True)
    return job_public(state.repo.job(state.jobs.submit(concept.id, body.kind, params, user.id)))


@router.get("/concepts/{concept_id}/jobs", response_model=list[JobPublic])
def list_jobs(concept_id: ReadableConceptId, state: StateDep):
    """The concept's latest jobs, newest first."""
    state.repo.concept(concept_id)
    return [job_public(j) for j in state.repo.jobs(concept_id)]


@router.get("/jobs/{job_id}", response_model=JobPublic)
async def get_job(job_id: JobId, user: UserDep, state: StateDep):
    """One job: status, percent, message and, when done, its result (batch id, version)."""
    job = await run_in_threadpool(state.repo.job, job_id)
    await readable_concept(job.concept_id, user, state)
    return job_public(job)


@router.delete("/jobs/{job_id}", response_model=JobPublic)
def cancel_job(job_id: JobId, user: OwnerDep, state: StateDep):
    """Cancel a job: a queued one at once, a running one at its next progress step (its status turns
    'cancelled'; a version it already recorded stays). 409 once it has finished."""
    job = state.repo.job(job_id)
    if state.repo.concept(job.concept_id).owner_id != user.id:
        raise Forbidden(f"job {job_id} belongs to another owner's concept; only its owner can cancel it")
    return job_public(state.jobs.cancel(job_id))
