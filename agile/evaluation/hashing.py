"""64-bit SipHash-2-4 of image URIs, the deterministic "random" order of evaluation sets.

The paper (App. E) picks evaluation images inside each score stratum by the
lowest hash of their URI, so the choice is reproducible and independent of
the model. The key is fixed and public: it only has to be stable, not secret.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from siphash24 import siphash24

# The 16-byte key every evaluation set uses: ASCII "agile-eval-key-1".
SIPHASH_KEY = b"agile-eval-key-1"


def siphash64(data: bytes, key: bytes = SIPHASH_KEY) -> int:
    """SipHash-2-4 of ``data`` as an unsigned 64-bit integer (little-endian digest, as in the reference)."""
    return int.from_bytes(siphash24(data, key=key).digest(), "little")


def uri_hashes(uris: Iterable[str], key: bytes = SIPHASH_KEY) -> np.ndarray:
    """uint64 SipHash-2-4 of each URI's UTF-8 bytes."""
    return np.fromiter((siphash64(u.encode("utf-8"), key) for u in uris), dtype=np.uint64)


def corpus_uri_hashes(corpus, key: bytes = SIPHASH_KEY) -> np.ndarray:
    """uint64 SipHash-2-4 of every URI of an ``agile.corpus.Corpus``, in id order."""
    chunks = [uri_hashes(chunk.to_pylist(), key) for chunk in corpus.column("uri").iterchunks()]
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.uint64)


def hash_fraction(hashes: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean mask of the hashes in the lowest ``fraction`` of the 64-bit range.

    A deterministic, model-independent sample: the same URI is always in or out.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return np.ones(len(hashes), dtype=bool)
    return hashes < np.uint64(int(fraction * 2.0**64))
