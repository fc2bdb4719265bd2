"""A corpus ready for labelling: its vectors, search index, embedder, scan store and URI hashes, loaded once.

Every concept of a server (or of a simulation) shares one workspace; the
per-concept loop is ``agile.session.Session``. Methods are synchronous and
may be slow; the embedder holds torch modules, so one caller at a time uses it.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from agile.corpus import Corpus
from agile.embedder import embedder_for_corpus
from agile.evaluation import StrataSpec, corpus_uri_hashes, stratified_ids
from agile.coverage import coverage_ids
from agile.expansion import draw, expand_queries, nearest_among
from agile.index import open_index
from agile.sampling import Selection, select, select_batch, select_task_batch
from agile.scan_engine import LocalScan, ScanEngineError
from agile.scan_store import ScanStore, scan_dir_for
from agile.scoring import SCAN_ROWS, resolve_kernel
from agile.strata_scan import LowestHashes
from agile.training import TrainConfig, TrainedModel, train
from agile.zeroshot import concept_text_embedding, zero_shot_scores

if TYPE_CHECKING:
    from agile.ray_scan import RayScan


class Workspace:
    """The corpus and everything derived from it that the labelling loop reads."""

    def __init__(self, corpus: Corpus | str | Path, work_dir: str | Path, allow_random_weights: bool = False,
                 engine: str = "local", scan_actors: int | None = None):
        """``engine="ray"`` runs every round's corpus-wide scan on a pool of ``scan_actors`` Ray actors
        (agile.ray_scan; default one per CPU of the cluster); the batches are those of the local engine."""
        self.corpus = corpus if isinstance(corpus, Corpus) else Corpus.open(corpus, verify="quick")
        # The embedder first: a model that cannot be used (no weights) is refused before the index loads.
        self.embedder = embedder_for_corpus(self.corpus, allow_random_weights=allow_random_weights)
        self.index = open_index(self.corpus)
        self.scan_dir = scan_dir_for(self.corpus, Path(work_dir) / "scan")  # a read-only corpus keeps it here
        self.scan_store: ScanStore | None = None
        self.engine: RayScan | None = None  # None: this process's threads
        if engine == "ray":
            from agile.ray_scan import RayScan, RayScanSettings  # ray is an optional extra

            self.engine = RayScan(self.corpus, self.scan_dir, RayScanSettings(actors=scan_actors))
        elif engine != "local":
            raise ScanEngineError(f"unknown scan engine {engine!r}; choose local or ray")
        self._embed_lock = threading.Lock()
        self._hash_lock = threading.Lock()
        self._hashes: np.ndarray | None = None

    def prepare_scan_store(self, pin: bool = False) -> str:
        """Build (if missing) and warm the int8 copy every AL round reads; say what was done.

        Done once at start so the first round neither builds the store nor
        reads it cold from disk. ``pin`` locks it in memory (see ScanStore.pin).
        """
        if self.engine is not None:  # each actor opens or builds, and warms, its own share
            self.engine.ready()
            note = f"{self.engine.actors} Ray scan actors ready, each with its share of the corpus warm"
            if pin:
                pinned = sum(self.engine.pin())
                note += f"; {pinned} of {self.engine.actors} pinned their share in memory"
            return note
        if resolve_kernel("auto") == "exact":
            return "rounds score the float16 vectors exactly (no int8 kernels in this torch build)"
        self.scan_store = ScanStore.open_or_build(self.corpus, self.scan_dir)
        self.scan_store.warm(wait=True)
        note = f"int8 scan store ready and warm ({self.scan_store.nbytes / 2**20:,.0f} MiB)"
        if pin:
            note += "; pinned in memory" if self.scan_store.pin() else "; pinning refused (memlock limit)"
        return note

    @property
    def has_text(self) -> bool:
        """Whether phrases can be embedded (False for corpora imported from a model with no text tower)."""
        return bool(getattr(self.embedder, "has_text", True))

    # -- text -----------------------------------------------------------------------
    def text_embedding(self, positives: Sequence[str]) -> np.ndarray:
        with self._embed_lock:
            return concept_text_embedding(self.embedder, list(positives))

    def embed_texts(self, phrases: Sequence[str]) -> np.ndarray:
        """float32 (n, dim) unit text embeddings with the corpus's own text tower."""
        with self._embed_lock:
            return self.embedder.embed_texts(list(phrases))

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        """(queries, k) ids of the nearest images of each query vector, best first (-1 past the corpus)."""
        _, ids = self.index.search(np.asarray(queries, dtype=np.float32), k)
        return np.asarray(ids, dtype=np.int64)

    # -- query vectors (phrases embedded, image seeds) ------------------------------------
    def neighbours_of(self, queries: np.ndarray, k: int) -> np.ndarray:
        """The ids among the ``k`` nearest images of any query vector."""
        ids = self.search(queries, k)
        return np.unique(ids[ids >= 0])

    def expand_queries(self, queries: np.ndarray, exclude: np.ndarray, per_query: int, batch_size: int,
                       seed: int) -> np.ndarray:
        """A batch drawn from the ``per_query`` nearest unrated images of every query vector."""
        return expand_queries(self.index, queries, exclude, per_query, batch_size, seed)

    def expand_among(self, queries: np.ndarray, allowed: np.ndarray, per_query: int, batch_size: int,
                     seed: int) -> np.ndarray:
        """As `expand_queries`, but only among the sorted ``allowed`` ids (exact search of that part)."""
        return draw(nearest_among(self.corpus, queries, allowed, per_query), batch_size, seed)

    def coverage(self, allowed: np.ndarray, k: int, seed: int) -> np.ndarray:
        """``k`` allowed images spread over the corpus (nearest k-means centres of a sample)."""
        return coverage_ids(self.corpus, allowed, k, seed)

    def zero_shot_scores(self, positives: Sequence[str]) -> np.ndarray:
        """Cosine of every image with the concept's text, float32 (count,)."""
        return zero_shot_scores(self.corpus, self.text_embedding(positives))

    def zero_shot_ids(self, positives: Sequence[str], ids: Sequence[int]) -> np.ndarray:
        """Cosine of the images ``ids`` with the concept's text (corpus vectors are unit length)."""
        vectors = self.corpus.vectors(np.asarray(ids, dtype=np.int64)).astype(np.float32)
        return vectors @ self.text_embedding(positives)

    # -- models -----------------------------------------------------------------------
    def train(self, ids: np.ndarray, labels: np.ndarray, config: TrainConfig) -> TrainedModel:
        return train(self.corpus, ids, labels, config)

    def select(self, model: TrainedModel, exclude: np.ndarray, k: int, strategy: str, seed: int,
               positives_in_last_batch: int | None = None, rated_positives: int | None = None,
               mix: bool = True, rated_per_class: np.ndarray | None = None,
               class_names: list[str] | None = None,
               likely_positives: Callable[[], np.ndarray | None] | None = None) -> Selection:
        """The strategy's batch over every unrated vector, with likely positives mixed in when it would
        otherwise hold almost none (``agile.sampling.select_batch``; of a task, random images while a class is
        scarce: ``select_task_batch``, given ``rated_per_class``; ``mix=False``: exactly the strategy's)."""
        if mix and rated_per_class is not None:
            return select_task_batch(self.corpus, model, k, strategy, exclude, seed, rated_per_class, class_names,
                                     scan_dir=self.scan_dir, engine=self.engine)
        if not mix:
            return Selection(select(self.corpus, model, k, strategy, exclude, seed, scan_dir=self.scan_dir,
                                    engine=self.engine), strategy, "")
        return select_batch(self.corpus, model, k=k, strategy=strategy, exclude_ids=exclude, seed=seed,
                            scan_dir=self.scan_dir, positives_in_last_batch=positives_in_last_batch,
                            rated_positives=rated_positives, engine=self.engine,
                            likely_positives=likely_positives)

    def score_ids(self, model: TrainedModel, ids: Sequence[int]) -> np.ndarray:
        return model.score_ids(self.corpus, np.asarray(ids, dtype=np.int64))

    def embed_images(self, images: list) -> np.ndarray:
        """float32 (n, dim) unit vectors of PIL images with the corpus's image model (NoImageModelError
        when it is not available here)."""
        with self._embed_lock:
            return self.embedder.embed_images(images)

    # -- evaluation sets (paper §4.2) -------------------------------------------------------
    def uri_hashes(self) -> np.ndarray:
        """uint64 SipHash-2-4 of every URI, in id order; computed on first use (~1 s a million) and kept."""
        with self._hash_lock:
            if self._hashes is None:
                self._hashes = corpus_uri_hashes(self.corpus)
            return self._hashes

    def stratified_by_model(self, model: TrainedModel, eligible: np.ndarray, spec: StrataSpec) -> np.ndarray:
        """The model's stratified set among eligible images, scoring the corpus block by block.

        Each block keeps its ``per_stratum`` lowest hashes per stratum
        (`agile.strata_scan.LowestHashes`, on this process's threads or the Ray
        actors); the set's members are among them, so one more selection over
        the kept ones gives exactly ``stratified_ids`` over the whole score
        array, in memory of one block (a 10M corpus never holds its 40 MB of
        scores per model). Scores are exact, so the strata are the ones the
        report measures.
        """
        keep = LowestHashes(spec, str(self.corpus.root), self.uri_hashes())
        engine = self.engine or LocalScan(self.scan_dir)
        found = engine.scan(self.corpus, model, keep, np.flatnonzero(~eligible), "exact", SCAN_ROWS)
        return stratified_ids(found.scores, keep.hashes_of(found.ids), found.ids, spec)

    def stratified_by_zero_shot(self, positives: Sequence[str], eligible: np.ndarray,
                                spec: StrataSpec) -> np.ndarray:
        """The stratified set of the zero-shot cosine (strata over the raw cosine)."""
        scores = self.zero_shot_scores(positives)
        ids = np.flatnonzero(eligible)
        return stratified_ids(scores[ids], self.uri_hashes()[ids], ids, spec)
