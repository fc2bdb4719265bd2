"""The scan store: an 8-bit copy of a corpus's vectors for fast corpus-wide scoring.

Half the bytes of the float16 vectors, so twice as much of a corpus stays in
the page cache and every scoring pass reads half as much memory. Each
dimension has its own scale (CLIP embeddings have a few dimensions far larger
than the rest; one global scale would waste most int8 levels on them); the
scales are folded into the first layer's weights by `Int8MLP`, so scoring
never dequantises a vector.

A vector is ``(u8 - ZERO_POINT) * scales``: symmetric int8 levels -127..127
stored with 128 added, as unsigned bytes. oneDNN's fast int8 products on
AVX-512 VNNI and AVX2 take unsigned activations only (``vpdpbusd``: u8 x s8),
so storing them unsigned spares every pass a conversion of every block
(format 1 stored signed bytes and flipped their sign bit per block: 0.75 ms
of an 11 ms block on AVX-512 VNNI, docs/kernels.md).

Layout, under ``<corpus>/scan/`` or any directory given (a corpus may be
read-only)::

    scan.json            identity of the corpus it was built from + the scales
    u8/part-NNNNN.u8     one raw row-major uint8 file per corpus shard

Built lazily on first use, under a file lock, shard by shard: each file is
written to a temporary name and renamed; ``scan.json`` is written last, so a
half-built store is never used and a killed build resumes at the next shard.
Each part is written under its own lock too, so processes that each own some
shards (`build_parts`, the Ray scan actors) build them at once.
A store whose recorded corpus identity differs from the corpus is rebuilt.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import mmap
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from agile.atomic import atomic_path, atomic_write_json
from agile.corpus import Corpus
from agile.errors import AgileError

FORMAT = "agile-scan-int8"
FORMAT_VERSION = 2     # 1: signed bytes under int8/ (rebuilt when met)
ZERO_POINT = 128       # stored byte = int8 level + ZERO_POINT
PARTS_DIRNAME = "u8"
LEGACY_PARTS_DIRNAME = "int8"
SCAN_DIRNAME = "scan"
BUILD_ROWS = 65_536
SAMPLE_ROWS_PER_SHARD = 8_192
HEADROOM = 1.05  # scale a little above the sampled maximum: unsampled rows clip rarely
CALIBRATE_ROWS = 16_384  # agile.scoring.SCAN_ROWS, the block size every pass uses
KERNEL_CACHE = "kernels.json"


class ScanStoreError(AgileError):
    """The scan store cannot be built or read."""


def scan_dir_for(corpus: Corpus, fallback: str | Path) -> Path | None:
    """Where a caller keeps the scan store: beside the corpus (None) unless the
    corpus is read-only and has none there, then ``fallback``."""
    beside = corpus.root / SCAN_DIRNAME / "scan.json"
    return None if beside.exists() or os.access(corpus.root, os.W_OK) else Path(fallback)


def corpus_identity(corpus: Corpus) -> dict[str, Any]:
    return {"count": corpus.count, "dim": corpus.dim, "created_at": corpus.manifest.created_at,
            "shards": [[s.name, s.count] for s in corpus.shards]}


def dimension_scales(corpus: Corpus) -> np.ndarray:
    """Per-dimension int8 scales from a deterministic sample of every shard."""
    rng = np.random.default_rng(0)
    peak = np.zeros(corpus.dim, dtype=np.float32)
    for shard, vectors in corpus.vector_files():
        if shard.count:
            rows = np.sort(rng.choice(shard.count, min(SAMPLE_ROWS_PER_SHARD, shard.count), replace=False))
            peak = np.maximum(peak, np.abs(vectors[rows].astype(np.float32)).max(axis=0))
    return (np.maximum(peak, 1e-6) * HEADROOM / 127.0).astype(np.float32)


@dataclass
class ScanStore:
    root: Path
    scales: np.ndarray                   # (dim,) float32: vector ~= (u8 - ZERO_POINT) * scales
    parts: list[tuple[int, np.ndarray]]  # (first_id, uint8 memmap (count, dim)) per shard

    @classmethod
    def open_or_build(cls, corpus: Corpus, root: str | Path | None = None, progress: bool = False,
                      calibrate_rows: int | None = CALIBRATE_ROWS) -> "ScanStore":
        """Open (building it if needed) the store of ``corpus`` under ``root``.

        With ``calibrate_rows`` (the default), the int8 and float32 scoring
        kernels are also timed for the loop's own model shapes with blocks of
        that many rows, once per machine (see agile.kernel_choice), so the
        first round does not wait on it.
        """
        root = Path(root) if root is not None else corpus.root / SCAN_DIRNAME
        store = cls._open(corpus, root)
        if store is None:
            store = cls._build_locked(corpus, root, progress)
        if calibrate_rows:
            from agile.kernel_choice import calibrate_default_shapes  # it imports this module

            calibrate_default_shapes(corpus, store, calibrate_rows)
        return store

    @classmethod
    def existing(cls, corpus: Corpus, root: str | Path | None = None) -> "ScanStore | None":
        """The store of ``corpus`` under ``root`` if one is complete there; never builds one."""
        return cls._open(corpus, Path(root) if root is not None else corpus.root / SCAN_DIRNAME)

    @classmethod
    def _build_locked(cls, corpus: Corpus, root: Path, progress: bool) -> "ScanStore":
        try:
            root.mkdir(parents=True, exist_ok=True)
            with open(root / ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one builder; others wait and then open its result
                store = cls._open(corpus, root)
                if store is None:
                    _build(corpus, root, progress)
                    store = cls._open(corpus, root)
        except OSError as e:
            raise ScanStoreError(f"{root}: cannot build the int8 scan store ({e.strerror or e}); "
                                 "give a writable scan_dir or use kernel='exact'") from e
        if store is None:
            raise ScanStoreError(f"{root}: scan store still unusable after building it")
        return store

    @classmethod
    def _open(cls, corpus: Corpus, root: Path) -> "ScanStore | None":
        try:
            meta = json.loads((root / "scan.json").read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if meta.get("format_version") != FORMAT_VERSION or meta.get("corpus") != corpus_identity(corpus):
            return None
        parts = []
        for shard in corpus.shards:
            path = _part_path(root, shard.name)
            if not path.is_file() or path.stat().st_size != shard.count * corpus.dim:
                return None
            if shard.count:
                # copy-on-write mapping: writable for torch, never written, shares the page cache
                parts.append((shard.first_id, np.memmap(path, dtype=np.uint8, mode="c",
                                                        shape=(shard.count, corpus.dim))))
        return cls(root, np.asarray(meta["scales"], dtype=np.float32), parts)

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for _, p in self.parts)

    def dequantize(self, block: np.ndarray) -> np.ndarray:
        """float32 vectors of stored rows."""
        return (block.astype(np.float32) - ZERO_POINT) * self.scales

    def iter_chunks(self, rows: int) -> Iterator[tuple[int, np.ndarray]]:
        """``(first_id, uint8 block)`` over all vectors, in id order; zero-copy views."""
        for first, part in self.parts:
            for start in range(0, len(part), rows):
                yield first + start, part[start:start + rows]

    def warm(self, wait: bool = False) -> int:
        """Ask the kernel to read the whole store into the page cache.

        Returns at once unless ``wait``, which touches every page (blocking)
        and returns a checksum so the reads cannot be skipped.
        """
        for _, part in self.parts:
            with open(part.filename, "rb") as f:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
        if not wait:
            return 0
        rows_per_page = max(1, mmap.PAGESIZE // max(self.scales.size, 1))
        return sum(int(part[::rows_per_page, 0].sum()) for _, part in self.parts)

    def pin(self) -> bool:
        """Lock the store's pages in memory (mlock) for as long as this object lives.

        For a service on a machine of its own: other files' reads can then
        never evict the store. Needs the memlock limit (or CAP_IPC_LOCK);
        returns False, changing nothing, when the system refuses.
        """
        libc = ctypes.CDLL(None, use_errno=True)
        locked = []
        for _, part in self.parts:
            address, size = part.ctypes.data, part.nbytes
            if libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(size)) != 0:
                for a, n in locked:
                    libc.munlock(ctypes.c_void_p(a), ctypes.c_size_t(n))
                return False
            locked.append((address, size))
        return True


def _part_path(root: Path, name: str) -> Path:
    return root / PARTS_DIRNAME / f"{name}.u8"


def _start_build(corpus: Corpus, root: Path) -> np.ndarray:
    """The scales of the build under way (``build.json``), starting one if there is none for this corpus.
    Called under the store's lock."""
    identity = corpus_identity(corpus)
    build_path = root / "build.json"
    try:
        build = json.loads(build_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        build = None
    if build is None or build.get("corpus") != identity or build.get("format_version") != FORMAT_VERSION:
        for parts in (PARTS_DIRNAME, LEGACY_PARTS_DIRNAME):  # parts of another corpus, scale or format
            shutil.rmtree(root / parts, ignore_errors=True)
        (root / "scan.json").unlink(missing_ok=True)
        (root / KERNEL_CACHE).unlink(missing_ok=True)  # timings of another corpus or format
        build = {"corpus": identity, "format_version": FORMAT_VERSION, "scales": dimension_scales(corpus).tolist()}
        atomic_write_json(build_path, build)
    (root / PARTS_DIRNAME).mkdir(exist_ok=True)
    return np.asarray(build["scales"], dtype=np.float32)


def _build_part(corpus: Corpus, root: Path, shard_index: int, scales: np.ndarray, progress: bool) -> None:
    """Write one shard's part unless it is done, under the part's own lock: processes building the
    store's parts in parallel (Ray actors, each its own share first) never write one twice."""
    shard, vectors = corpus.vector_files()[shard_index]
    path = _part_path(root, shard.name)
    with open(root / f".build-{shard.name}.lock", "w") as lock:  # beside the store, not among its parts
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file() and path.stat().st_size == shard.count * corpus.dim:
            return  # finished by another process, or by an earlier, interrupted build
        inverse = torch.from_numpy(1.0 / scales)
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            for start in range(0, shard.count, BUILD_ROWS):
                block = torch.from_numpy(np.array(vectors[start:start + BUILD_ROWS]))
                q = block.float().mul_(inverse).round_().clamp_(-127, 127).add_(ZERO_POINT).to(torch.uint8)
                out.write(q.numpy().tobytes())
    if progress:
        print(f"scan store: {shard.name} done", flush=True)


def build_parts(corpus: Corpus, root: str | Path | None, shards: list[int]) -> None:
    """Build the parts of ``shards`` only, holding the store's lock just to read or start the build, so
    several processes build their own shards at once; `ScanStore.open_or_build` then finishes the store."""
    root = Path(root) if root is not None else corpus.root / SCAN_DIRNAME
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if ScanStore._open(corpus, root) is not None:
                return
            scales = _start_build(corpus, root)
        for i in shards:
            _build_part(corpus, root, i, scales, progress=False)
    except OSError as e:
        raise ScanStoreError(f"{root}: cannot build the int8 scan store ({e.strerror or e}); "
                             "give a writable scan_dir or use kernel='exact'") from e


def _build(corpus: Corpus, root: Path, progress: bool) -> None:
    scales = _start_build(corpus, root)
    for i in range(len(corpus.shards)):
        _build_part(corpus, root, i, scales, progress)
    atomic_write_json(root / "scan.json", {"format": FORMAT, "format_version": FORMAT_VERSION,
                                           "corpus": corpus_identity(corpus), "scales": scales.tolist()})
