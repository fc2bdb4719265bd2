"""Background jobs of a concept: start one, follow its progress."""
from __future__ import annotations

from fastapi import APIRouter, status

from server.auth import OwnedConcept, OwnerDep, StateDep, UserDep
from server.schemas import JobCreate, JobPublic, RoundParams

router = APIRouter(prefix="/api", tags=["jobs"])


def job_public(record) -> JobPublic:
    return JobPublic.model_validate(record, from_attributes=True)


@router.post("/concepts/{concept_id}/jobs", status_code=status.HTTP_202_ACCEPTED, response_model=JobPublic)
def start_job(body: JobCreate, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Queue expansion, training, an active-learning round, or an evaluation set (409 while another job of
    the concept runs)."""
    params = RoundParams(strategy=body.strategy).model_dump() if body.kind == "round" else {}
    return job_public(state.repo.job(state.jobs.submit(concept.id, body.kind, params, user.id)))


@router.get("/concepts/{concept_id}/jobs", response_model=list[JobPublic])
def list_jobs(concept_id: int, _: UserDep, state: StateDep):
    """The concept's latest jobs, newest first."""
    state.repo.concept(concept_id)
    return [job_public(j) for j in state.repo.jobs(concept_id)]


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: int, _: UserDep, state: StateDep):
    """One job: status, percent, message and, when done, its result (batch id, version)."""
    return job_public(state.repo.job(job_id))
