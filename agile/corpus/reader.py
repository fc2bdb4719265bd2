"""Reading and validating a corpus directory (see docs/architecture.md, "The corpus on disk")."""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from agile.corpus.manifest import CorpusManifest, ModelInfo, ShardInfo, read_manifest
from agile.corpus.writer import NORM_TOLERANCE
from agile.errors import CorpusError

# Below this many stored float16 values (128 MiB) opening a corpus checks every
# vector; above it, a deterministic sample, and `Corpus.verify()` does the rest.
FULL_CHECK_VALUES = 1 << 26
SAMPLE_ROWS_PER_SHARD = 2048
SCAN_ROWS = 65_536

Verify = Literal["auto", "quick", "full"]


def check_vectors(vectors: np.ndarray, first_id: int, path: Path, ids: np.ndarray | None = None) -> None:
    """Raise naming ``path`` and the id of the first NaN or non-unit row.

    Rows have ids ``first_id``, ``first_id + 1``, ... unless ``ids`` gives them.
    """
    block = vectors.astype(np.float32)
    row_id = (lambda i: int(ids[i])) if ids is not None else (lambda i: first_id + i)
    finite = np.isfinite(block).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise CorpusError(path, f"vector of id {row_id(bad)} holds NaN or infinite values")
    norms = np.sqrt(np.einsum("ij,ij->i", block, block))
    off = np.abs(norms - 1.0) > NORM_TOLERANCE
    if off.any():
        bad = int(np.flatnonzero(off)[0])
        raise CorpusError(path, f"vector of id {row_id(bad)} has norm {norms[bad]:.4f}, "
                                "expected 1 (vectors must be L2-normalised)")


class Corpus:
    """A read-only view of a corpus directory.

    Vectors come from the memory-mapped raw float16 copies; uris and metadata
    from the Parquet shards. Ids are dense: 0..count-1.
    """

    def __init__(self, root: Path, manifest: CorpusManifest, vectors: list[np.memmap]):
        self.root = root
        self.manifest = manifest
        self._vectors = vectors
        self._starts = np.array([s.first_id for s in manifest.shards], dtype=np.int64)

    # -- opening and validation -------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, verify: Verify = "auto") -> "Corpus":
        """Open and validate a corpus.

        ``quick`` checks the manifest, every shard's schema, row count and ids,
        and a sample of vectors; ``full`` checks every vector in both copies;
        ``auto`` is ``full`` for corpora under 128 MiB of vectors.
        """
        root = Path(path)
        if not root.is_dir():
            raise CorpusError(root, "not a directory")
        manifest = read_manifest(root)
        vectors = [cls._check_shard(root, manifest, shard) for shard in manifest.shards]
        corpus = cls(root, manifest, vectors)
        if verify == "full" or (verify == "auto" and manifest.count * manifest.dim <= FULL_CHECK_VALUES):
            corpus.verify()
        else:
            corpus._check_vector_sample()
        return corpus

    @staticmethod
    def _check_shard(root: Path, manifest: CorpusManifest, shard: ShardInfo) -> np.memmap:
        parquet = shard.parquet_path(root)
        if not parquet.is_file():
            raise CorpusError(parquet, f"shard {shard.name} listed in corpus.json is missing")
        try:
            pfile = pq.ParquetFile(parquet)
        except (pa.ArrowException, OSError) as e:
            raise CorpusError(parquet, f"unreadable Parquet file: {e}") from e
        schema = pfile.schema_arrow
        expected = {"id": pa.int64(), "uri": pa.string(),
                    "embedding": pa.list_(pa.float16(), manifest.dim)}
        for name, dtype in expected.items():
            if name not in schema.names:
                raise CorpusError(parquet, f"column {name!r} is missing")
            actual = schema.field(name).type
            if name == "uri" and actual == pa.large_string():
                continue
            if actual != dtype:
                raise CorpusError(parquet, f"column {name!r} has type {actual}, expected {dtype}"
                                  + (" (wrong dimension?)" if name == "embedding" else ""))
        for name in manifest.metadata_columns:
            if name not in schema.names:
                raise CorpusError(parquet, f"metadata column {name!r} is missing")
        if pfile.metadata.num_rows != shard.count:
            raise CorpusError(parquet, f"holds {pfile.metadata.num_rows} rows, corpus.json says {shard.count}")
        ids = pfile.read(columns=["id"]).column(0).to_numpy()
        expected_ids = np.arange(shard.first_id, shard.first_id + shard.count, dtype=np.int64)
        if not np.array_equal(ids, expected_ids):
            raise CorpusError(parquet, _describe_id_problem(ids, expected_ids))
        return Corpus._map_vectors(shard.vectors_path(root), shard.count, manifest.dim)

    @staticmethod
    def _map_vectors(path: Path, count: int, dim: int) -> np.memmap:
        if not path.is_file():
            raise CorpusError(path, "vector file is missing")
        size = path.stat().st_size
        if size != count * dim * 2:
            raise CorpusError(path, f"holds {size} bytes, expected {count} x {dim} float16 = {count * dim * 2}")
        if count == 0:
            return np.zeros((0, dim), dtype=np.float16)
        return np.memmap(path, dtype=np.float16, mode="r", shape=(count, dim))

    def _check_vector_sample(self) -> None:
        # Sampled rows are read, not taken from the memory maps: 2048 scattered
        # faults per shard would map 64 KiB around each (the kernel's
        # fault-around), 1.2 GB of RSS for a 10M corpus held as long as it is open.
        rng = np.random.default_rng(0)
        for shard in self.manifest.shards:
            if shard.count:
                rows = np.unique(np.concatenate([[0, shard.count - 1],
                                                 rng.integers(0, shard.count, SAMPLE_ROWS_PER_SHARD)]))
                ids = shard.first_id + rows
                check_vectors(self.read_rows(ids), shard.first_id, shard.vectors_path(self.root), ids=ids)

    def verify(self) -> None:
        """Check every vector: finite, unit norm, and equal in the Parquet and raw copies."""
        for shard, raw in zip(self.manifest.shards, self._vectors):
            parquet = pq.ParquetFile(shard.parquet_path(self.root))
            offset = 0
            for batch in parquet.iter_batches(batch_size=SCAN_ROWS, columns=["embedding"]):
                emb = _embedding_block(batch.column(0), self.dim)
                first = shard.first_id + offset
                check_vectors(emb, first, shard.parquet_path(self.root))
                stored = raw[offset: offset + len(emb)]
                check_vectors(stored, first, shard.vectors_path(self.root))
                if not np.array_equal(stored.view(np.uint16), emb.view(np.uint16)):
                    bad = int(np.flatnonzero((stored.view(np.uint16) != emb.view(np.uint16)).any(axis=1))[0])
                    raise CorpusError(shard.vectors_path(self.root),
                                      f"vector of id {first + bad} differs from {shard.parquet_path(self.root).name}")
                offset += len(emb)

    # -- properties --------------------------------------------------------------
    @property
    def count(self) -> int:
        return self.manifest.count

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def model(self) -> ModelInfo:
        return self.manifest.model

    @property
    def shards(self) -> list[ShardInfo]:
        return self.manifest.shards

    def __len__(self) -> int:
        return self.count

    # -- access by id --------------------------------------------------------------
    def check_ids(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """``ids`` as int64, raising ``IndexError``-free typed errors for unknown ids."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.count):
            bad = ids[(ids < 0) | (ids >= self.count)][0]
            raise UnknownIdError(self.root, f"id {int(bad)} is not in this corpus (0..{self.count - 1})")
        return ids

    def _locate(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._starts, ids, side="right") - 1

    def vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """float16 vectors of ``ids``, in the order given."""
        ids = self.check_ids(ids)
        out = np.empty((len(ids), self.dim), dtype=np.float16)
        shard_of = self._locate(ids)
        for s in np.unique(shard_of):
            mask = shard_of == s
            out[mask] = self._vectors[s][ids[mask] - self._starts[s]]
        return out

    def read_rows(self, ids: np.ndarray) -> np.ndarray:
        """float16 vectors of sorted ``ids`` by positioned reads (the same values as ``vectors``).

        Gathering scattered rows through the memory maps maps a 64 KiB window
        around each (the kernel's fault-around) into this process's RSS, up to
        the whole corpus; a read per row costs a few microseconds and maps nothing.
        """
        ids = self.check_ids(ids)
        out = np.empty((len(ids), self.dim), dtype=np.float16)
        row_bytes = 2 * self.dim
        view = memoryview(out).cast("B")
        shard_of = self._locate(ids)
        for s in np.unique(shard_of):
            positions = np.flatnonzero(shard_of == s)
            fd = os.open(self.manifest.shards[s].vectors_path(self.root), os.O_RDONLY)
            try:
                for pos, row in zip(positions.tolist(), (ids[positions] - self._starts[s]).tolist()):
                    os.preadv(fd, [view[pos * row_bytes: (pos + 1) * row_bytes]], row * row_bytes)
            finally:
                os.close(fd)
        return out

    def uris(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        ids = self.check_ids(ids)
        out: list[str] = [""] * len(ids)
        shard_of = self._locate(ids)
        for s in np.unique(shard_of):
            positions = np.flatnonzero(shard_of == s)
            column = self._shard_column(int(s), "uri")
            for pos, value in zip(positions, column.take(pa.array(ids[positions] - self._starts[s])).to_pylist()):
                out[pos] = value
        return out

    def uri(self, id_: int) -> str:
        return self.uris([id_])[0]

    def column(self, name: str) -> pa.ChunkedArray:
        """A metadata (or uri) column for every id, in id order."""
        if name not in {"uri", *self.manifest.metadata_columns}:
            raise UnknownColumnError(self.root / "corpus.json", f"no column {name!r}; "
                                     f"metadata columns: {self.manifest.metadata_columns}")
        return pa.chunked_array([self._shard_column(i, name) for i in range(len(self.shards))])

    @functools.lru_cache(maxsize=8)
    def _shard_column(self, shard_index: int, name: str) -> pa.Array:
        shard = self.shards[shard_index]
        table = pq.read_table(shard.parquet_path(self.root), columns=[name])
        return table.column(0).combine_chunks()

    # -- scanning ----------------------------------------------------------------------
    def iter_chunks(self, rows: int = SCAN_ROWS) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first_id, float16 block)`` over all vectors, in id order.

        Blocks are zero-copy views of the memory-mapped files and never span
        two shards.
        """
        for shard, vectors in zip(self.shards, self._vectors):
            for start in range(0, shard.count, rows):
                yield shard.first_id + start, vectors[start: start + rows]

    def vector_files(self) -> list[tuple[ShardInfo, np.ndarray]]:
        """The memory-mapped float16 array of each shard (for scan-friendly copies)."""
        return list(zip(self.shards, self._vectors))


def _embedding_block(column: pa.Array, dim: int) -> np.ndarray:
    return column.values.to_numpy(zero_copy_only=False).reshape(-1, dim)


def _describe_id_problem(ids: np.ndarray, expected: np.ndarray) -> str:
    if len(ids) != len(expected):
        return f"holds {len(ids)} ids, expected {len(expected)}"
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        return f"duplicate id {int(uniq[counts > 1][0])}"
    missing = np.setdiff1d(expected, ids)
    if missing.size:
        return f"missing id {int(missing[0])} (ids must be dense, {expected[0]}..{expected[-1]})"
    row = int(np.flatnonzero(ids != expected)[0])
    return f"ids out of order at row {row}: {int(ids[row])}, expected {int(expected[row])}"


class UnknownIdError(CorpusError):
    """An id outside 0..count-1 was asked for."""


class UnknownColumnError(CorpusError):
    """A metadata column the corpus does not have was asked for."""
