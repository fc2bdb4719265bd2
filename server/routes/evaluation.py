"""The evaluation report of a concept: metrics of every version and of zero-shot on its rated evaluation images."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from server.auth import ReadableConceptId, StateDep
from server.errors import Invalid
from server.schemas import EvaluationPublic

router = APIRouter(prefix="/api/concepts/{concept_id}", tags=["evaluation"])


@router.get("/evaluation", response_model=EvaluationPublic)
def evaluation(concept_id: ReadableConceptId, state: StateDep,
               bootstrap: Annotated[int | None, Query(ge=0, le=2000, description="bootstrap resamples for the "
                                                      "95% intervals (default: the server's; at most its "
                                                      "max_bootstrap)")] = None):
    """AUC-PR (primary), AUC-ROC, F1 and accuracy with 95% intervals, or why there are none yet."""
    resamples = state.settings.eval_bootstrap if bootstrap is None else bootstrap
    if resamples > state.settings.max_bootstrap:
        raise Invalid(f"bootstrap={resamples} is over this server's limit of {state.settings.max_bootstrap}")
    return state.evaluations.report(concept_id, resamples)
