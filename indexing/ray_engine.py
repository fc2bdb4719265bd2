"""The Ray engine: the same mapper on a Ray Data actor pool, Parquet out.

Each shard's uris become a Ray dataset; ``map_batches`` runs the mapper in a
pool of actors (each loads the model once); results are written as Parquet to
a staging folder and read back in row order for the writer. ``ray.init()``
joins the cluster named by ``RAY_ADDRESS`` or starts a local one.
"""
from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from indexing.engines import EngineError
from indexing.mapper import ImageMapper, MapResult, ModelSpec


class _RayMapper:
    """One actor of the pool: loads the model once, embeds Arrow batches."""

    def __init__(self, spec: ModelSpec):
        self.mapper = ImageMapper(spec)

    def __call__(self, batch: pa.Table) -> pa.Table:
        result = self.mapper(batch.column("uri").to_pylist())
        dim = self.mapper.dim
        full = np.zeros((len(result.ok), dim), dtype=np.float32)
        full[result.ok] = result.embeddings
        return pa.table({
            "row": batch.column("row"),
            "ok": pa.array(result.ok),
            "error": pa.array([result.errors.get(i) for i in range(len(result.ok))], pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(full.reshape(-1)), dim),
        })


class RayEngine:
    def __init__(self, spec: ModelSpec, dim: int, staging: Path, actors: int | None = None):
        try:
            import ray
        except ImportError as e:
            raise EngineError("the ray engine needs ray[data] installed") from e
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        # Leave one CPU for Ray Data's own read and write tasks.
        self.actors = actors or max(1, cpus - 1)
        self.spec, self.dim, self.staging = spec, dim, Path(staging)

    def map_shard(self, uris: Sequence[str], batch_size: int, advance: Callable[[int], None]) -> MapResult:
        import ray

        rows = pa.table({"row": np.arange(len(uris), dtype=np.int64), "uri": pa.array(list(uris), pa.string())})
        dataset = ray.data.from_arrow(rows).map_batches(
            _RayMapper, fn_constructor_kwargs={"spec": self.spec}, batch_size=batch_size,
            batch_format="pyarrow", concurrency=self.actors, num_cpus=1)
        folder = self.staging / uuid.uuid4().hex
        dataset.write_parquet(str(folder))
        table = pq.read_table(folder).sort_by("row")
        shutil.rmtree(folder, ignore_errors=True)
        if table.num_rows != len(uris):
            raise EngineError(f"ray returned {table.num_rows} rows for {len(uris)} images")
        ok = table.column("ok").to_numpy()
        embeddings = table.column("embedding").combine_chunks().flatten().to_numpy().reshape(-1, self.dim)[ok]
        errors = {i: e for i, e in enumerate(table.column("error").to_pylist()) if e is not None}
        advance(len(uris))
        return MapResult(ok, np.ascontiguousarray(embeddings), errors)

    def close(self) -> None:
        pass
