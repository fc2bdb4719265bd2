"""The mapper: a batch of uris -> L2-normalised embeddings, skipping images that fail to load.

Both engines run this same code: the local engine in-process, the Ray engine
inside each actor of its pool.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from agile.corpus import ModelInfo
from agile.openclip_embedder import OpenClipEmbedder
from agile.uris import load_image

DECODE_THREADS = 4  # image decoding mostly releases the GIL; overlap it with reading files


@dataclass(frozen=True)
class ModelSpec:
    name: str
    pretrained: str | None = None
    checkpoint: str | None = None

    def load(self) -> OpenClipEmbedder:
        return OpenClipEmbedder(self.name, pretrained=self.pretrained, checkpoint=self.checkpoint)


@dataclass
class MapResult:
    """Per input row: whether it was embedded; the embeddings of those that were, in order."""

    ok: np.ndarray                      # bool (n,)
    embeddings: np.ndarray              # float32 (ok.sum(), D)
    errors: dict[int, str] = field(default_factory=dict)  # row -> why it was skipped


class ImageMapper:
    def __init__(self, spec: ModelSpec):
        self.embedder = spec.load()

    @property
    def model_info(self) -> ModelInfo:
        return self.embedder.model_info

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def _pixels(self, uri: str) -> torch.Tensor | str:
        try:
            return self.embedder.preprocess(load_image(uri))
        except Exception as e:  # any unreadable image is skipped and reported, never fatal
            return f"{type(e).__name__}: {e}"

    def __call__(self, uris: Sequence[str]) -> MapResult:
        with ThreadPoolExecutor(DECODE_THREADS) as pool:
            loaded = list(pool.map(self._pixels, uris))
        ok = np.array([isinstance(x, torch.Tensor) for x in loaded], dtype=bool)
        errors = {i: x for i, x in enumerate(loaded) if isinstance(x, str)}
        pixels = [x for x in loaded if isinstance(x, torch.Tensor)]
        embeddings = self.embedder.embed_pixels(torch.stack(pixels)) if pixels else \
            np.zeros((0, self.dim), dtype=np.float32)
        return MapResult(ok, embeddings, errors)
