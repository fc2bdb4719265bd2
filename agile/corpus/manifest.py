"""The corpus manifest (``corpus.json``): what a corpus holds and what made it."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agile.atomic import atomic_write_json
from agile.errors import CorpusError

FORMAT = "agile-corpus"
FORMAT_VERSION = 1
MANIFEST_NAME = "corpus.json"
SHARDS_DIR = "shards"
VECTORS_DIR = "vectors"


class ModelInfo(BaseModel):
    """The embedding model every vector (and every phrase) must come from."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = Field(min_length=1, description="open_clip model name, or 'synthetic'")
    pretrained: str | None = Field(None, description="open_clip pretrained tag")
    checkpoint: str | None = Field(None, description="local checkpoint path")
    sha256: str | None = Field(None, description="sha256 of the checkpoint file")
    # Recorded by imports since this field exists; None (older corpora) is judged from the name
    # (agile.embedder.has_text_model), so an old corpus.json stays readable.
    text_model: bool | None = Field(None, description="whether the model can embed phrases (a text tower "
                                                      "with known weights); None: judged from the name")

    def same_model(self, other: "ModelInfo") -> bool:
        """True when vectors from ``other`` are comparable with ours."""
        if self.name != other.name:
            return False
        if self.sha256 and other.sha256:
            return self.sha256 == other.sha256
        return self.pretrained == other.pretrained


class ShardInfo(BaseModel):
    """One shard: ``shards/<name>.parquet`` plus its raw vectors ``vectors/<name>.f16``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^part-\d{5,}$")
    first_id: int = Field(ge=0)
    count: int = Field(ge=0)

    def parquet_path(self, root: Path) -> Path:
        return root / SHARDS_DIR / f"{self.name}.parquet"

    def vectors_path(self, root: Path) -> Path:
        return root / VECTORS_DIR / f"{self.name}.f16"


class CorpusManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["agile-corpus"] = FORMAT
    format_version: Literal[1] = FORMAT_VERSION
    model: ModelInfo
    dim: int = Field(gt=0)
    dtype: Literal["float16"] = "float16"
    count: int = Field(ge=0)
    shards: list[ShardInfo]
    metadata_columns: list[str] = Field(default_factory=list)
    created_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    producer: dict[str, Any] = Field(default_factory=dict, description="what wrote this corpus")
    index: dict[str, Any] | None = Field(None, description="summary of index/index.json")

    @model_validator(mode="after")
    def _shards_tile_the_ids(self) -> "CorpusManifest":
        expected = 0
        for shard in self.shards:
            if shard.first_id != expected:
                raise ValueError(
                    f"shard {shard.name} starts at id {shard.first_id}, expected {expected} "
                    "(shards must cover ids 0..count-1 in order, without gaps or overlap)"
                )
            expected += shard.count
        if expected != self.count:
            raise ValueError(f"shards hold {expected} vectors but count is {self.count}")
        if len({s.name for s in self.shards}) != len(self.shards):
            raise ValueError("shard names repeat")
        return self


def read_manifest(root: Path) -> CorpusManifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise CorpusError(path, "missing: not a corpus directory (no corpus.json)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CorpusError(path, f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from e
    except UnicodeDecodeError as e:
        raise CorpusError(path, "not UTF-8 text") from e
    try:
        return CorpusManifest.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'manifest'}: {err['msg']}" for err in e.errors()
        )
        raise CorpusError(path, f"invalid manifest: {problems}") from e


def write_manifest(root: Path, manifest: CorpusManifest) -> None:
    atomic_write_json(root / MANIFEST_NAME, manifest.model_dump(mode="json"))
