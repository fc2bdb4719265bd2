"""The labelling session: one concept's loop over a workspace (expand, train, next batch, evaluate).

The server's jobs and the simulated users both drive this class, so a real
owner and a simulated one run the same code. Its rules, written once:

- **Seeds**: a session has one seed (the server: the concept id; the
  simulator: the run's seed). Training uses it as is; the batch of round r
  is drawn with ``seed * 1000 + r``.
- **Rounds**: a training batch belongs to a round (expansion is round 0;
  each later training batch the next). A model is trained with the recipe
  of the latest round its ratings come from: 1 x 16 on round 0's ratings
  alone, 3 x 128 once a later round's are among them
  (``TrainConfig.for_round``), however often it is retrained. With the
  adaptive recipe, each version's learner is chosen among a few candidates
  by cross-validation on its ratings (`agile.recipes`) and recorded.
- **Evaluation images** (the store's reserved ids) are never offered for
  training, and images of a training batch never enter an evaluation set.
- **Queries**: expansion searches with every phrase (when the corpus has a
  text model) and every image seed alike; a concept with neither (a corpus
  without a text model, no seeds yet) gets a coverage batch instead.
- **Zero-shot** exists only where phrases can be embedded: on a corpus
  without a text model no evaluation set or report names it.
- **Candidates**: a concept's candidate filter limits where expansion,
  active learning and evaluation sets look; the session excludes the rest
  itself.
- **Tasks** (agile.task): a concept with categories is rated by class; its
  models are the paper's MLP with a softmax (never the ensemble or an
  adaptive choice), while a class is rated too little half its batch is
  drawn at random (as a binary concept short of positives mixes in likely
  ones), its evaluation sets are stratified on every class's probability
  (with fewer images per stratum, so a set stays about the size of a binary
  one) and name no zero-shot model.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from agile.crossval import cross_validated_auc_pr
from agile.errors import AgileError, EvalError
from agile.evaluation import Metrics, StrataSpec, TaskMetrics, compute_metrics, compute_task_metrics
from agile.recipes import CANDIDATES, RECIPES, RecipeChoice, choose_recipe
from agile.registry import label_snapshot
from agile.sampling import TASK_STRATEGIES, UnknownStrategyError
from agile.seeds import ImageSeeds
from agile.session_store import EVALUATION, TRAINING, Batch, Labels, SessionStore
from agile.sidecar import ConceptRef, CorpusRef, LabelSnapshot, Stability, VersionSidecar
from agile.stability import fixed_sample, stability
from agile.task import Task
from agile.training import DEFAULT_LEARNER, TrainConfig, TrainedModel
from agile.workspace import Workspace
from agile.zeroshot import ZERO_SHOT_THRESHOLD

ZERO_SHOT = "zero-shot"
NEAR_QUERIES = 64  # rated positives whose neighbours a batch short of positives mixes in
Progress = Callable[[float, str], None]


def _quiet(_: float, __: str) -> None:
    pass


class NothingToOfferError(AgileError):
    """Every image a step could offer is already rated or kept for evaluation."""


@dataclass(frozen=True)
class SessionSettings:
    """How a session cuts and trains; the defaults are the paper's, but for the learner (the paper's MLP
    ensembled with a logistic regression on the rated images, which measured better)."""
    batch_size: int = 100
    per_phrase: int = 100            # raised to batch_size, so one phrase can fill a batch
    random_negatives: int | None = None  # None: the library's default
    epochs: int | None = None            # None: the paper's 10
    lr: float | None = None              # None: the paper's 1e-4
    learner: str = DEFAULT_LEARNER       # "mlp": exactly the paper's recipe; "logreg": the simple loop, for
                                         # comparison; "ensemble": the mean logit of the two (agile.training)
    recipe: str = "fixed"                # "adaptive": each version's learner chosen by cross-validation
                                         # among agile.recipes.CANDIDATES
    eval_versions: int = 3           # an evaluation set stratifies over this many latest versions
    eval_per_stratum: int = 20
    cross_validate: bool = False     # record a k-fold AUC-PR on the rated images with each version
    mix_likely_positives: bool = True  # a batch likely to hold almost no positives gets top scores mixed in

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise AgileError(f"unknown recipe {self.recipe!r}; choose one of {', '.join(RECIPES)}")

    @property
    def train_overrides(self) -> dict:
        """Training settings that differ from the library's defaults."""
        chosen = {"random_negatives": self.random_negatives, "epochs": self.epochs, "lr": self.lr,
                  "learner": None if self.learner == "mlp" else self.learner}
        return {name: value for name, value in chosen.items() if value is not None}


@dataclass(frozen=True)
class TrainedVersion:
    version: int
    model: TrainedModel
    round: int
    labels: int
    ratings: Labels | None = field(default=None, compare=False, repr=False)  # what it was trained on


@dataclass(frozen=True)
class EvaluationSet:
    batch: Batch
    models: list[str]              # the models whose strata it holds ("v3", ..., "zero-shot")
    already_rated: int
    spec: StrataSpec


@dataclass(frozen=True)
class ModelResult:
    model: str                     # "v3" or "zero-shot"
    version: int | None
    threshold: float | None        # None for a task's model: an image is of its likeliest class
    metrics: Metrics | TaskMetrics | None


@dataclass(frozen=True)
class EvaluationResult:
    total: int                     # images in the concept's evaluation sets
    rated: int
    rated_positive: int
    ready: bool                    # metrics could be computed
    message: str
    models: list[ModelResult] = field(default_factory=list)


def threshold_for(zero_shot: bool) -> float:
    """Where F1 and accuracy cut: 0.5 for probabilities, the library's cosine threshold for zero-shot."""
    return ZERO_SHOT_THRESHOLD if zero_shot else 0.5


class Session:
    def __init__(self, workspace: Workspace, store: SessionStore, seed: int,
                 settings: SessionSettings = SessionSettings(), job_id: int | None = None):
        self.workspace, self.store, self.seed, self.settings = workspace, store, int(seed), settings
        self.job_id = job_id

    # -- the rules ------------------------------------------------------------------------
    def batch_seed(self, round_: int) -> int:
        return self.seed * 1000 + round_

    def next_round(self) -> int:
        latest = self.store.latest_round()
        return 0 if latest is None else latest + 1

    def training_round(self, labels: Labels | None = None) -> int:
        """The round whose recipe the next model uses: the latest round of its training ratings."""
        labels = self.store.labels(TRAINING) if labels is None else labels
        return int(labels.rounds.max()) if len(labels.rounds) else 0

    def not_to_offer(self) -> np.ndarray:
        """Ids a training batch must skip: rated for training, answered "can't tell", or kept for evaluation."""
        return np.union1d(self._answered(), self.store.reserved_ids())

    def _answered(self) -> np.ndarray:
        """Training images the owner has answered, including "can't tell" (never offered again)."""
        return np.union1d(self.store.labels(TRAINING).ids, self.store.skipped_ids())

    def allowed(self) -> np.ndarray | None:
        """Sorted ids the concept's candidate filter lets batches come from; None without a filter."""
        candidates = self.store.concept().candidates
        return None if candidates is None else np.flatnonzero(candidates.mask(self.workspace.corpus))

    def queries(self) -> tuple[np.ndarray, str]:
        """The expansion queries, float32 (q, dim): every phrase's text embedding (where the corpus has a
        text model), then every image seed's vector; and what they are, in words."""
        concept = self.store.concept()
        text = concept.task.phrases if concept.task is not None else [*concept.positives, *concept.negatives]
        phrases = text if self.workspace.has_text else []
        seeds = concept.seeds
        if concept.task is not None:  # every category's seeds too
            seeds = ImageSeeds(np.union1d(seeds.ids, concept.task.seed_ids), seeds.vectors)
        seeds = seeds.query_vectors(self.workspace.corpus)
        parts = [self.workspace.embed_texts(phrases)] if phrases else []
        what = [f"{len(phrases)} phrases"] if phrases else []
        if len(seeds):
            parts.append(seeds)
            what.append(f"{len(seeds)} image seeds")
        queries = np.concatenate(parts) if parts else np.empty((0, self.workspace.corpus.dim), np.float32)
        return queries, " and ".join(what)

    # -- the steps ------------------------------------------------------------------------
    def expand(self, progress: Progress = _quiet, coverage: bool = False) -> Batch:
        """A batch drawn from the nearest unrated images of every phrase and image seed; a coverage batch
        (`agile.coverage`) when asked, or when the concept has nothing to search with."""
        queries, what = self.queries()
        if coverage or len(queries) == 0:
            return self.coverage_batch(progress)
        per_phrase = max(self.settings.per_phrase, self.settings.batch_size)
        rated = self._answered()
        round_ = self.next_round()
        progress(10, f"finding the nearest images to {what}")
        allowed = self.allowed()
        if allowed is None:
            exclude = np.union1d(rated, self._reserved_near(queries, rated, per_phrase))
            ids = self.workspace.expand_queries(queries, exclude, per_phrase, self.settings.batch_size,
                                                seed=self.batch_seed(round_))
        else:
            ids = self.workspace.expand_among(queries, np.setdiff1d(allowed, self.not_to_offer()), per_phrase,
                                              self.settings.batch_size, seed=self.batch_seed(round_))
        if len(ids) == 0:
            raise NothingToOfferError(f"every image near these {what} is already rated; add or change them")
        return self._add_batch(round_, "expansion", None, ids)

    def coverage_batch(self, progress: Progress = _quiet) -> Batch:
        """A batch spread over the (allowed, unrated) corpus, so the owner sees its variety."""
        round_ = self.next_round()
        allowed = self.allowed()
        pool = np.arange(self.workspace.corpus.count, dtype=np.int64) if allowed is None else allowed
        pool = np.setdiff1d(pool, self.not_to_offer(), assume_unique=True)
        if len(pool) == 0:
            raise NothingToOfferError("every image the concept may use is already rated or kept for evaluation")
        progress(10, f"clustering a sample of {len(pool):,} images for a batch that covers the corpus")
        ids = self.workspace.coverage(pool, self.settings.batch_size, seed=self.batch_seed(round_))
        return self._add_batch(round_, "coverage", None, ids,
                               note="drawn for coverage: the images nearest k-means centres of the corpus")

    def train(self, progress: Progress = _quiet, done_percent: float = 90) -> TrainedVersion:
        """A new version on every training rating so far; raises OneClassError with one class only."""
        labels = self.store.labels(TRAINING)
        round_ = self.training_round(labels)
        task = self.store.concept().task
        choice = None
        if task is not None:  # the paper's MLP with a softmax over the task's classes
            overrides = {k: v for k, v in self.settings.train_overrides.items() if k != "learner"}
            config = TrainConfig.for_round(round_, seed=self.seed, classes=len(task.classes),
                                           none_class=task.none_class, **overrides)
        elif self.settings.recipe == "adaptive":
            progress(3, f"comparing {len(CANDIDATES)} recipes by cross-validation on {len(labels.ids)} ratings")
            choice = choose_recipe(self.workspace, labels.ids, labels.labels, round_, self.seed,
                                   self.settings.train_overrides)
            config = choice.config
        else:
            config = TrainConfig.for_round(round_, seed=self.seed, **self.settings.train_overrides)
        progress(5, f"training on {len(labels.ids)} ratings")
        model = self.workspace.train(labels.ids, labels.labels, config)
        progress(done_percent * 0.7, "measuring the new model on the rated images")
        version = self.store.save_version(model, self._sidecar(model, labels, round_, choice))
        progress(done_percent, f"model version {version} saved")
        return TrainedVersion(version, model, round_, len(labels.ids), labels)

    def cross_validate(self, trained: TrainedVersion) -> dict[str, float] | None:
        """A k-fold AUC-PR of the version's recipe on its own ratings, added to its sidecar's metrics.

        Several refits, so a few times a training's cost: the server runs it
        after the round's batch is out (`SessionSettings.cross_validate`),
        not between the owner's Enter and the next batch. None when switched
        off, for a version resumed without its ratings, or too few ratings.
        """
        if not self.settings.cross_validate or trained.ratings is None or trained.model.classes > 1:
            return None
        cv = cross_validated_auc_pr(self.workspace, trained.ratings.ids, trained.ratings.labels,
                                    trained.model.config, seed=self.seed)
        if cv is None:
            return None
        metrics = {"cv_auc_pr": round(cv.auc_pr, 4), "cv_auc_pr_low": round(cv.low, 4),
                   "cv_auc_pr_high": round(cv.high, 4), "cv_folds": cv.folds}
        self.store.add_metrics(trained.version, metrics)
        return metrics

    def trained(self, version: int) -> TrainedVersion:
        """A stored version as the step that trained it returned it (to resume a cut-short round)."""
        sidecar = self.store.sidecar(version)
        return TrainedVersion(version, self.store.model(version), sidecar.round or 0, sidecar.labels.count)

    def next_batch(self, trained: TrainedVersion, strategy: str = "margin",
                   progress: Progress = _quiet) -> Batch:
        """The next training batch, chosen by ``strategy`` over every unrated image of the corpus."""
        round_ = self.next_round()
        task = self.store.concept().task
        if task is not None and strategy not in TASK_STRATEGIES:
            raise UnknownStrategyError(f"a task's batches are chosen by {', '.join(sorted(TASK_STRATEGIES))}, "
                                       f"not {strategy!r}")
        progress(60, f"scoring {self.workspace.corpus.count:,} images with version {trained.version} "
                     f"({strategy} sampling)")
        labels = self.store.labels(TRAINING)
        latest = labels.rounds == labels.rounds.max() if len(labels.rounds) else labels.rounds.astype(bool)
        exclude = self.not_to_offer()
        allowed = self.allowed()
        if allowed is not None:  # the filter's complement, built here so no caller ever lists it
            exclude = np.union1d(exclude, np.setdiff1d(np.arange(self.workspace.corpus.count), allowed,
                                                       assume_unique=True))
        per_class = None if task is None else np.bincount(labels.labels.astype(np.int64), minlength=len(task.classes))
        # searched only if the batch is mixed: without an index it is a pass over every vector
        near = None if task is not None or allowed is not None or not self.settings.mix_likely_positives else \
            functools.partial(self._near_positives, labels, round_)
        chosen = self.workspace.select(trained.model, exclude, self.settings.batch_size, strategy,
                                       seed=self.batch_seed(round_),
                                       positives_in_last_batch=int(labels.labels[latest].sum()),
                                       rated_positives=int(labels.labels.sum()),
                                       mix=self.settings.mix_likely_positives, rated_per_class=per_class,
                                       class_names=task.classes if task else None, likely_positives=near)
        # The batch records how it was chosen: "margin+mined" when the model's top scores were mixed in.
        notes = [chosen.note] if chosen.note else []
        stats = trained.model.stats
        if stats is not None and stats.negatives == 0:
            notes.append(f"version {trained.version} had no rated negatives: {stats.random_negatives:,} random "
                         "unrated images stood in as negatives, so rate this batch's negatives carefully")
        return self._add_batch(round_, chosen.strategy, trained.version, chosen.ids, note=" ".join(notes))

    def round(self, strategy: str = "margin", progress: Progress = _quiet) -> tuple[TrainedVersion, Batch]:
        """Train a new version, then let it choose the next batch from the whole corpus.

        Cross-validation (when on) is left to the caller, once the batch is out.
        """
        trained = self.train(progress, done_percent=50)
        return trained, self.next_batch(trained, strategy, progress)

    def evaluation_set(self, progress: Progress = _quiet) -> EvaluationSet:
        """The paper's stratified set over the latest versions and the zero-shot ranking, as a batch.

        Only the latest ``eval_versions`` versions shape the set: each adds up to
        strata x per_stratum images to rate, and the owner is choosing among the
        recent ones. Every version is still measured on the whole set.
        """
        concept = self.store.concept()
        versions = self.store.versions()[-self.settings.eval_versions:]
        spec = StrataSpec(per_stratum=self.settings.eval_per_stratum)
        if concept.task is not None:  # a set per class: fewer per stratum, so the owner rates about as many
            spec = StrataSpec(per_stratum=max(1, round(spec.per_stratum / len(concept.task.classes))))
        # Images of any training batch, rated or not, stay out: a set must never hold training data.
        eligible = np.ones(self.workspace.corpus.count, dtype=bool)
        eligible[self.store.batch_ids(TRAINING)] = False
        if concept.candidates is not None:  # the models are measured where the concept is to be used
            eligible &= concept.candidates.mask(self.workspace.corpus)
        count = self.workspace.corpus.count
        progress(2, f"hashing the URIs of {count:,} images")
        self.workspace.uri_hashes()
        sets, names = [], []
        for i, version in enumerate(versions):
            progress(5 + 85 * i / (len(versions) + 1), f"scoring {count:,} images with version {version}")
            sets.append(self.workspace.stratified_by_model(self.store.model(version), eligible, spec))
            names.append(f"v{version}")
        if self.workspace.has_text and concept.task is None:  # else the strata come from the versions only
            progress(5 + 85 * len(versions) / (len(versions) + 1), "scoring every image with the concept's text")
            sets.append(self.workspace.stratified_by_zero_shot(concept.positives, eligible, spec))
            names.append(ZERO_SHOT)
        if not sets:
            raise NothingToOfferError("an evaluation set is stratified on model scores, and this corpus has no "
                                      "text model for a zero-shot ranking: train a version first")
        ids = np.unique(np.concatenate(sets))  # merged over models, each equally (merged_stratified_ids)
        if len(ids) == 0:
            raise NothingToOfferError("every image is already in a training batch; nothing is left to evaluate on")
        latest = versions[-1] if versions else None
        batch = self._add_batch(self.store.latest_round() or 0, "evaluation", latest, ids, EVALUATION)
        already = len(np.intersect1d(ids, self.store.labels(EVALUATION).ids))
        return EvaluationSet(batch, names, already, spec)

    def evaluate(self, bootstrap: int = 100) -> EvaluationResult:
        """Every version and zero-shot on the rated evaluation images, with bootstrap 95% intervals
        (a fixed seed, so a reload shows the same numbers)."""
        labels = self.store.labels(EVALUATION)
        in_sets = self.store.batch_ids(EVALUATION)
        total = len(in_sets)
        skipped = len(np.intersect1d(in_sets, self.store.skipped_ids(), assume_unique=True))
        task = self.store.concept().task
        if task is not None:
            return self._evaluate_task(task, labels, total, skipped, bootstrap)
        rated, positive = len(labels.ids), int(labels.labels.sum())
        message, ready = _evaluation_status(total, rated, positive, skipped)
        truth = labels.labels > 0.5
        results = []
        for version in [*self.store.versions(), *([None] if self.workspace.has_text else [])]:
            zero_shot = version is None
            metrics = None
            if ready:
                scores = (self.workspace.zero_shot_ids(self.store.concept().positives, labels.ids) if zero_shot
                          else self.workspace.score_ids(self.store.model(version), labels.ids))
                metrics = compute_metrics(truth, scores, threshold_for(zero_shot), bootstrap=bootstrap, seed=0)
            results.append(ModelResult(ZERO_SHOT if zero_shot else f"v{version}", version,
                                       threshold_for(zero_shot), metrics))
        return EvaluationResult(total, rated, positive, ready, message, results)

    def _evaluate_task(self, task: Task, labels: Labels, total: int, skipped: int, bootstrap: int
                       ) -> EvaluationResult:
        """Every version of a task on its rated evaluation images: per-class AUC-PR, macro F1, confusion."""
        rated = len(labels.ids)
        none = -1 if task.none_class is None else task.none_class
        in_category = int(np.count_nonzero(labels.labels != none))
        message, ready = _evaluation_status(total, rated, in_category, skipped, len(np.unique(labels.labels)))
        results = []
        for version in self.store.versions():
            metrics = None
            if ready:
                probabilities = self.workspace.score_ids(self.store.model(version), labels.ids)
                metrics = compute_task_metrics(labels.labels, probabilities, task.classes, bootstrap, seed=0)
            results.append(ModelResult(f"v{version}", version, None, metrics))
        return EvaluationResult(total, rated, in_category, ready, message, results)

    # -- helpers ---------------------------------------------------------------------------------
    def _add_batch(self, round_: int, source: str, version: int | None, ids: np.ndarray,
                   purpose: str = TRAINING, note: str = "") -> Batch:
        ids = np.asarray(ids, dtype=np.int64)
        batch_id = self.store.add_batch(round_, source, version, ids.tolist(), purpose, note)
        return Batch(batch_id, round_, source, version, ids, purpose, note)

    def _near_positives(self, labels: Labels, round_: int) -> np.ndarray | None:
        """Unrated images nearest the rated positives (of at most NEAR_QUERIES of them, drawn with the round's
        seed): the likely positives a batch short of positives mixes in (agile.sampling.select_batch).

        An early model's highest scores generalise from a handful of positives
        and may hold none of a concept the embedding barely separates (four
        stars, one star on plain white); the positives' own neighbours are
        the owner's examples, taken literally."""
        positives = labels.ids[labels.labels > 0.5]
        if len(positives) == 0:
            return None
        rng = np.random.default_rng(self.batch_seed(round_))
        queries = self.workspace.corpus.vectors(np.sort(rng.choice(positives, min(len(positives), NEAR_QUERIES),
                                                                   replace=False))).astype(np.float32)
        half = self.settings.batch_size // 2
        per = -(-half // len(queries))
        rated = self._answered()
        exclude = np.union1d(rated, self._reserved_near(queries, rated, per))
        return self.workspace.expand_queries(queries, exclude, per, half, seed=self.batch_seed(round_))

    def _reserved_near(self, queries: np.ndarray, rated: np.ndarray, per_phrase: int) -> np.ndarray:
        """Reserved ids among the neighbours expansion will look at, so it can skip them.

        Expansion searches ``per_phrase + len(exclude)`` neighbours per phrase;
        grow the search until every reserved id within that depth is known
        (excluding all reserved ids would deepen every search by their number).
        """
        reserved = self.store.reserved_ids()
        if len(reserved) == 0:
            return reserved
        k = per_phrase + len(rated)
        while True:
            near = np.intersect1d(reserved, self.workspace.neighbours_of(queries, k), assume_unique=True)
            need = min(per_phrase + len(rated) + len(near), self.workspace.corpus.count)
            if need <= k:
                return near
            k = need

    def _stability(self, model: TrainedModel, previous: int) -> Stability:
        """How much the new model changed the fixed sample's labels from version ``previous``."""
        return stability(fixed_sample(self.workspace.corpus), model, self.store.model(previous), previous,
                         self.store.sidecar(previous).stability)

    def _sidecar(self, model: TrainedModel, labels: Labels, round_: int,
                 choice: RecipeChoice | None = None) -> VersionSidecar:
        concept = self.store.concept()
        previous = self.store.versions()
        task = concept.task
        return VersionSidecar(
            concept=ConceptRef(id=concept.id, name=concept.name, positives=concept.positives,
                               negatives=concept.negatives, classes=task.classes if task else []),
            parent_version=previous[-1] if previous else None, job_id=self.job_id, round=round_,
            labels=LabelSnapshot(count=len(labels.ids), rounds=sorted({int(r) for r in labels.rounds}),
                                 **label_snapshot(labels.ids, labels.labels, model.config.none_class,
                                                  model.classes)),
            embedding_model=self.workspace.corpus.model.model_dump(mode="json"),
            corpus=CorpusRef(path=str(self.workspace.corpus.root), count=self.workspace.corpus.count),
            training={"config": model.config.to_dict(), "stats": model.stats.to_dict() if model.stats else None,
                      **({"recipe": choice.to_dict()} if choice is not None else {})},
            metrics=self._fit_metrics(model, labels, task),
            stability=self._stability(model, previous[-1]) if previous else None)


    def _fit_metrics(self, model: TrainedModel, labels: Labels, task: Task | None) -> dict[str, float]:
        """How well the model fits the rated images it was trained on (in-sample, so optimistic); not
        measurable on ratings of one class (all positive: random negatives stood in for the rated ones)."""
        scores = self.workspace.score_ids(model, labels.ids)
        try:
            if task is not None:
                fit = compute_task_metrics(labels.labels, scores, task.classes)
                return {"rated_auc_pr": round(fit.macro_auc_pr, 4), "rated_accuracy": round(fit.accuracy, 4)}
            fit = compute_metrics(labels.labels > 0.5, scores, 0.5)
        except EvalError:
            return {}
        return {"rated_auc_pr": round(fit.auc_pr, 4), "rated_accuracy": round(fit.accuracy, 4)}


def _evaluation_status(total: int, rated: int, positive: int, skipped: int = 0,
                       classes: int | None = None) -> tuple[str, bool]:
    """What the owner is told, and whether metrics can be computed ("can't tell" answers measure nothing).

    ``classes``: of a task, how many of its classes the rated images hold (``positive``: how many are
    in a category); its metrics compare classes, so two are needed.
    """
    if total == 0:
        return "no evaluation set yet: start an 'evaluate' job, then rate its batch", False
    if rated == 0:
        return (f"none of the {total} evaluation images is rated yet"
                + (f" ({skipped} answered can't tell)" if skipped else "")), False
    if classes is not None and classes < 2:
        return (f"all {rated} rated evaluation images are of one class: the metrics compare classes, "
                f"so rate more of the set ({total - rated - skipped} unrated)"), False
    if classes is None and positive in (0, rated):
        kind = "positive" if positive else "negative"
        return (f"all {rated} rated evaluation images are {kind}: AUC-PR and AUC-ROC need both classes, "
                f"so rate more of the set ({total - rated - skipped} unrated)"), False
    unrated = f"; {total - rated - skipped} still unrated" if rated + skipped < total else ""
    skips = f"; {skipped} answered can't tell" if skipped else ""
    held = f"{classes} classes, {positive} in a category" if classes is not None else f"{positive} positive"
    return f"metrics on {rated} of {total} evaluation images ({held}){skips}{unrated}", True
