"""ETags of what clients poll (a concept's latest version, a job) and the If-None-Match test."""
from __future__ import annotations

import hashlib

from pydantic import BaseModel


def version_etag(concept_id: int, version: int) -> str:
    return f'"concept-{concept_id}-v{version}"'


def record_etag(kind: str, record_id: int, public: BaseModel) -> str:
    """Changes whenever anything a client is shown of the record does."""
    return f'"{kind}-{record_id}-{hashlib.sha256(public.model_dump_json().encode()).hexdigest()[:16]}"'


def matches(if_none_match: str | None, tag: str, exists: bool = True) -> bool:
    """Whether the client already has ``tag``; ``*`` stands for any version, so never for none."""
    if not if_none_match:
        return False
    candidates = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return tag in candidates or ("*" in candidates and exists)
