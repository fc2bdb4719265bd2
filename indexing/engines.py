"""Engines decide where the mapper runs: in this process (local) or on a Ray cluster (ray)."""
from __future__ import annotations

from typing import Callable, Protocol, Sequence

import numpy as np

from agile.errors import AgileError
from indexing.mapper import ImageMapper, MapResult, ModelSpec


class EngineError(AgileError):
    """An engine name is unknown or its runtime is unavailable."""


class Engine(Protocol):
    def map_shard(self, uris: Sequence[str], batch_size: int, advance: Callable[[int], None]) -> MapResult: ...

    def close(self) -> None: ...


def merge(results: list[MapResult], dim: int) -> MapResult:
    """Concatenate consecutive batches' results, renumbering error rows."""
    errors, offset = {}, 0
    for result in results:
        errors.update({offset + row: why for row, why in result.errors.items()})
        offset += len(result.ok)
    ok = np.concatenate([r.ok for r in results]) if results else np.zeros(0, bool)
    embeddings = np.concatenate([r.embeddings for r in results]) if results else np.zeros((0, dim), np.float32)
    return MapResult(ok, embeddings, errors)


class LocalEngine:
    def __init__(self, mapper: ImageMapper):
        self.mapper = mapper

    def map_shard(self, uris: Sequence[str], batch_size: int, advance: Callable[[int], None]) -> MapResult:
        results = []
        for start in range(0, len(uris), batch_size):
            results.append(self.mapper(uris[start: start + batch_size]))
            advance(len(results[-1].ok))
        return merge(results, self.mapper.dim)

    def close(self) -> None:
        pass


def make_engine(name: str, mapper: ImageMapper, spec: ModelSpec, staging) -> Engine:
    if name == "local":
        return LocalEngine(mapper)
    if name == "ray":
        from indexing.ray_engine import RayEngine

        return RayEngine(spec, mapper.dim, staging)
    raise EngineError(f"unknown engine {name!r} (expected 'local' or 'ray')")
