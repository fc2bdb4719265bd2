"""The evaluation report of a concept: metrics of every version and of zero-shot on its rated evaluation images."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.auth import StateDep, UserDep
from server.schemas import EvaluationPublic

router = APIRouter(prefix="/api/concepts/{concept_id}", tags=["evaluation"])


@router.get("/evaluation", response_model=EvaluationPublic)
def evaluation(concept_id: int, _: UserDep, state: StateDep,
               bootstrap: Annotated[int | None, Query(ge=0, le=2000, description="bootstrap resamples for the "
                                                      "95% intervals (default: the server's)")] = None):
    """AUC-PR (primary), AUC-ROC, F1 and accuracy with 95% intervals, or why there are none yet."""
    resamples = state.settings.eval_bootstrap if bootstrap is None else bootstrap
    return state.evaluations.report(concept_id, resamples)
