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


class NoWeightsError(EmbedderError):
    """An open_clip model was named without a pretrained tag or checkpoint: its weights would be random."""


class NoTextModelError(EmbedderError):
    """The corpus's model has no text tower here: phrases cannot be embedded (seed with images)."""


class NoImageModelError(EmbedderError):
    """The corpus's image model is not available here: uploaded images cannot be embedded."""


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
_TEXT: dict[str, bool] = {}  # whether a registered family embeds phrases
_families_loaded = False
_families_lock = threading.Lock()


def register_embedder(model_name: str, factory: EmbedderFactory, text: bool = True) -> None:
    """Corpora whose ``corpus.json`` names ``model_name`` are embedded by ``factory(corpus, device)``;
    ``text``: whether that family embeds phrases."""
    _FACTORIES[model_name] = factory
    _TEXT[model_name] = text


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


def is_open_clip_model(name: str) -> bool:
    """Whether open_clip (with the project's own configs) knows a model of this name."""
    from agile.openclip_embedder import known_open_clip_models

    return name in known_open_clip_models()


def has_text_model(info: ModelInfo) -> bool:
    """Whether phrases can be embedded for vectors of this model: what the import recorded, else the
    family's word, else whether open_clip knows the name (an unknown name, e.g. 'efficientnet-lite0',
    'unknown' or 'dinov2-s', has no text tower)."""
    if info.text_model is not None:
        return info.text_model
    _load_families()
    if info.name in _TEXT:
        return _TEXT[info.name]
    return is_open_clip_model(info.name)


def check_weights(info: ModelInfo, allow_random_weights: bool = False) -> None:
    """Refuse an open_clip text model named without weights (NoWeightsError): it would embed with random ones.

    ``allow_random_weights`` is the explicit opt-in for benchmarks that only time the model.
    """
    _load_families()
    if info.name in _FACTORIES or not has_text_model(info) or allow_random_weights:
        return
    if not info.pretrained and not info.checkpoint:
        raise NoWeightsError(
            f"open_clip model {info.name!r} is named without a pretrained tag or checkpoint, so its text "
            "tower would have random weights and phrases would find arbitrary images. Give its weights "
            "(--pretrained TAG or --checkpoint FILE), or import the vectors with --no-text-model to label "
            "with image seeds only (benchmarks may opt in with allow_random_weights)")


class ImageVectorsOnly:
    """The embedder of a corpus whose model has no text tower here: it embeds nothing, and says why."""

    has_text = False

    def __init__(self, model_info: ModelInfo, dim: int):
        self.model_info, self.dim = model_info, dim

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NoTextModelError(f"the corpus's model {self.model_info.name!r} has no text model here: phrases "
                               "cannot be embedded; seed the concept with example images instead")

    def embed_images(self, images: Sequence["Image"]) -> np.ndarray:
        raise NoImageModelError(f"the corpus's image model {self.model_info.name!r} is not available here, so "
                                "uploaded images cannot be embedded; seed with images of the corpus (their ids)")


def _open_clip(corpus: "Corpus", device: str, allow_random_weights: bool = False) -> Embedder:
    from agile.openclip_embedder import OpenClipEmbedder

    return OpenClipEmbedder.from_model_info(corpus.model, device=device, allow_random_weights=allow_random_weights)


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


def embedder_for_corpus(corpus: "Corpus", device: str = "cpu", allow_random_weights: bool = False) -> Embedder:
    """The embedder of the corpus's own model, from the family registered for its name.

    A corpus without a text model gets an `ImageVectorsOnly` (its vectors are all there is); an
    open_clip model without weights is refused (`check_weights`) unless ``allow_random_weights``.
    """
    _load_families()
    if corpus.model.name in _FACTORIES:
        embedder = _FACTORIES[corpus.model.name](corpus, device)
    elif not has_text_model(corpus.model):
        return ImageVectorsOnly(corpus.model, corpus.dim)
    else:
        check_weights(corpus.model, allow_random_weights)
        embedder = _open_clip(corpus, device, allow_random_weights)
    check_same_model(embedder, corpus)
    return embedder
