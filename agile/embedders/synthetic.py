"""The embedder of synthetic corpora (``agile.synth``): phrases that name clusters.

Synthetic corpora (``model.name == "synthetic"``) have no images or text
encoder; their `SyntheticEmbedder` understands phrases that name clusters,
"cluster 17" or "cluster 17 and cluster 3", and maps them to the normalised
mean of those cluster centres, which is what a text query for a concept made
of those clusters looks like.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Sequence

import numpy as np

from agile.corpus import ModelInfo
from agile.embedder import EmbedderError, register_embedder
from agile.synth import MODEL, load_world

if TYPE_CHECKING:
    from PIL.Image import Image

    from agile.corpus import Corpus

SYNTHETIC = MODEL.name
_CLUSTER_PHRASE = re.compile(r"^\s*cluster\s+(\d+)((?:\s*(?:,|and|\+)\s*cluster\s+\d+)*)\s*$", re.I)


class SyntheticEmbedder:
    """Maps "cluster 17 and cluster 3" to the normalised mean of those centres."""

    def __init__(self, centers: np.ndarray, model_info: ModelInfo | None = None):
        self.centers = np.asarray(centers, dtype=np.float32)
        self.model_info = model_info or ModelInfo(name=SYNTHETIC)
        self.dim = int(self.centers.shape[1])

    @classmethod
    def for_corpus(cls, corpus: "Corpus", device: str = "cpu") -> "SyntheticEmbedder":
        try:
            _, centers = load_world(corpus.root)
        except FileNotFoundError as e:
            raise EmbedderError(f"{corpus.root}: synthetic corpus without synth/ centres ({e.filename})") from e
        return cls(centers, corpus.model)

    def vocabulary(self) -> list[str]:
        """The phrases this embedder reads: one per cluster (the assistant suggests among them)."""
        return [f"cluster {i}" for i in range(len(self.centers))]

    def clusters_of(self, text: str) -> list[int]:
        match = _CLUSTER_PHRASE.match(text)
        if not match:
            raise EmbedderError(f"the synthetic embedder only understands phrases like "
                                f"'cluster 17' or 'cluster 17 and cluster 3', not {text!r}")
        clusters = [int(c) for c in re.findall(r"\d+", text)]
        bad = [c for c in clusters if c >= len(self.centers)]
        if bad:
            raise EmbedderError(f"{text!r}: cluster {bad[0]} does not exist "
                                f"(this corpus has clusters 0..{len(self.centers) - 1})")
        return clusters

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise EmbedderError("embed_texts takes a sequence of phrases, not one string")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self.centers[self.clusters_of(text)].mean(axis=0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        raise EmbedderError("a synthetic corpus has no images; the synthetic embedder embeds "
                            "only phrases such as 'cluster 17'")


register_embedder(SYNTHETIC, SyntheticEmbedder.for_corpus)
