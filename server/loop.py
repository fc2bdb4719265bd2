"""The one place the server calls the agile library: corpus, index, embedder,
concepts, expansion, training, sampling and the model registry; and the
evaluation package (stratified sets, URI hashes, metrics).

Everything here is synchronous and may be slow; callers run it off the event loop.
"""
from __future__ import annotations

import functools
import io
import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image
from sklearn.metrics import accuracy_score, average_precision_score

from agile.concept import Concept
from agile.corpus import Corpus
from agile.demo import render_uri
from agile.embedder import embedder_for_corpus
from agile.expansion import expand
from agile.index import open_index
from agile.registry import ModelRegistry, VersionInfo, label_snapshot
from agile.sampling import STRATEGIES, select
from agile.scan_store import ScanStore, scan_dir_for
from agile.scoring import map_blocks, resolve_kernel
from agile.training import TrainConfig, TrainedModel, train
from agile.zeroshot import ZERO_SHOT_THRESHOLD, concept_text_embedding, zero_shot_scores
from eval.hashing import corpus_uri_hashes
from eval.metrics import Metrics, compute_metrics
from eval.stratified import StrataSpec, stratified_ids

STRATEGY_NAMES = tuple(STRATEGIES)
ZERO_SHOT = "zero-shot"


def validate_phrases(name: str, positives: Sequence[str], negatives: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """Cleaned (name, positives with the name first, negatives); raises ConceptError."""
    concept = Concept.create(name, positives, negatives)
    return concept.name, concept.positives, concept.negatives


def fit_metrics(model: TrainedModel, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How well the model fits the rated images it was trained on (in-sample, optimistic)."""
    truth = labels > 0.5
    return {"rated_auc_pr": round(float(average_precision_score(truth, scores)), 4),
            "rated_accuracy": round(float(accuracy_score(truth, scores > 0.5)), 4)}


class Loop:
    """The corpus, its search index and embedder, loaded once, plus per-concept registries."""

    def __init__(self, corpus_path: str | Path, data_dir: str | Path, random_negatives: int | None = None):
        self.corpus = Corpus.open(corpus_path, verify="quick")
        self.index = open_index(self.corpus)
        self.embedder = embedder_for_corpus(self.corpus)
        self.models_dir = Path(data_dir) / "models"
        self.scan_dir = scan_dir_for(self.corpus, Path(data_dir) / "scan")
        self.train_overrides = {} if random_negatives is None else {"random_negatives": random_negatives}
        self._embed_lock = threading.Lock()  # embedders hold torch modules; one caller at a time
        self.scan_store: ScanStore | None = None
        self._hashes: np.ndarray | None = None
        self._hash_lock = threading.Lock()

    def prepare_scan_store(self, pin: bool = False) -> str:
        """Build (if missing) and warm the int8 copy every AL round reads; say what was done.

        Done once at start so the first round neither builds the store nor
        reads it cold from disk. ``pin`` locks it in memory (see ScanStore.pin).
        """
        if resolve_kernel("auto") == "exact":
            return "rounds score the float16 vectors exactly (no int8 kernels in this torch build)"
        self.scan_store = ScanStore.open_or_build(self.corpus, self.scan_dir)
        self.scan_store.warm(wait=True)
        note = f"int8 scan store ready and warm ({self.scan_store.nbytes / 2**20:,.0f} MiB)"
        if pin:
            note += "; pinned in memory" if self.scan_store.pin() else "; pinning refused (memlock limit)"
        return note

    @property
    def model_info(self) -> dict[str, Any]:
        return self.corpus.model.model_dump(mode="json")

    # -- the loop ------------------------------------------------------------------
    def expansion(self, positives: Sequence[str], negatives: Sequence[str], exclude: np.ndarray,
                  per_phrase: int, batch_size: int, seed: int) -> np.ndarray:
        with self._embed_lock:
            return expand(self.index, self.embedder, positives, negatives, exclude_ids=exclude,
                          per_phrase=per_phrase, batch_size=batch_size, seed=seed)

    def train(self, ids: np.ndarray, labels: np.ndarray, round_index: int, seed: int) -> TrainedModel:
        return train(self.corpus, ids, labels, TrainConfig.for_round(round_index, seed=seed,
                                                                              **self.train_overrides))

    def next_batch(self, model: TrainedModel, exclude: np.ndarray, k: int, strategy: str, seed: int) -> np.ndarray:
        return select(self.corpus, model, k=k, strategy=strategy, exclude_ids=exclude, seed=seed,
                      scan_dir=self.scan_dir)

    @staticmethod
    def label_snapshot(ids: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        """Hash and counts of the exact ratings a version is trained on."""
        return label_snapshot(ids, labels)

    def metrics(self, model: TrainedModel, ids: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        return fit_metrics(model, model.score_ids(self.corpus, ids), labels)

    def training_summary(self, model: TrainedModel) -> dict[str, Any]:
        return {"config": model.config.to_dict(), "stats": model.stats.to_dict() if model.stats else None}

    # -- versions ------------------------------------------------------------------------
    def registry(self, concept_id: int) -> ModelRegistry:
        return ModelRegistry(self.models_dir / f"concept-{concept_id}")

    def save_version(self, concept_id: int, model: TrainedModel, sidecar: dict[str, Any]) -> VersionInfo:
        return self.registry(concept_id).save(model, sidecar)

    def stored_versions(self, concept_id: int) -> list[VersionInfo]:
        """Complete versions on disk (clearing temporaries of writers that died)."""
        registry = self.registry(concept_id)
        registry.remove_stale()
        return registry.versions()

    @functools.lru_cache(maxsize=32)
    def model(self, concept_id: int, version: int) -> TrainedModel:
        """A saved version (immutable, so caching by number is safe)."""
        return self.registry(concept_id).load(version)

    # -- scoring ---------------------------------------------------------------------------
    def score_ids(self, model: TrainedModel, ids: Sequence[int]) -> np.ndarray:
        return model.score_ids(self.corpus, np.asarray(ids, dtype=np.int64))

    def score_vectors(self, model: TrainedModel, vectors: np.ndarray) -> np.ndarray:
        return model.score_vectors(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12))

    def embed_image(self, image: Image.Image) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed_images([image])

    def uri(self, corpus_id: int) -> str:
        return self.corpus.uri(corpus_id)

    # -- evaluation sets (paper §4.2) ----------------------------------------------------------
    def uri_hashes(self) -> np.ndarray:
        """uint64 SipHash-2-4 of every URI, in id order; computed on first use (~1 s a million) and kept."""
        with self._hash_lock:
            if self._hashes is None:
                self._hashes = corpus_uri_hashes(self.corpus)
            return self._hashes

    def eligible_for_evaluation(self, training_ids: np.ndarray) -> np.ndarray:
        """Boolean mask over the corpus: every image never put in a training batch."""
        mask = np.ones(self.corpus.count, dtype=bool)
        mask[np.asarray(training_ids, dtype=np.int64)] = False
        return mask

    def stratified_by_model(self, model: TrainedModel, eligible: np.ndarray, spec: StrataSpec) -> np.ndarray:
        """The model's stratified set among eligible images, scoring the corpus block by block.

        Each block keeps its ``per_stratum`` lowest hashes per stratum; the set's
        members are among them, so a second pass over the kept ones gives exactly
        ``stratified_ids`` over the whole score array, in memory of one block
        (a 10M corpus never holds its 40 MB of scores per model).
        """
        hashes = self.uri_hashes()

        def keep_candidates(first: int, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ids = np.arange(first, first + len(scores), dtype=np.int64)
            ok = eligible[first:first + len(scores)]
            chosen = stratified_ids(scores[ok], hashes[ids[ok]], ids[ok], spec)
            return chosen, scores[chosen - first]

        parts = list(map_blocks(keep_candidates, self.corpus, model, kernel="exact"))
        ids = np.concatenate([p[0] for p in parts])
        scores = np.concatenate([p[1] for p in parts])
        return stratified_ids(scores, hashes[ids], ids, spec)

    def stratified_by_zero_shot(self, positives: Sequence[str], eligible: np.ndarray,
                                spec: StrataSpec) -> np.ndarray:
        """The stratified set of the zero-shot cosine (strata over the cosine, as eval.simulate does)."""
        scores = zero_shot_scores(self.corpus, self._text_embedding(positives))
        ids = np.flatnonzero(eligible)
        return stratified_ids(scores[ids], self.uri_hashes()[ids], ids, spec)

    def zero_shot_ids(self, positives: Sequence[str], ids: Sequence[int]) -> np.ndarray:
        """Cosine of the images ``ids`` with the concept's text (corpus vectors are unit length)."""
        vectors = self.corpus.vectors(np.asarray(ids, dtype=np.int64)).astype(np.float32)
        return vectors @ self._text_embedding(positives)

    def _text_embedding(self, positives: Sequence[str]) -> np.ndarray:
        with self._embed_lock:
            return concept_text_embedding(self.embedder, list(positives))

    @staticmethod
    def threshold(zero_shot: bool) -> float:
        """Where F1 and accuracy cut: 0.5 for probabilities, the library's cosine threshold for zero-shot."""
        return ZERO_SHOT_THRESHOLD if zero_shot else 0.5

    def evaluation_metrics(self, labels: np.ndarray, scores: np.ndarray, zero_shot: bool, bootstrap: int) -> Metrics:
        """AUC-PR, AUC-ROC, F1 and accuracy with bootstrap 95% intervals (a fixed seed, so a reload
        shows the same numbers); raises EvalError unless both classes are among ``labels``."""
        return compute_metrics(labels, scores, self.threshold(zero_shot), bootstrap=bootstrap, seed=0)


@functools.lru_cache(maxsize=1024)
def render_demo_png(uri: str) -> bytes:
    """The demo-world scene behind a ``demo://seed/index`` uri, as PNG bytes."""
    out = io.BytesIO()
    render_uri(uri).save(out, format="PNG")
    return out.getvalue()
