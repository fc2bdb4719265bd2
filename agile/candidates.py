"""A candidate filter: the part of the corpus expansion and active learning may look in.

Either an id set (a split) or a predicate on one metadata column
("split == train", "year >= 2020", "source in [a, b]"). The owner names the
part they want; the session turns it into the complement it excludes, so no
caller ever lists every other id.
"""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agile.errors import AgileError

Op = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
_COMPARE = {"==": pc.equal, "!=": pc.not_equal, "<": pc.less, "<=": pc.less_equal, ">": pc.greater,
            ">=": pc.greater_equal}


class CandidateError(AgileError):
    """A candidate filter names no column of the corpus, compares with an unusable value, or matches nothing."""


class CandidateFilter(BaseModel):
    """Where a concept's batches may come from: ``ids``, or ``column op value``."""

    model_config = ConfigDict(extra="forbid")

    ids: list[int] | None = Field(None, description="only these corpus ids")
    column: str | None = Field(None, description="a metadata column of the corpus")
    op: Op = Field("==", description="how the column is compared with value")
    value: Any = Field(None, description="a number or string; a list for 'in' / 'not in'")

    @model_validator(mode="after")
    def _one_kind(self) -> "CandidateFilter":
        if (self.ids is None) == (self.column is None):
            raise ValueError("a candidate filter gives either ids or a column predicate")
        if self.column is not None:
            if self.value is None:
                raise ValueError("a column predicate needs a value")
            if (self.op in ("in", "not in")) != isinstance(self.value, list):
                raise ValueError("'in' and 'not in' take a list of values; the other operators one value")
        return self

    def describe(self) -> str:
        """In words, without the value (messages never echo what a request sent)."""
        if self.ids is not None:
            return f"{len(self.ids)} chosen ids"
        return f"a predicate '{self.op}' on a metadata column"

    def mask(self, corpus) -> np.ndarray:
        """bool (count,): the images this filter lets batches come from."""
        if self.ids is not None:
            ids = np.asarray(self.ids, dtype=np.int64)
            if len(ids) and (ids.min() < 0 or ids.max() >= corpus.count):
                raise CandidateError(f"candidate id {int(ids[(ids < 0) | (ids >= corpus.count)][0])} is not in "
                                     f"the corpus (0..{corpus.count - 1})")
            out = np.zeros(corpus.count, dtype=bool)
            out[ids] = True
        else:
            if self.column not in corpus.manifest.metadata_columns:
                raise CandidateError(f"the corpus has no such metadata column "
                                     f"(it has {', '.join(corpus.manifest.metadata_columns) or 'none'})")
            column = corpus.column(self.column)
            try:
                if self.op in ("in", "not in"):
                    hit = pc.is_in(column, value_set=pa.array(self.value).cast(column.type))
                    hit = pc.invert(hit) if self.op == "not in" else hit
                else:
                    hit = _COMPARE[self.op](column, pa.scalar(self.value).cast(column.type))
            except (pa.ArrowException, OverflowError, TypeError, ValueError):
                raise CandidateError(f"the column ({column.type}) cannot be compared with the value given") from None
            out = pc.fill_null(hit, False).to_numpy(zero_copy_only=False).astype(bool)
        if not out.any():
            raise CandidateError(f"the candidate filter ({self.describe()}) matches no image of the corpus")
        return out
