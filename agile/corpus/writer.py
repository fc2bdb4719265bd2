"""Writing corpus shards and the manifest.

A shard is two files with one name: ``shards/<name>.parquet`` (the
interchange copy: id, uri, embedding, metadata) and ``vectors/<name>.f16``
(the same vectors as a raw row-major float16 array, memory-mapped for
corpus-wide scans). Both are written under temporary names; the raw vectors
are moved into place first and the Parquet file last, so "the Parquet file
exists" means "the shard is complete". A killed writer leaves only
temporaries, which the next run deletes before redoing that shard.

A shard has exactly one writer at a time: the writer holds an exclusive
lock (``shards/.<name>.lock``, released by the kernel when the process dies),
its temporaries carry its process id, and it renames only the files it still
holds open and has checked complete. A resumed job trusts a final-name shard
only after checking it (readable footer, ids, vector file size); a broken one
is deleted and written again.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from agile.atomic import _fsync_dir
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


def _lock_path(root: Path, name: str) -> Path:
    return Path(root) / SHARDS_DIR / f".{name}.lock"


@contextlib.contextmanager
def _shard_lock(root: Path, name: str, blocking: bool = True):
    """Hold the shard's writer lock; yields False (without blocking) if another live process has it."""
    path = _lock_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


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
        # Waits while another live writer (an earlier run's worker) still has this shard.
        self._lock = _shard_lock(self.root, name)
        self._lock.__enter__()
        pid = os.getpid()
        self._parquet_tmp = self.parquet_path.with_name(f".{self.parquet_path.name}.{pid}.tmp")
        self._vectors_tmp = self.vectors_path.with_name(f".{self.vectors_path.name}.{pid}.tmp")
        self._vectors_file = open(self._vectors_tmp, "wb")
        self._parquet_file = open(self._parquet_tmp, "wb")
        self._parquet = pq.ParquetWriter(self._parquet_file, self._schema, compression="zstd")

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
        try:
            self._parquet.close()
            for f in (self._parquet_file, self._vectors_file):
                f.flush()
                os.fsync(f.fileno())
            self._check_own_and_complete()
            os.replace(self._vectors_tmp, self.vectors_path)
            os.replace(self._parquet_tmp, self.parquet_path)
            _fsync_dir(self.parquet_path.parent)
        finally:
            self._parquet_file.close()
            self._vectors_file.close()
            self._lock.__exit__(None, None, None)
        return ShardInfo(name=self.name, first_id=self.first_id, count=self.count)

    def _check_own_and_complete(self) -> None:
        """The temporaries are still the files this writer holds open, and hold every row written."""
        for f, tmp in ((self._parquet_file, self._parquet_tmp), (self._vectors_file, self._vectors_tmp)):
            try:
                on_disk = os.stat(tmp)
            except FileNotFoundError:
                raise CorpusError(tmp, "temporary shard file vanished while being written "
                                       "(another writer removed it); run the job again") from None
            if not os.path.samestat(on_disk, os.fstat(f.fileno())):
                raise CorpusError(tmp, "temporary shard file was replaced by another writer; run the job again")
        problem = shard_problem(self._parquet_tmp, self._vectors_tmp, self.first_id, self.count, self.dim)
        if problem:
            raise CorpusError(self._parquet_tmp, f"incomplete shard: {problem}")

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._parquet.close()
        for f in (self._parquet_file, self._vectors_file):
            with contextlib.suppress(Exception):
                f.close()
        for tmp in (self._parquet_tmp, self._vectors_tmp):
            tmp.unlink(missing_ok=True)
        self._lock.__exit__(None, None, None)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.info = self.commit()
        else:
            self.abort()


def shard_problem(parquet: Path, vectors: Path, first_id: int | None, count: int | None,
                  dim: int | None) -> str | None:
    """Why a shard's two files are not a complete shard, or None if they are.

    Checks the Parquet footer, the id column's first and last values and the raw
    vectors' size, which is cheap (no row data beyond two ids is read).
    """
    try:
        meta = pq.ParquetFile(parquet)
    except (pa.ArrowException, OSError) as e:
        return f"unreadable Parquet file ({e})"
    rows = meta.metadata.num_rows
    if count is not None and rows != count:
        return f"{rows} rows, expected {count}"
    names = meta.schema_arrow.names
    if "id" not in names or "embedding" not in names:
        return f"not a corpus shard (columns {names})"
    field = meta.schema_arrow.field("embedding").type
    shard_dim = field.list_size if pa.types.is_fixed_size_list(field) else -1
    if dim is not None and shard_dim != dim:
        return f"embedding dimension {shard_dim}, expected {dim}"
    if rows:
        try:
            first = int(meta.read_row_group(0, columns=["id"]).column(0)[0].as_py())
            last_group = meta.read_row_group(meta.num_row_groups - 1, columns=["id"]).column(0)
            last = int(last_group[len(last_group) - 1].as_py())
        except (pa.ArrowException, OSError, IndexError) as e:
            return f"unreadable id column ({e})"
        if (first_id is not None and first != first_id) or last - first != rows - 1:
            return f"ids {first}..{last} for {rows} rows"
    try:
        size = os.path.getsize(vectors)
    except OSError:
        return f"vector file {vectors.name} missing"
    if size != rows * shard_dim * 2:
        return f"vector file {vectors.name} holds {size} bytes, expected {rows * shard_dim * 2}"
    return None


def _remove_stale_temporaries(root: Path) -> None:
    """Delete temporaries of writers that are gone; a live writer's (it holds the shard lock) stay."""
    for directory in (root / SHARDS_DIR, root / VECTORS_DIR):
        if not directory.is_dir():
            continue
        for stale in directory.glob(".*.tmp"):
            name = stale.name[1:].split(".", 1)[0]
            with _shard_lock(root, name, blocking=False) as free:
                if free:
                    stale.unlink(missing_ok=True)


def completed_shards(root: Path) -> dict[str, ShardInfo]:
    """Shards already complete under ``root`` (by name), for resuming a job.

    Deletes temporaries a killed writer left behind, and any final-name shard
    that fails its check (it is then redone; the file is named on stderr).
    """
    root = Path(root)
    _remove_stale_temporaries(root)
    done: dict[str, ShardInfo] = {}
    for parquet in sorted((root / SHARDS_DIR).glob("part-*.parquet")):
        name = parquet.stem
        info = ShardInfo(name=name, first_id=0, count=0)
        vectors = info.vectors_path(root)
        with _shard_lock(root, name):
            problem = shard_problem(parquet, vectors, None, None, None)
            if problem:
                print(f"agile: {parquet}: {problem}; deleting it so this shard is written again",
                      file=sys.stderr, flush=True)
                parquet.unlink(missing_ok=True)
                vectors.unlink(missing_ok=True)
                continue
        meta = pq.ParquetFile(parquet)
        count = meta.metadata.num_rows
        first_id = int(meta.read_row_group(0, columns=["id"]).column(0)[0].as_py()) if count else 0
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
