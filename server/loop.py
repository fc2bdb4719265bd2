"""The server's hold on the library: one workspace, the model registry of each concept, and sessions.

Everything here is synchronous and may be slow; callers run it off the event loop.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from agile.registry import ModelRegistry, VersionInfo
from agile.training import TrainedModel
from agile.workspace import Workspace


class Loop:
    """The corpus's workspace, loaded once, plus per-concept version registries."""

    def __init__(self, corpus_path: str | Path, data_dir: str | Path, allow_random_weights: bool = False,
                 engine: str = "local", scan_actors: int | None = None):
        self.workspace = Workspace(corpus_path, data_dir, allow_random_weights=allow_random_weights, engine=engine,
                                   scan_actors=scan_actors)
        self.corpus = self.workspace.corpus
        self.index = self.workspace.index
        self.models_dir = Path(data_dir) / "models"
        self.scores_dir = Path(data_dir) / "scores"

    def prepare_scan_store(self, pin: bool = False) -> str:
        return self.workspace.prepare_scan_store(pin)

    @property
    def model_info(self) -> dict[str, Any]:
        return self.corpus.model.model_dump(mode="json")

    # -- versions ------------------------------------------------------------------------
    def registry(self, concept_id: int) -> ModelRegistry:
        return ModelRegistry(self.models_dir / f"concept-{concept_id}")

    def stored_versions(self, concept_id: int) -> list[VersionInfo]:
        """Complete versions on disk (clearing temporaries of writers that died)."""
        registry = self.registry(concept_id)
        registry.remove_stale()
        return registry.versions()

    @functools.lru_cache(maxsize=32)
    def model(self, concept_id: int, version: int) -> TrainedModel:
        """A saved version (immutable, so caching by number is safe)."""
        return self.registry(concept_id).load(version)

    def scores_path(self, concept_id: int, version: int) -> Path:
        """Where the corpus-wide scores of a version are written (Parquet)."""
        return self.scores_dir / f"concept-{concept_id}" / f"v{version:06d}.parquet"

    # -- scoring ---------------------------------------------------------------------------
    @functools.lru_cache(maxsize=4)
    def corpus_scores(self, concept_id: int, version: int) -> np.ndarray:
        """Every image's score with a version (kept: versions are immutable)."""
        return self.score_ids(self.model(concept_id, version), np.arange(self.corpus.count, dtype=np.int64))

    @functools.lru_cache(maxsize=8)
    def corpus_order(self, concept_id: int, version: int, where: str) -> np.ndarray:
        """Ids from the highest score ("top"), the lowest ("bottom") or nearest 0.5 ("threshold") on; kept,
        as paging through a browse view asks for the same order again and again."""
        scores = self.corpus_scores(concept_id, version)
        if where == "threshold":
            return np.argsort(np.abs(scores - 0.5), kind="stable")
        order = np.argsort(-scores, kind="stable")
        return order[::-1] if where == "bottom" else order

    def score_ids(self, model: TrainedModel, ids: Sequence[int]) -> np.ndarray:
        return self.workspace.score_ids(model, ids)

    @property
    def has_text(self) -> bool:
        return self.workspace.has_text

    def embed_image(self, image: Image.Image) -> np.ndarray:
        return self.workspace.embed_images([image])

    def uri(self, corpus_id: int) -> str:
        return self.corpus.uri(corpus_id)
