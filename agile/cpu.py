"""What this CPU offers, and scoped control of torch's intra-op threads."""
from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path
from typing import Iterator

import torch


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo is unavailable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# The instruction sets a kernel's speed depends on (every timing names those its CPU has).
FLAGS_THAT_MATTER = ("amx_int8", "amx_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (Linux), else what the platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads in the calling thread (None: unchanged).

    torch's OpenMP thread count is a per-thread setting, so this does not
    change what other threads of the process use; it is restored on exit.
    """
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
