"""Which oneDNN implementation ran each layer: oneDNN's own verbose lines, captured in-process."""
from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class PrimitiveRun:
    kind: str          # e.g. "matmul"
    implementation: str  # e.g. "brg_matmul:avx512_core_vnni", "ref_int8:any"
    source: str        # source data type, e.g. "u8"
    shape: str         # e.g. "16384x512:512x128"
    ms: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_verbose(text: str) -> list[PrimitiveRun]:
    """The ``exec`` lines of ONEDNN_VERBOSE output (v1 format)."""
    runs = []
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 10 or not fields[0].startswith("onednn_verbose") or "exec" not in fields[:4]:
            continue
        at = fields.index("exec")
        kind, impl = fields[at + 2], fields[at + 3]
        descriptors = fields[at + 5]
        source = next((d.split(":")[1] for d in descriptors.split() if d.startswith("src:")), "")
        try:
            ms = float(fields[-1])
        except ValueError:
            continue
        runs.append(PrimitiveRun(kind, impl, source, fields[-2], round(ms, 3)))
    return runs


def trace(fn: Callable[[], Any]) -> list[PrimitiveRun]:
    """Run ``fn`` once with oneDNN's verbose mode on and return the primitives it executed.

    oneDNN prints from C to file descriptor 1, so that descriptor is pointed at
    a temporary file for the call (Python's own stdout is flushed around it).
    """
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as capture:
        os.dup2(capture.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        return parse_verbose(capture.read())
