"""Writing corpus shards and the manifest.

A shard is two files with one name: ``shards/<name>.parquet`` (the
interchange copy: id, uri, embedding, metadata) and ``vectors/<name>.f16``
(the same vectors as a raw row-major float16 array, memory-mapped for
corpus-wide scans). Both are written under temporary names; the raw vectors
are moved into place first and the Parquet file last, so "the Parquet file
exists" means "the shard is complete". A killed writer leaves only
temporaries, which the next run deletes before redoing that shard.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from agile.atomic import remove_stale_temporaries
from agile.corpus.manifest import (
    SHARDS_DIR,
    VECTORS_DIR,
    CorpusManifest,
    ModelInfo,
    ShardInfo,
    write_manifest,
)
from agile.errors import CorpusError

NORM_TOLERANCE = 1e-2
ROW_GROUP_ROWS = 65_536


def shard_name(index: int) -> str:
    return f"part-{index:05d}"


def normalise_embeddings(embeddings: np.ndarray, dim: int, source: str) -> np.ndarray:
    """L2-normalise rows and cast to float16; reject wrong shapes, NaN and zero rows."""
    vectors = np.asarray(embeddings)
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise CorpusError(source, f"embeddings have shape {vectors.shape}, expected (n, {dim})")
    vectors = vectors.astype(np.float32, copy=False)
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise CorpusError(source, f"row {row} holds NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise CorpusError(source, f"row {row} is the zero vector and cannot be normalised")
    return (vectors / norms).astype(np.float16)


def embedding_array(vectors: np.ndarray) -> pa.FixedSizeListArray:
    """A float16 (n, D) array as Arrow ``fixed_size_list<halffloat>[D]`` without copying rows."""
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float16).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


class ShardWriter:
    """Streams one shard in blocks; ``commit()`` makes it visible atomically.

    Use as a context manager: leaving the block with an exception discards
    the temporaries, leaving it normally commits.
    """

    def __init__(self, root: Path, name: str, first_id: int, dim: int,
                 metadata_schema: pa.Schema | None = None):
        self.root, self.name, self.first_id, self.dim = Path(root), name, first_id, dim
        self.count = 0
        self._meta_schema = metadata_schema or pa.schema([])
        self._schema = pa.schema(
            [("id", pa.int64()), ("uri", pa.string()),
             ("embedding", pa.list_(pa.float16(), dim)), *self._meta_schema]
        )
        self._info = ShardInfo(name=name, first_id=first_id, count=0)
        self.parquet_path = self._info.parquet_path(self.root)
        self.vectors_path = self._info.vectors_path(self.root)
        for path in (self.parquet_path, self.vectors_path):
            path.parent.mkdir(parents=True, exist_ok=True)
        self._parquet_tmp = self.parquet_path.with_name(f".{self.parquet_path.name}.tmp")
        self._vectors_tmp = self.vectors_path.with_name(f".{self.vectors_path.name}.tmp")
        self._vectors_file = open(self._vectors_tmp, "wb")
        self._parquet = pq.ParquetWriter(self._parquet_tmp, self._schema, compression="zstd")

    def write(self, uris: Iterable[str], embeddings: np.ndarray,
              metadata: Mapping[str, Any] | None = None) -> None:
        vectors = normalise_embeddings(embeddings, self.dim, str(self.parquet_path))
        n = len(vectors)
        uri_array = pa.array(list(uris) if not isinstance(uris, pa.Array) else uris, type=pa.string())
        if len(uri_array) != n:
            raise CorpusError(self.parquet_path, f"{len(uri_array)} uris for {n} embeddings")
        columns = {
            "id": pa.array(np.arange(self.first_id + self.count, self.first_id + self.count + n,
                                     dtype=np.int64)),
            "uri": uri_array,
            "embedding": embedding_array(vectors),
        }
        metadata = metadata or {}
        for field in self._meta_schema:
            if field.name not in metadata:
                raise CorpusError(self.parquet_path, f"metadata column {field.name!r} missing")
            columns[field.name] = pa.array(metadata[field.name], type=field.type)
        table = pa.table(columns, schema=self._schema)
        self._parquet.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self._vectors_file.write(vectors.tobytes())
        self.count += n

    def commit(self) -> ShardInfo:
        self._parquet.close()
        self._vectors_file.flush()
        os.fsync(self._vectors_file.fileno())
        self._vectors_file.close()
        with open(self._parquet_tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(self._vectors_tmp, self.vectors_path)
        os.replace(self._parquet_tmp, self.parquet_path)
        return ShardInfo(name=self.name, first_id=self.first_id, count=self.count)

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._parquet.close()
        with contextlib.suppress(Exception):
            self._vectors_file.close()
        for tmp in (self._parquet_tmp, self._vectors_tmp):
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.info = self.commit()
        else:
            self.abort()


def completed_shards(root: Path) -> dict[str, ShardInfo]:
    """Shards already complete under ``root`` (by name), for resuming a job.

    Also deletes temporaries a killed writer left behind.
    """
    root = Path(root)
    remove_stale_temporaries(root / SHARDS_DIR)
    remove_stale_temporaries(root / VECTORS_DIR)
    done: dict[str, ShardInfo] = {}
    for parquet in sorted((root / SHARDS_DIR).glob("part-*.parquet")):
        name = parquet.stem
        meta = pq.ParquetFile(parquet)
        count = meta.metadata.num_rows
        first_id = 0
        if count:
            first_id = int(meta.read_row_group(0, columns=["id"]).column(0)[0].as_py())
        done[name] = ShardInfo(name=name, first_id=first_id, count=count)
    return done


def finalize_corpus(root: Path, model: ModelInfo, dim: int, shards: list[ShardInfo],
                    metadata_columns: list[str], producer: dict[str, Any]) -> CorpusManifest:
    """Write ``corpus.json`` for complete shards; the corpus is usable from then on."""
    shards = sorted(shards, key=lambda s: s.first_id)
    manifest = CorpusManifest(
        model=model, dim=dim, count=sum(s.count for s in shards), shards=shards,
        metadata_columns=metadata_columns, producer=producer,
    )
    write_manifest(Path(root), manifest)
    return manifest
