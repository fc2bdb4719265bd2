"""Turning phrases (and images) into vectors comparable with a corpus.

Phrases must be embedded with the very model that embedded the corpus, so
`embedder_for_corpus` builds the embedder from ``corpus.json`` and
`check_same_model` refuses an embedder whose model differs.

Which class embeds for a model is a registry: a family registers a factory
for its model name (`register_embedder`; the modules in `agile/embedders/`
do so when imported), and every other name is an open_clip model.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from agile.corpus import ModelInfo
from agile.errors import AgileError

if TYPE_CHECKING:
    from PIL.Image import Image

    from agile.corpus import Corpus


class EmbedderError(AgileError):
    """A model cannot be built or loaded, or a phrase or image cannot be embedded by it."""


class ModelMismatchError(EmbedderError):
    """The embedder's model is not the model the corpus was embedded with."""


@runtime_checkable
class Embedder(Protocol):
    model_info: ModelInfo
    dim: int

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """float32 (n, dim), each row L2-normalised."""
        ...

    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        """float32 (n, dim), each row L2-normalised."""
        ...


EmbedderFactory = Callable[["Corpus", str], Embedder]  # (corpus, device) -> the corpus's embedder

_FACTORIES: dict[str, EmbedderFactory] = {}
_families_loaded = False
_families_lock = threading.Lock()


def register_embedder(model_name: str, factory: EmbedderFactory) -> None:
    """Corpora whose ``corpus.json`` names ``model_name`` are embedded by ``factory(corpus, device)``."""
    _FACTORIES[model_name] = factory


def _load_families() -> None:
    # Imported on first use, not at import time, so `import agile.embedder` stays cheap
    # and a family module may itself import this one.
    global _families_loaded
    with _families_lock:
        if _families_loaded:
            return
        import agile.embedders

        for module in pkgutil.iter_modules(agile.embedders.__path__):
            importlib.import_module(f"agile.embedders.{module.name}")
        _families_loaded = True


def _open_clip(corpus: "Corpus", device: str) -> Embedder:
    from agile.openclip_embedder import OpenClipEmbedder

    return OpenClipEmbedder.from_model_info(corpus.model, device=device)


def embedder_factory(model_name: str) -> EmbedderFactory:
    """The registered factory for a model name; open_clip for any name no family claims."""
    _load_families()
    return _FACTORIES.get(model_name, _open_clip)


def check_same_model(embedder: Embedder, corpus: "Corpus") -> None:
    """Raise ModelMismatchError unless ``embedder`` uses the corpus's model."""
    if not corpus.model.same_model(embedder.model_info) or embedder.dim != corpus.dim:
        raise ModelMismatchError(
            f"{corpus.root / 'corpus.json'}: the corpus was embedded with "
            f"{_describe(corpus.model)} (dim {corpus.dim}) but the embedder uses "
            f"{_describe(embedder.model_info)} (dim {embedder.dim}); phrases must be embedded "
            "with the corpus's own model")


def _describe(info: ModelInfo) -> str:
    source = info.pretrained or info.checkpoint or "no weights"
    return f"{info.name} ({source}{', sha256 ' + info.sha256[:12] if info.sha256 else ''})"


def embedder_for_corpus(corpus: "Corpus", device: str = "cpu") -> Embedder:
    """The embedder of the corpus's own model, from the family registered for its name."""
    embedder = embedder_factory(corpus.model.name)(corpus, device)
    check_same_model(embedder, corpus)
    return embedder
