"""Scoring every vector of a corpus with a trained model, streaming.

Memory is one block of vectors at a time plus the output (one float per
vector); the vectors are read from the corpus's memory-mapped float16 files.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from agile.corpus import Corpus

SCAN_ROWS = 65_536


def iter_scores(corpus: Corpus, model, rows: int = SCAN_ROWS) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_id, float32 probabilities)`` block by block, in id order."""
    for first, block in corpus.iter_chunks(rows):
        yield first, model.score_vectors(block)


def score_corpus(corpus: Corpus, model, rows: int = SCAN_ROWS) -> np.ndarray:
    """float32 probabilities (count,) for every vector of the corpus."""
    out = np.empty(corpus.count, dtype=np.float32)
    for first, scores in iter_scores(corpus, model, rows):
        out[first:first + len(scores)] = scores
    return out
