"""How a simulated owner starts a concept: from its phrases, or from its name and a few example images.

A text start types the concept's positive and negative phrases (the suite's).
An image start types the name only and brings ``SEED_IMAGES`` example images
of the concept (`MemoryStore.create(..., seed_ids=...)`), as an owner who has
a few pictures at hand would: ground-truth positives outside the held-out
split, drawn with a generator seeded by the concept's name and the run's
seed, so every run of that concept and seed starts from the same images.
"""
from __future__ import annotations

import zlib
from typing import Literal

import numpy as np

from eval.errors import EvalError
from eval.split import HeldOutSplit

Start = Literal["text", "images"]
STARTS = ("text", "images")
SEED_IMAGES = 5


def example_images(truth: np.ndarray, split: HeldOutSplit, name: str, seed: int,
                   count: int = SEED_IMAGES) -> np.ndarray:
    """Sorted ids of ``count`` positives outside the held-out split (all of them where fewer exist)."""
    pool = np.setdiff1d(np.flatnonzero(truth), split.ids, assume_unique=True)
    if len(pool) == 0:
        raise EvalError(f"concept {name!r}: no positive outside the held-out split to start from")
    # crc32, not hash(): Python salts str hashes per process, and the seeds must be the same in every run.
    rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
    return np.sort(rng.choice(pool, min(count, len(pool)), replace=False)).astype(np.int64)
