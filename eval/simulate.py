"""Simulated users (paper §5): play the owner (or a crowd) from ground truth, round by round.

For one concept and seed: score the zero-shot baseline; rate an expansion
batch; train the first model; then, for every active-learning round, let the
strategy pick a batch among the unrated images, rate it, and retrain. After
every round the whole corpus is scored and the model is measured on the fixed
held-out split (see eval.split) against the ground truth. At the end the
paper's stratified evaluation set is built over all the run's models and
measured too, so the two estimates can be compared.

The owner starts from the concept's phrases, or (``start="images"``) from
its name and a few example images (eval.starts). With the corpus's text
model withheld (``text_model=False``, eval.withheld) the owner starts from
images and no zero-shot is measured or reported; a round without a model yet
is then measured as a constant score (the concept's prevalence).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np

from agile.evaluation import StrataSpec, compute_metrics, merged_stratified_ids
from agile.scoring import score_corpus
from agile.session import Session, SessionSettings
from agile.session_store import MemoryStore
from agile.training import DEFAULT_LEARNER, OneClassError
from agile.workspace import Workspace
from agile.zeroshot import ZERO_SHOT_THRESHOLD
from eval.concepts import GroundTruthConcept
from eval.errors import EvalError
from eval.results import ConceptRunResult
from eval.split import HeldOutSplit
from eval.starts import SEED_IMAGES, STARTS, Start, example_images
from eval.users import Crowd, CrowdSpec, Owner

Rater = Literal["owner", "crowd"]


@dataclass(frozen=True)
class SimulationConfig:
    rounds: int = 5                  # active-learning rounds after the expansion round 0
    batch: int = 100                 # images rated per round (expansion included)
    strategy: str = "margin"
    seeds: int = 1
    rater: Rater = "owner"
    crowd: CrowdSpec = field(default_factory=CrowdSpec)
    heldout_fraction: float = 0.2
    per_phrase: int = 100            # raised to `batch` so one phrase can fill a batch
    random_negatives: int | None = None  # None: the library's default
    epochs: int | None = None            # None: the paper's 10
    lr: float | None = None              # None: the paper's 1e-4
    # The session's default, named (not None) so runs from before it changed are not taken for its runs.
    learner: str = DEFAULT_LEARNER       # "ensemble"; "mlp": exactly the paper's; "logreg": the simple loop
    recipe: str | None = None            # None: the session's ("fixed"); "adaptive": chosen per version (agile.recipes)
    mix_likely_positives: bool = True    # False: every AL batch is exactly the strategy's pick
    zero_shot_threshold: float = ZERO_SHOT_THRESHOLD
    bootstrap: int = 100             # resamples for 95% intervals on the (small) stratified set; 0: none
    heldout_bootstrap: int = 0       # the same on the held-out split; its intervals are narrow and costly
    per_stratum: int = 20
    # None: "text", the concept's phrases (every run from before this setting); "images": its name and
    # `seed_images` example positives (eval.starts)
    start: Start | None = None
    seed_images: int | None = None       # an image start's examples (None: eval.starts.SEED_IMAGES, 5)
    text_model: bool | None = None       # False: the corpus's text model withheld (an image start, no zero-shot)

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.batch < 1 or self.seeds < 1 or min(self.bootstrap, self.heldout_bootstrap) < 0:
            raise EvalError("rounds >= 0, batch >= 1, seeds >= 1 and bootstrap >= 0 are required")
        if self.rater not in ("owner", "crowd"):
            raise EvalError(f"unknown rater {self.rater!r}; choose owner or crowd")
        if self.start is not None and self.start not in STARTS:
            raise EvalError(f"unknown start {self.start!r}; choose {' or '.join(STARTS)}")
        if self.seed_images is not None and self.seed_images < 1:
            raise EvalError("seed_images must be at least 1")
        # Saying what is the default names the same runs as not saying it (one run key for both).
        if self.text_model is True:  # the corpus's own text model
            object.__setattr__(self, "text_model", None)
        if self.start == "text" and self.text_model is None:
            object.__setattr__(self, "start", None)
        if self.text_model is False:
            if self.start == "text":
                raise EvalError("without a text model the owner cannot type phrases: start from images")
            if self.rater == "crowd":
                raise EvalError("the crowd's notion goes by the concept's text: it needs the text model")
            object.__setattr__(self, "start", "images")  # the only start there is, named in the run key

    @property
    def image_start(self) -> bool:
        return self.start == "images"

    @property
    def example_count(self) -> int:
        return SEED_IMAGES if self.seed_images is None else self.seed_images

    def to_dict(self) -> dict:
        return asdict(self)

    def session_settings(self) -> SessionSettings:
        """The simulated owner's session cuts and trains exactly as a server's would with these settings."""
        return SessionSettings(batch_size=self.batch, per_phrase=self.per_phrase,
                               random_negatives=self.random_negatives, epochs=self.epochs, lr=self.lr,
                               learner=self.learner, mix_likely_positives=self.mix_likely_positives,
                               **({"recipe": self.recipe} if self.recipe else {}))


def _metrics(labels: np.ndarray, scores: np.ndarray, threshold: float, bootstrap: int, seed: int) -> dict | None:
    try:
        return compute_metrics(labels, scores, threshold, bootstrap, seed).to_dict()
    except EvalError:  # a single-class subset: the metrics are undefined
        return None


class ConceptRun:
    """One simulated owner (or crowd) building one concept with one seed, through a labelling session."""

    def __init__(self, workspace: Workspace, concept: GroundTruthConcept, truth: np.ndarray,
                 split: HeldOutSplit, config: SimulationConfig, seed: int):
        self.workspace, self.concept, self.split, self.config, self.seed = workspace, concept, split, config, seed
        self.truth = np.asarray(truth, dtype=bool)
        self.heldout_truth = self.truth[split.ids]
        if not self.heldout_truth.any() or self.heldout_truth.all():
            raise EvalError(f"concept {concept.name!r}: the held-out split ({len(split)} images) holds "
                            f"{int(self.heldout_truth.sum())} positives; it needs positives and negatives")
        if not workspace.has_text and not config.image_start:
            raise EvalError(f"concept {concept.name!r}: without a text model the owner starts from images")
        # Zero-shot is the suite's phrases' ranking whatever the start (a reference line); none without text.
        self.text_scores = workspace.zero_shot_scores(concept.positives) if workspace.has_text else None
        if config.rater == "crowd" and self.text_scores is None:
            raise EvalError("the crowd's notion goes by the concept's text: it needs the text model")
        self.rater = Owner(self.truth) if config.rater == "owner" else \
            Crowd(self.truth, self.text_scores, replace(config.crowd, seed=seed))
        # The held-out split is reserved: the session never offers it for rating.
        if config.image_start:  # the name alone, and a few example images of the concept
            self.seed_ids = example_images(self.truth, split, concept.name, seed, config.example_count)
            self.store = MemoryStore.create(concept.name, reserved=split.ids, seed_ids=self.seed_ids)
        else:
            self.seed_ids = np.empty(0, np.int64)
            self.store = MemoryStore.create(concept.name, concept.positives, concept.negatives, reserved=split.ids)
        # Before any model, the owner has the ranking of the phrases they typed (of an image start: the name).
        self.owner_text_scores = None if self.text_scores is None else (
            workspace.zero_shot_scores([concept.name]) if config.image_start else self.text_scores)
        self.session = Session(workspace, self.store, seed=seed, settings=config.session_settings())

    def run(self) -> dict:
        start = time.perf_counter()
        cfg = self.config
        zero_shot, model_scores = None, {}
        if self.text_scores is not None:
            zero_shot = self._heldout_metrics(self.text_scores[self.split.ids], cfg.zero_shot_threshold)
            model_scores["zero-shot"] = self.text_scores[self.split.ids]
        rounds, trained = [], None
        for r in range(cfg.rounds + 1):
            round_start = time.perf_counter()
            # Until a model exists (one class rated so far), the owner only has the phrases.
            batch = self.session.expand() if trained is None else self.session.next_batch(trained, cfg.strategy)
            self.store.rate(batch.ids, self.rater.rate(batch.ids, r))
            try:
                trained = self.session.train()
                scores, threshold, fallback = score_corpus(self.workspace.corpus, trained.model)[self.split.ids], 0.5, False
            except OneClassError:  # one class rated so far: the owner still has only the text's ranking
                trained = None
                if self.owner_text_scores is not None:
                    scores, threshold = self.owner_text_scores[self.split.ids], cfg.zero_shot_threshold
                else:  # no text either: nothing ranks the images (AUC-PR = the prevalence)
                    scores, threshold = np.full(len(self.split), 0.5, np.float32), 0.5
                fallback = True
            model_scores[f"round {r}"] = scores
            rated, positive = self.store.counts()
            sidecar = self.store.sidecar(trained.version) if trained is not None else None
            rounds.append({"round": r, "source": batch.source, "batch": len(batch.ids), "labels": rated,
                           "rated_positive": positive,
                           "batch_positive_truth": int(self.truth[batch.ids].sum()),
                           "fallback_zero_shot": fallback and self.owner_text_scores is not None,
                           "fallback_constant": fallback and self.owner_text_scores is None,
                           "metrics": self._heldout_metrics(scores, threshold),
                           "stability": sidecar.stability.model_dump() if sidecar and sidecar.stability else None,
                           "recipe": sidecar.training.get("recipe") if sidecar else None,
                           "seconds": round(time.perf_counter() - round_start, 2)})
        return ConceptRunResult.model_validate({
            "concept": _describe(self.concept), "seed": self.seed, "rater": self.rater.name,
            "prevalence": float(self.truth.mean()), "start": cfg.start or "text",
            "seed_ids": self.seed_ids.tolist(), "text_model": self.text_scores is not None,
            "heldout": {"images": len(self.split), "positives": int(self.heldout_truth.sum())},
            "zero_shot": zero_shot, "rounds": rounds, "stratified": self._stratified(model_scores),
            "seconds": round(time.perf_counter() - start, 2)}).to_json()

    def _heldout_metrics(self, scores: np.ndarray, threshold: float) -> dict:
        return compute_metrics(self.heldout_truth, scores, threshold, self.config.heldout_bootstrap,
                               self.seed).to_dict()

    def _stratified(self, model_scores: dict[str, np.ndarray]) -> dict:
        """The paper's evaluation: a SipHash-stratified set over all models, rated by the ground truth."""
        spec = StrataSpec(per_stratum=self.config.per_stratum)
        chosen = merged_stratified_ids(list(model_scores.values()), self.split.hashes, self.split.ids, spec)
        pos = np.searchsorted(self.split.ids, chosen)
        labels = self.heldout_truth[pos]
        out = {"images": len(chosen), "positives": int(labels.sum()), "models": {}}
        for name, scores in model_scores.items():
            threshold = self.config.zero_shot_threshold if name == "zero-shot" else 0.5
            out["models"][name] = _metrics(labels, scores[pos], threshold, self.config.bootstrap, self.seed)
        return out


def _describe(concept: GroundTruthConcept) -> dict:
    return {"name": concept.name, "difficulty": concept.difficulty, "description": concept.description,
            "positives": list(concept.positives), "negatives": list(concept.negatives)}
