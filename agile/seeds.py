"""Image seeds: example images that start or grow a concept, next to (or instead of) its phrases.

A seed is a corpus image (its id) or an uploaded one (its embedding with the
corpus's image model; the store keeps its content hash beside it). Expansion
treats each seed's vector as one more query, exactly as a phrase's text
embedding: its nearest unrated images join the union the batch is drawn from.
Seeds are queries, not ratings: a seed image of the corpus shows up in the
first batch (it is its own nearest neighbour) and the owner rates it there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from agile.errors import AgileError


class SeedError(AgileError):
    """An image seed is not an image of the corpus, or its vector does not fit the corpus's model."""


def _no_vectors() -> np.ndarray:
    return np.empty((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class ImageSeeds:
    """A concept's seeds: corpus ids, and unit vectors of uploaded images."""

    ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))   # int64 corpus ids
    vectors: np.ndarray = field(default_factory=_no_vectors)                  # float32 (m, dim), uploads

    def __len__(self) -> int:
        return len(self.ids) + len(self.vectors)

    def query_vectors(self, corpus) -> np.ndarray:
        """float32 (len, dim): the corpus vectors of the id seeds, then the uploads."""
        ids = np.asarray(self.ids, dtype=np.int64)
        if len(ids) and (ids.min() < 0 or ids.max() >= corpus.count):
            raise SeedError(f"seed image {int(ids[(ids < 0) | (ids >= corpus.count)][0])} is not in the corpus "
                            f"(0..{corpus.count - 1})")
        parts = [corpus.vectors(ids).astype(np.float32)] if len(ids) else []
        if len(self.vectors):
            vectors = np.asarray(self.vectors, dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[1] != corpus.dim:
                raise SeedError(f"uploaded seed vectors have shape {vectors.shape}; the corpus has dim {corpus.dim}")
            parts.append(vectors)
        return np.concatenate(parts) if parts else np.empty((0, corpus.dim), np.float32)
