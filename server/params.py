"""Path parameters, bounded to what SQLite and numpy can hold (a larger number is a 422, not a crash)."""
from __future__ import annotations

from typing import Annotated

from fastapi import Path

from server.schemas import INT64_MAX

ConceptId = Annotated[int, Path(ge=0, le=INT64_MAX, description="a concept's id")]
JobId = Annotated[int, Path(ge=0, le=INT64_MAX, description="a job's id")]
VersionNumber = Annotated[int, Path(ge=0, le=INT64_MAX, description="a model version of the concept")]
ImageId = Annotated[int, Path(ge=0, le=INT64_MAX, description="a corpus id")]
UserName = Annotated[str, Path(min_length=1, max_length=64, description="a user's name")]
