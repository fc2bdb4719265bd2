"""Typed, versioned file formats: a pydantic base that keeps unknown fields and names the bad one."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound="FormatModel")


class FormatModel(BaseModel):
    # Fields a later writer added survive a read and rewrite by an earlier one.
    model_config = ConfigDict(extra="allow")

    @classmethod
    def parse(cls: type[M], data: Any, source: str, error: type[Exception]) -> M:
        """Validate ``data``; ``error`` names ``source`` and the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise error(f"{source}: field {where}: {first['msg']}") from None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)
