"""Targets (set, read, clear, with an honest status), export of a version, and its corpus-wide scores."""
from __future__ import annotations

import dataclasses
import io
import math
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from pydantic import ValidationError

from agile.deployment import model_card, status_of
from agile.export import FILES, export_folder
from agile.refusals import Refusal, check_two_classes
from agile.resources import estimate
from agile.targets import Target, parse_target
from server.auth import OwnedConcept, OwnerDep, ReadableConceptId, StateDep
from server.errors import Invalid, NotFound
from server.params import VersionNumber
from server.schemas import TargetPublic, TargetSet, TargetStatusPublic
from server.state import AppState
from server.status import responses
from server.store import concept_session

router = APIRouter(prefix="/api/concepts/{concept_id}", tags=["deployment"])
ExportFormat = Literal["zip", "onnx", "torchscript", "npz", "card"]
MEDIA = {"zip": "application/zip", "onnx": "application/octet-stream", "torchscript": "application/octet-stream",
         "npz": "application/octet-stream", "card": "application/json"}


def _session(state: AppState, concept_id: int):
    return concept_session(state.repo, state.loop, state.watch, state.settings.session_settings(), concept_id)


def _target(state: AppState, concept_id: int) -> tuple[Target, str | None, str]:
    stored = state.repo.target(concept_id)
    if stored is None:
        raise NotFound(f"concept {concept_id} has no target; set one with PUT .../target")
    spec, sentence, set_at = stored
    return Target.model_validate(spec), sentence, set_at


def target_public(state: AppState, concept_id: int) -> TargetPublic:
    target, sentence, set_at = _target(state, concept_id)
    status, refusal = None, None
    try:
        rated, positive = state.repo.rating_counts(concept_id)
        check_two_classes(positive, rated - positive)
        found = status_of(_session(state, concept_id), target, state.settings.eval_bootstrap or 200)
        values = dataclasses.asdict(found)
        values["labels_interval"] = [x if math.isfinite(x) else None for x in found.labels_interval]
        status = TargetStatusPublic(**values)
    except Refusal as e:
        refusal = str(e)
    return TargetPublic(concept_id=concept_id, target=target.model_dump(exclude_none=True),
                        understood=target.describe(), sentence=sentence, set_at=set_at, status=status,
                        refusal=refusal)


@router.put("/target", response_model=TargetPublic, responses=responses(Invalid))
def set_target(body: TargetSet, concept: OwnedConcept, user: OwnerDep, state: StateDep):
    """Set the concept's target from a sentence ("90% precision at 50% recall") or its fields; the answer
    says what was understood and how the latest versions stand against it on the evaluation set."""
    concept.require_binary("a target")
    if body.sentence is not None:
        target = parse_target(body.sentence)
    else:
        try:
            target = Target.model_validate(body.model_dump(exclude={"sentence"}, exclude_none=True))
        except ValidationError as e:
            raise Invalid(f"not a target: {e.errors()[0]['msg']}") from None
    state.repo.set_target(concept.id, target.model_dump(exclude_none=True), body.sentence, user.id)
    return target_public(state, concept.id)


@router.get("/target", response_model=TargetPublic, responses=responses(NotFound))
def get_target(concept_id: ReadableConceptId, state: StateDep):
    """The target and its status: met (with the interval), not yet (with a labels estimate), or out of reach."""
    return target_public(state, concept_id)


@router.delete("/target", status_code=204, responses=responses(NotFound))
def clear_target(concept: OwnedConcept, state: StateDep):
    """Remove the concept's target."""
    state.repo.clear_target(concept.id)
    return Response(status_code=204)


@router.get("/versions/{version}/export", responses={200: {"content": {m: {} for m in set(MEDIA.values())}},
                                                      **responses(NotFound)})
def export_version(concept_id: ReadableConceptId, version: VersionNumber, state: StateDep,
                   format: Annotated[ExportFormat, Query(description="zip: the whole folder (ONNX, TorchScript, "
                                                         "numpy weights and scorer, model card)")] = "zip",
                   estimate_resources: Annotated[bool, Query(alias="estimate", description="measure latency and "
                                                            "throughput on this server and put them in the card")] = False):
    """A version as a self-contained export: ONNX, TorchScript, numpy weights with a numpy-only scorer, and a
    model card (label counts, evaluation metrics with intervals, embedding model hash, target status)."""
    state.repo.version(concept_id, version)  # NotFound unless recorded
    state.repo.concept(concept_id).require_binary("export")
    session = _session(state, concept_id)
    stored = state.repo.target(concept_id)
    card = model_card(session, version, Target.model_validate(stored[0]) if stored else None)
    with tempfile.TemporaryDirectory() as tmp:
        folder = export_folder(state.loop.model(concept_id, version), card, Path(tmp) / "export")
        if estimate_resources:
            card = card.model_copy(update={"resources": estimate(folder / FILES["onnx"], state.loop.corpus.dim)})
            folder = export_folder(state.loop.model(concept_id, version), card, Path(tmp) / "export-estimated")
        name = f"concept-{concept_id}-v{version}"
        if format == "card":
            return Response((folder / "card.json").read_bytes(), media_type=MEDIA["card"])
        if format != "zip":
            path = folder / FILES[format]
            return Response(path.read_bytes(), media_type=MEDIA[format],
                            headers={"Content-Disposition": f'attachment; filename="{name}-{path.name}"'})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, f"{name}/{path.name}")
    return Response(buffer.getvalue(), media_type=MEDIA["zip"],
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


@router.get("/versions/{version}/scores", responses={200: {"content": {"application/vnd.apache.parquet": {}}},
                                                      **responses(NotFound)})
def corpus_scores(concept_id: ReadableConceptId, version: VersionNumber, state: StateDep):
    """The corpus-wide scores a `score` job wrote for this version (Parquet: id, uri, score[, positive])."""
    state.repo.version(concept_id, version)
    path = state.loop.scores_path(concept_id, version)
    if not path.is_file():
        raise NotFound(f"no scores of version {version} yet: start a job {{'kind': 'score', 'version': {version}}}")
    return FileResponse(path, media_type="application/vnd.apache.parquet",
                        filename=f"concept-{concept_id}-v{version}-scores.parquet")
