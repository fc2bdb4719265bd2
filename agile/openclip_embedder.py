"""An open_clip model as the project's embedder: images and phrases to unit vectors.

Any open_clip model name works; weights come from a pretrained tag (which
open_clip downloads where a network exists) or a local checkpoint file. The
``ModelInfo`` it reports is what a corpus records, so phrases embedded later
are checked against the model that embedded the images.
"""
from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from agile.corpus import ModelInfo
from agile.embedder import EmbedderError, NoWeightsError

PACKAGE_DIR = Path(__file__).resolve().parent


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """A checkpoint path; relative paths are relative to the ``agile`` package (built-in models)."""
    path = Path(checkpoint)
    return path if path.is_absolute() else PACKAGE_DIR / path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _register_builtin_configs() -> None:
    # Project model configs (e.g. the demo model) must be known to open_clip
    # before a model of that name is created.
    try:
        from agile.model_configs import register_builtin_configs
    except ImportError:
        return
    register_builtin_configs()


def known_open_clip_models() -> list[str]:
    """open_clip's model names, the project's own configs included."""
    import open_clip

    _register_builtin_configs()
    return open_clip.list_models()


class OpenClipEmbedder:
    """Embeds images and texts with one open_clip model, as L2-normalised float32."""

    has_text = True

    def __init__(self, name: str, pretrained: str | None = None, checkpoint: str | None = None,
                 device: str = "cpu", allow_random_weights: bool = False):
        import open_clip

        if pretrained and checkpoint:
            raise EmbedderError(f"model {name}: give a pretrained tag or a checkpoint, not both")
        _register_builtin_configs()
        if name not in open_clip.list_models():
            raise EmbedderError(f"unknown open_clip model {name!r} (see open_clip.list_models())")
        if not pretrained and not checkpoint and not allow_random_weights:
            # open_clip would build the model with random weights and only log a warning.
            raise NoWeightsError(f"open_clip model {name!r} needs a pretrained tag or a checkpoint: without "
                                 "them its weights are random (pass allow_random_weights=True to benchmark)")
        weights: str | None = pretrained
        sha256 = None
        if checkpoint:
            path = resolve_checkpoint(checkpoint)
            if not path.is_file():
                raise EmbedderError(f"{path}: checkpoint file not found")
            weights, sha256 = str(path), file_sha256(path)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights, device=device)
        except (RuntimeError, ValueError, OSError, KeyError, EOFError, pickle.UnpicklingError) as e:
            raise EmbedderError(f"cannot load model {name} with weights {weights!r}: {e}") from e
        self.model = model.eval()
        self.preprocess: Callable = preprocess
        self.tokenizer = open_clip.get_tokenizer(name)
        self.device = torch.device(device)
        self.model_info = ModelInfo(name=name, pretrained=pretrained, checkpoint=checkpoint, sha256=sha256,
                                    text_model=True)
        self.dim = int(open_clip.get_model_config(name)["embed_dim"])

    @classmethod
    def from_model_info(cls, info: ModelInfo, device: str = "cpu",
                        allow_random_weights: bool = False) -> "OpenClipEmbedder":
        embedder = cls(info.name, pretrained=info.pretrained, checkpoint=info.checkpoint, device=device,
                       allow_random_weights=allow_random_weights)
        if info.sha256 and embedder.model_info.sha256 != info.sha256:
            raise EmbedderError(f"{resolve_checkpoint(info.checkpoint or '')}: sha256 is "
                                f"{embedder.model_info.sha256}, the corpus was embedded with {info.sha256}")
        return embedder

    @staticmethod
    def _normalise(features: torch.Tensor) -> np.ndarray:
        features = features.float()
        return (features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()

    @torch.inference_mode()
    def embed_pixels(self, pixels: torch.Tensor) -> np.ndarray:
        """Preprocessed image tensors (n, 3, H, W) -> float32 (n, D), L2-normalised."""
        if len(pixels) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._normalise(self.model.encode_image(pixels.to(self.device)))

    def embed_images(self, images: Sequence) -> np.ndarray:
        """PIL images -> float32 (n, D), L2-normalised."""
        if len(images) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_pixels(torch.stack([self.preprocess(im.convert("RGB")) for im in images]))

    @torch.inference_mode()
    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Phrases -> float32 (n, D), L2-normalised."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self.tokenizer(list(texts)).to(self.device)
        return self._normalise(self.model.encode_text(tokens))
