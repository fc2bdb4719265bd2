"""The zero-shot baseline: cosine between each image and the concept's text.

The concept's text embedding is the normalised mean of its positive-phrase
embeddings. Averaging (rather than scoring each phrase and taking the
maximum) is the usual CLIP prompt-ensembling choice: the phrases are
paraphrases of one concept, and their mean is a single direction that the
threshold below was tuned for. Negative phrases are left out: subtracting
them would make the score no longer a cosine, and the threshold meaningless.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from agile.corpus import Corpus
from agile.embedder import Embedder
from agile.errors import AgileError
from agile.scratch import float32_rows

ZERO_SHOT_THRESHOLD = 0.28  # the paper's CLIP cosine threshold for F1 and accuracy
SCAN_ROWS = 262_144


class ZeroShotError(AgileError):
    """No phrases, or an embedding of the wrong dimension."""


def concept_text_embedding(embedder: Embedder, positives: Sequence[str]) -> np.ndarray:
    """float32 (D,): normalised mean of the positive phrases' embeddings."""
    if not positives:
        raise ZeroShotError("the zero-shot scorer needs at least one positive phrase")
    mean = np.asarray(embedder.embed_texts(list(positives)), dtype=np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def zero_shot_scores(corpus: Corpus, text_embedding: np.ndarray, rows: int = SCAN_ROWS) -> np.ndarray:
    """float32 (count,): cosine of every corpus vector with ``text_embedding``."""
    q = np.asarray(text_embedding, dtype=np.float32).reshape(-1)
    if len(q) != corpus.dim:
        raise ZeroShotError(f"text embedding has dimension {len(q)}, the corpus {corpus.dim}")
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    out = np.empty(corpus.count, dtype=np.float32)
    for first, block in corpus.iter_chunks(rows):
        out[first:first + len(block)] = float32_rows(block).numpy() @ q
    return out
