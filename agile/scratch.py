"""Per-thread scratch buffers for the block loops, reused instead of allocated for every block.

glibc serves an allocation above its mmap threshold (which never rises past
32 MiB) with a fresh mapping, and a fresh mapping is paid for in page faults
as it is first written. A 16,384 x 512 float16 block converted to float32
(just over 32 MiB) took 16 ms that way, 14 of them faults, against 1.5 ms
into a reused buffer (docs/kernels.md, "Buffers").
"""
from __future__ import annotations

import threading
import warnings

import numpy as np
import torch

_local = threading.local()


def scratch(name: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
    """A flat tensor of ``numel`` elements, this thread's own: valid until its next call with ``name``."""
    buffers = _local.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.dtype != dtype or buffer.numel() < numel:
        with torch.inference_mode(False):  # a normal tensor: written in and out of inference mode alike
            buffer = buffers[name] = torch.empty(numel, dtype=dtype)
    return buffer[:numel]


def readonly_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor view of a read-only (memory-mapped) array, which is only ever read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


def float32_rows(block: np.ndarray) -> torch.Tensor:
    """A (float16) block as float32 in this thread's scratch: valid until its next call."""
    return scratch("float32_rows", torch.float32, block.size).view(block.shape).copy_(readonly_tensor(block))


def read_float16_rows(path, start: int, count: int, dim: int) -> np.ndarray:
    """Rows ``start .. start + count`` of a raw float16 file, read (not mapped) into this thread's scratch."""
    rows = scratch("float16_rows", torch.float16, count * dim).numpy()
    with open(path, "rb") as f:
        f.seek(start * dim * 2)
        got = f.readinto(memoryview(rows).cast("B"))
    if got != rows.nbytes:
        raise OSError(f"{path}: {got} bytes where rows {start}..{start + count} need {rows.nbytes}")
    return rows.reshape(count, dim)
