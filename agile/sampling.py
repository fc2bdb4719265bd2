"""Choosing the next images to rate: query strategies over model scores.

A strategy is a small vectorised function ``(scores, k) -> indices`` (best
first) over an array of probabilities. `select` runs the chosen strategy over
*every* unrated vector of the corpus in a stream: each block of scores is
narrowed to the strategy's own top ``k``, and the candidates of all blocks
are pooled and narrowed once more. For margin and margin + positive mining
this equals running the strategy over all scores at once (the global top k
of a ranking lies within the union of every block's top k), while memory
stays at one block of scores plus k candidates per block.

With the fast ``int8`` scoring kernel the stream is run for ``depth``
candidates (10 k by default) rather than k, and those candidates are
re-scored exactly (float32) before the final pick: the approximate scores
only have to place the true top k within the top ``depth``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from agile.corpus import Corpus
from agile.errors import AgileError
from agile.scan_engine import Candidates, LocalScan, ScanEngine, unrated
from agile.scoring import SCAN_ROWS, Kernel
from agile.training import TrainedModel, draw_random_negatives

Strategy = Callable[[np.ndarray, int], np.ndarray]
MIN_POSITIVES = 5      # a batch with fewer teaches the model little about the concept
# With fewer rated positives than half a batch the boundary is placed on a few examples; on
# the demo suite the first margin batch after expansion then held 0-3 positives for concepts
# whose expansion found 8-38 (docs/kernels.md, "Batches without positives").
MIN_RATED_POSITIVES_SHARE = 0.5
MINED_SUFFIX = "+mined"
MIXED_SUFFIX = "+random"


def predicted_positives(scores: np.ndarray) -> int:
    """Images a binary concept's scores put above 0.5 (what decides mixing in likely positives); 0 of a task's."""
    return int(np.count_nonzero(scores > 0.5)) if scores.ndim == 1 else 0


class SamplingError(AgileError):
    """A batch cannot be selected as asked (a bad k, for one)."""


class UnknownStrategyError(SamplingError):
    """The strategy named is not in ``STRATEGIES``."""


class EmptyPoolError(SamplingError):
    """Every image of the corpus is rated or excluded: nothing is left to sample."""


def _smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest keys, ascending; ties broken by smaller index, also at the k-th key.

    (argpartition alone takes an arbitrary few of the keys tied with the k-th:
    saturated probabilities tie often, and then engines that split the corpus
    differently would pick different batches.)
    """
    k = min(k, len(keys))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if k < len(keys):
        kth = np.partition(keys, k - 1)[k - 1]
        below = np.flatnonzero(keys < kth)
        part = np.concatenate([below, np.flatnonzero(keys == kth)[:k - len(below)]])
    else:
        part = np.arange(len(keys))
    return part[np.lexsort((part, keys[part]))].astype(np.int64)


def _margin_key(scores: np.ndarray) -> np.ndarray:
    """|p - 0.5| of a binary concept's scores (n,); of a task's class probabilities (n, K), the gap
    between the two highest (for two classes, twice the binary key: the same order)."""
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim == 1:
        return np.abs(scores - np.float32(0.5))
    # the two highest, kept class by class over contiguous columns: 3 x faster than np.partition along
    # each row of a 16,384 x 10 block
    columns = np.ascontiguousarray(scores.T)
    first, second = np.maximum(columns[0], columns[1]), np.minimum(columns[0], columns[1])
    for column in columns[2:]:
        second = np.maximum(second, np.minimum(first, column))
        first = np.maximum(first, column)
    return first - second


def _entropy_key(scores: np.ndarray) -> np.ndarray:
    """Minus the entropy of each image's class probabilities (a binary concept's: of p and 1 - p)."""
    p = np.asarray(scores, dtype=np.float32)
    if p.ndim == 1:
        p = np.stack([p, 1 - p], axis=1)
    return np.sum(p * np.log(np.clip(p, 1e-12, 1.0)), axis=1)


def _top_key(scores: np.ndarray) -> np.ndarray:
    return -np.asarray(scores, dtype=np.float32)


def margin(scores: np.ndarray, k: int) -> np.ndarray:
    """The k most uncertain: smallest |p - 0.5|; of a task, the smallest gap between its two likeliest classes."""
    return _smallest(_margin_key(scores), k)


def entropy(scores: np.ndarray, k: int) -> np.ndarray:
    """The k whose class probabilities have the highest entropy (for a binary concept, margin's order)."""
    return _smallest(_entropy_key(scores), k)


def top_scores(scores: np.ndarray, k: int) -> np.ndarray:
    """The k most confident positives: largest p."""
    return _smallest(_top_key(scores), k)


def _as_classes(scores: np.ndarray) -> np.ndarray:
    """Class probabilities (n, K): a task's as they are, a binary concept's as [1 - p, p]."""
    scores = np.asarray(scores, dtype=np.float32)
    return scores if scores.ndim == 2 else np.stack([1 - scores, scores], axis=1)


@dataclass(frozen=True)
class ClassMargin:
    """A ranking: the images the model finds likeliest to be of class ``c``, most uncertain (margin) first;
    the others last. One per class streams what `balanced_margin` picks from."""

    c: int

    def key(self, scores: np.ndarray) -> np.ndarray:
        classes = _as_classes(scores)
        return np.where(classes.argmax(axis=1) == self.c, _margin_key(classes), np.float32(np.inf))

    def __call__(self, scores: np.ndarray, k: int) -> np.ndarray:
        return _smallest(self.key(scores), k)


def balanced_margin(scores: np.ndarray, k: int) -> np.ndarray:
    """Margin taken class by class: the most uncertain image the model assigns to each class, then the
    second of each, and so on, so every class the model predicts is asked about (a batch of plain margin
    can sit on one boundary of a task and never show a class the first model barely knows)."""
    classes = _as_classes(scores)
    predicted, gap = classes.argmax(axis=1), _margin_key(classes)
    order = np.lexsort((np.arange(len(gap)), gap, predicted))  # by class, then most uncertain first
    starts = np.searchsorted(predicted[order], np.arange(classes.shape[1]))
    rank = np.empty(len(gap), dtype=np.int64)
    rank[order] = np.arange(len(gap)) - starts[predicted[order]]
    return _smallest(rank * 4.0 + gap, k)  # rank first (gaps lie in [0, 1]), then the smaller gap


# The rankings that are "the k smallest of a key", by their key: a scan can bound them (`RunningBestOf`).
RANKING_KEYS: dict[Callable, Callable[[np.ndarray], np.ndarray]] = {margin: _margin_key, top_scores: _top_key,
                                                                     entropy: _entropy_key}


def ranking_key(ranking: Callable) -> Callable[[np.ndarray], np.ndarray] | None:
    """The key a ranking takes the smallest of, if it is one of those (else a scan cannot bound it)."""
    return getattr(ranking, "key", None) or RANKING_KEYS.get(ranking)


def margin_positive_mining(scores: np.ndarray, k: int) -> np.ndarray:
    """Half the batch from the highest scores (positive mining), half by margin.

    Mullapudi et al. 2021: mining likely positives keeps rare concepts from
    starving the model of positives. The top-scoring half is taken first; the
    margin half is the most uncertain of the rest.
    """
    mined = top_scores(scores, k // 2)
    rest = np.ones(len(scores), dtype=bool)
    rest[mined] = False
    remaining = np.flatnonzero(rest)
    return np.concatenate([mined, remaining[margin(scores[remaining], k - len(mined))]])


def random_strategy(scores: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k indices uniformly at random, whatever the scores."""
    rng = np.random.default_rng(seed)
    return rng.choice(len(scores), size=min(k, len(scores)), replace=False).astype(np.int64)


# Cluster-margin's pool: the CLUSTER_POOL x k most uncertain images, as Citovsky et al. 2021 (k_m = 10 k).
CLUSTER_POOL = 10
NEAR_DUPLICATE_COSINE = 0.98  # two batch images closer than this are one image twice


def cluster_margin(corpus: Corpus, ids: np.ndarray, scores: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Positions of a diverse batch among the candidates: cluster-margin (Citovsky et al. 2021).

    The ``CLUSTER_POOL * k`` most uncertain candidates are clustered into k
    groups by their embeddings (k-means); the batch takes the most uncertain
    image of each group, smallest groups first, then the second of each, and
    so on, so a dense region near the boundary fills one slot, not the batch.
    An image within ``NEAR_DUPLICATE_COSINE`` of one already taken is skipped.
    """
    from sklearn.cluster import MiniBatchKMeans

    pool = margin(scores, CLUSTER_POOL * k)  # most uncertain first
    if len(pool) <= k:
        return pool
    members = np.sort(pool)  # clustered in id order, so the groups depend on the images, not on score ties
    by_id = corpus.vectors(ids[members]).astype(np.float32)
    found = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=2048).fit_predict(by_id)
    where = np.searchsorted(members, pool)
    vectors, groups = by_id[where], found[where]
    sizes = np.bincount(groups, minlength=k)
    # rank of each pool image within its group (pool order is most uncertain first)
    order = np.lexsort((np.arange(len(pool)), groups))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(len(pool), dtype=np.int64)
    rank[order] = np.arange(len(pool)) - starts[groups[order]]
    taken: list[int] = []
    for i in np.lexsort((groups, sizes[groups], rank)):  # round by round, smaller groups first
        if taken and float(np.max(vectors[taken] @ vectors[i])) >= NEAR_DUPLICATE_COSINE:
            continue
        taken.append(int(i))
        if len(taken) == k:
            break
    return pool[np.asarray(taken, dtype=np.int64)]


STRATEGIES: dict[str, Strategy] = {
    "margin": margin,
    "entropy": entropy,
    "balanced-margin": balanced_margin,
    "margin-pm": margin_positive_mining,
    "random": random_strategy,
    "cluster-margin": margin,  # the stream keeps the most uncertain; BATCH_PICKS chooses among them
}
# What a multi-category task's batches may be chosen by (the others rank one concept's scores).
TASK_STRATEGIES = frozenset({"margin", "entropy", "balanced-margin", "random", "cluster-margin"})
# Strategies whose final pick also reads the candidates' vectors: (corpus, ids, scores, k, seed) -> positions.
BATCH_PICKS = {"cluster-margin": cluster_margin}


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownStrategyError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}") from None


@dataclass(frozen=True)
class BestOf:
    """A `Keep` rule: each block's best ``depth`` unrated vectors by every ranking named (their union).

    Narrowing joined candidates by the same rule keeps every vector a final
    pick of at most ``depth`` by these rankings can take (ties go to the
    smaller id at every stage), so it may be applied per block, per actor's
    share and once more over all of them with the same result.
    """

    rankings: tuple[Strategy, ...]
    depth: int

    def _best(self, scores: np.ndarray) -> np.ndarray:
        chosen = self.rankings[0](scores, self.depth)
        for ranking in self.rankings[1:]:
            chosen = np.union1d(chosen, ranking(scores, self.depth))
        return np.sort(chosen)

    def __call__(self, first: int, scores: np.ndarray, exclude: np.ndarray) -> Candidates:
        ids, scores = unrated(first, scores, exclude)
        chosen = self._best(scores)
        return Candidates(ids[chosen], scores[chosen], predicted_positives(scores))

    def narrow(self, candidates: Candidates) -> Candidates:
        return candidates.take(self._best(candidates.scores))

    def running(self) -> "RunningBestOf":
        return RunningBestOf(self)


class RunningBestOf:
    """`BestOf` as one scan applies it, block after block: cheaper, and the same after `narrow`.

    For each ranking it keeps the ``depth`` best keys among the candidates
    kept so far; the worst of them bounds the ranking's ``depth``-th best key
    over the whole corpus from above, so a later block ranks only its
    vectors within a bound (a handful once a few blocks are in, against
    sorting out the best ``depth`` of every block). Every vector the final
    narrowing keeps lies within every bound, however stale, so it is kept
    whatever order the blocks arrive in. One per scan; blocks may come from
    several threads.
    """

    def __init__(self, rule: BestOf):
        self.rule = rule
        self.keys = [ranking_key(ranking) for ranking in rule.rankings]
        self.best = [np.empty(0, dtype=np.float32) for _ in rule.rankings]
        self.bounds = [np.float32(np.inf)] * len(rule.rankings)
        self.lock = threading.Lock()

    def __call__(self, first: int, scores: np.ndarray, exclude: np.ndarray) -> Candidates:
        ids, scores = unrated(first, scores, exclude)
        above = predicted_positives(scores)
        within = np.arange(len(scores))
        if all(key is not None for key in self.keys):  # a ranking without a key is never bounded
            bounds = list(self.bounds)
            mask = self.keys[0](scores) <= bounds[0]
            for key, bound in zip(self.keys[1:], bounds[1:]):
                mask |= key(scores) <= bound
            within = np.flatnonzero(mask)
        chosen = within[self.rule._best(scores[within])]
        self._tighten(scores[chosen])
        return Candidates(ids[chosen], scores[chosen], above)

    def _tighten(self, kept: np.ndarray) -> None:
        depth = self.rule.depth
        with self.lock:
            for i, key in enumerate(self.keys):
                if key is None:
                    continue
                best = np.concatenate([self.best[i], key(kept)])
                if len(best) > depth:
                    best = np.partition(best, depth - 1)[:depth]
                self.best[i] = best
                if len(best) == depth:
                    self.bounds[i] = best.max()

    def narrow(self, candidates: Candidates) -> Candidates:
        return self.rule.narrow(candidates)

    def running(self) -> "RunningBestOf":
        return RunningBestOf(self.rule)


def _check_request(corpus: Corpus, k: int, strategy: str, exclude_ids: Iterable[int]) -> tuple[Strategy, np.ndarray]:
    pick = get_strategy(strategy)
    if k < 1:
        raise SamplingError(f"k must be at least 1, got {k}")
    exclude = np.unique(corpus.check_ids(np.fromiter(exclude_ids, dtype=np.int64)))
    if len(exclude) >= corpus.count:
        raise EmptyPoolError("every image of the corpus has been rated; nothing left to sample")
    return pick, exclude


def select(corpus: Corpus, model: TrainedModel, k: int = 100, strategy: str = "margin",
           exclude_ids: Iterable[int] = (), seed: int = 0, kernel: Kernel = "auto",
           depth: int | None = None, rows: int | None = None,
           scan_dir: str | Path | None = None, workers: int | None = None,
           engine: ScanEngine | None = None) -> np.ndarray:
    """The ``k`` unrated ids the strategy picks over the whole corpus, best first.

    ``kernel`` is the scoring kernel of the streaming pass (see agile.scoring);
    with an approximate kernel the best ``depth`` candidates are re-scored
    exactly. ``scan_dir`` places the int8 scan store (default ``<corpus>/scan``);
    ``workers`` is the number of scoring threads (default: one per CPU).
    ``engine`` runs the scan elsewhere (e.g. `agile.ray_scan.RayScan`; then
    ``scan_dir`` and ``workers`` are the engine's); the batch is the same.
    """
    pick, exclude = _check_request(corpus, k, strategy, exclude_ids)
    if pick is random_strategy:  # needs no scores: sample the unrated ids directly
        rng = np.random.default_rng(seed)
        return rng.permutation(draw_random_negatives(corpus.count, exclude, k, rng))
    engine = engine or LocalScan(scan_dir, workers)
    rows = rows or SCAN_ROWS
    kernel = engine.kernel(kernel, corpus, model, rows)
    depth = _depth(k, kernel == "exact", depth, pooled=strategy in BATCH_PICKS)
    found = _exact_candidates(corpus, model, BestOf(_streamed(pick, model), depth), exclude, kernel, engine, rows)
    return found.ids[_final_pick(strategy, corpus, found.ids, found.scores, k, seed)]


def _streamed(pick: Strategy, model: TrainedModel) -> tuple[Strategy, ...]:
    """The rankings a scan keeps for ``pick``: its own, or for balanced margin each class's margin (the global
    pick takes each class's best few, which lie among every block's best of that class)."""
    if pick is balanced_margin:
        return tuple(ClassMargin(c) for c in range(max(model.classes, 2)))
    return (pick,)


def _depth(k: int, exact: bool, depth: int | None, pooled: bool = False) -> int:
    """Candidates kept per block: k for an exact ranking, more for re-ranking or a batch pick's pool."""
    if pooled:  # a batch pick's whole pool; re-ranked from twice as many, so the exact pool lies within
        pool = CLUSTER_POOL * k
        return pool if exact else max(2 * pool, depth or 0)
    return k if exact else max(k, depth or 10 * k)


def _exact_candidates(corpus: Corpus, model: TrainedModel, keep: BestOf, exclude: np.ndarray, kernel: str,
                      engine: ScanEngine, rows: int) -> Candidates:
    """The stream's candidates in id order with exact scores: every block's best ``depth`` by ``keep``'s
    rankings; with an approximate kernel, only the best ``depth`` of those, re-scored exactly (and
    ``above`` counted again on the exact scores)."""
    found = engine.scan(corpus, model, keep, exclude, kernel, rows)
    if kernel == "exact":
        return found
    ids = keep.narrow(found).ids
    scores = model.score_vectors(engine.vectors(corpus, ids))  # what model.score_ids does, rows from the engine
    return Candidates(ids, scores, predicted_positives(scores))


def _final_pick(strategy: str, corpus: Corpus, ids: np.ndarray, scores: np.ndarray, k: int,
                seed: int) -> np.ndarray:
    """Positions of the batch among the candidates (exact scores)."""
    if strategy in BATCH_PICKS:
        return BATCH_PICKS[strategy](corpus, ids, scores, k, seed)
    return get_strategy(strategy)(scores, k)


def highest_scores(corpus: Corpus, model: TrainedModel, k: int, kernel: Kernel = "auto", depth: int | None = None,
                   scan_dir: str | Path | None = None, workers: int | None = None,
                   engine: ScanEngine | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest-scoring ids of the whole corpus, best first (ties: smaller id), with exact scores.

    The same stream as `select`: with the int8 kernel the best ``depth``
    (default 10 k) by the approximate score are re-scored exactly and the
    top k taken from those, so the scores returned are always float32 ones.
    """
    if k < 1:
        raise SamplingError(f"k must be at least 1, got {k}")
    engine = engine or LocalScan(scan_dir, workers)
    kernel = engine.kernel(kernel, corpus, model, SCAN_ROWS)
    keep = BestOf((top_scores,), _depth(k, kernel == "exact", depth))
    found = _exact_candidates(corpus, model, keep, np.empty(0, dtype=np.int64), kernel, engine, SCAN_ROWS)
    best = top_scores(found.scores, k)
    return found.ids[best], found.scores[best]


# -- batches that do not starve a rare concept ------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """A batch and how it was chosen: ``strategy`` is what the batch records as its source."""

    ids: np.ndarray
    strategy: str          # e.g. "margin", or "margin+mined" when likely positives were mixed in
    note: str              # one sentence for the owner; empty when the strategy ran as asked
    predicted_positives: int | None = None  # unrated images the model scores above 0.5


def select_batch(corpus: Corpus, model: TrainedModel, k: int = 100, strategy: str = "margin",
                 exclude_ids: Iterable[int] = (), seed: int = 0, scan_dir: str | Path | None = None,
                 positives_in_last_batch: int | None = None, min_positives: int = MIN_POSITIVES,
                 rated_positives: int | None = None, kernel: Kernel = "auto", depth: int | None = None,
                 rows: int | None = None, workers: int | None = None,
                 engine: ScanEngine | None = None,
                 likely_positives: Callable[[], np.ndarray | None] | None = None) -> Selection:
    """Like `select`, but a batch likely to hold almost no positives gets likely positives mixed in.

    Margin sampling asks about the images nearest the decision boundary; for a
    rare concept and an early model those are often all negatives, and a batch
    without positives teaches little. So when the model predicts fewer than
    ``k`` positives (p > 0.5) among all unrated images, or the last batch held
    fewer than ``min_positives``, or fewer than ``k / 2`` images are rated
    positive so far (``rated_positives``), half the batch is likely positives
    and half is the strategy's pick among the rest; the label becomes e.g.
    ``margin+mined``. The likely positives are what ``likely_positives()``
    returns (unrated ids, best first: the session's are the nearest
    neighbours of the rated positives; called only when the batch is mixed,
    since that search can cost more than the scan), then the highest-scoring
    unrated images (positive mining, Mullapudi et al. 2021) for any room
    left. Otherwise the batch is exactly `select`'s. One pass over the corpus
    either way.
    """
    pick, exclude = _check_request(corpus, k, strategy, exclude_ids)
    if pick is random_strategy or pick is margin_positive_mining:  # random asks no model; pm mines already
        ids = select(corpus, model, k, strategy, exclude, seed, kernel, depth, rows, scan_dir, workers, engine)
        return Selection(ids, strategy, "")
    engine = engine or LocalScan(scan_dir, workers)
    rows = rows or SCAN_ROWS
    kernel = engine.kernel(kernel, corpus, model, rows)
    # the mixed batch's strategy half is picked among what the mined half leaves: up to k // 2 further down
    depth = max(_depth(k, kernel == "exact", depth, pooled=strategy in BATCH_PICKS), k + k // 2)
    # both rankings' candidates: the mix needs the top scores, the strategy its own. With an approximate
    # kernel the count above 0.5 is taken on the exact scores of the candidates, so every kernel mixes the
    # same batches: they hold the top `depth` by the approximate score, so when fewer than k images truly
    # score above 0.5 they are all among them, and when k or more do, at least k of them are.
    found = _exact_candidates(corpus, model, BestOf((*_streamed(pick, model), top_scores), depth), exclude, kernel,
                              engine, rows)
    ids, scores, predicted = found.ids, found.scores, found.above
    reasons = []
    if predicted < k:
        reasons.append(f"the model scores {predicted} unrated images above 0.5")
    if positives_in_last_batch is not None and positives_in_last_batch < min_positives:
        reasons.append(f"the last batch held {positives_in_last_batch} positives")
    if rated_positives is not None and rated_positives < MIN_RATED_POSITIVES_SHARE * k:
        reasons.append(f"only {rated_positives} images are rated positive")
    if not reasons:
        return Selection(ids[_final_pick(strategy, corpus, ids, scores, k, seed)], strategy, "", predicted)
    likely = None if likely_positives is None else likely_positives()
    near = np.empty(0, np.int64) if likely is None else \
        np.asarray(likely, dtype=np.int64)[~np.isin(likely, exclude)][: k // 2]
    left = np.flatnonzero(~np.isin(ids, near))  # candidates not taken as neighbours
    mined = left[top_scores(scores[left], k // 2 - len(near))]
    rest = np.setdiff1d(left, mined)
    picked = rest[_final_pick(strategy, corpus, ids[rest], scores[rest], k - len(near) - len(mined), seed)]
    source = (f"{len(near)} unrated images nearest the rated positives" if len(near) == k // 2 else
              f"the model's {len(mined)} highest-scoring images" if not len(near) else
              f"{len(near)} unrated images nearest the rated positives and the model's {len(mined)} "
              "highest-scoring images")
    note = f"{' and '.join(reasons)}, so half of this batch is {source}, and half is chosen by {strategy}"
    return Selection(np.concatenate([near, ids[mined], ids[picked]]), strategy + MINED_SUFFIX, note, predicted)


# A task's class with fewer rated images than this share of its part of a batch (k / classes) is scarce.
MIN_RATED_CLASS_SHARE = 0.5


def select_task_batch(corpus: Corpus, model: TrainedModel, k: int, strategy: str, exclude_ids: Iterable[int],
                      seed: int, rated_per_class: np.ndarray, class_names: list[str] | None = None,
                      scan_dir: str | Path | None = None, kernel: Kernel = "auto", depth: int | None = None,
                      rows: int | None = None, workers: int | None = None,
                      engine: ScanEngine | None = None) -> Selection:
    """A multi-category task's batch: the strategy's, with random images mixed in while a class is scarce.

    A class the owner has rated fewer than ``MIN_RATED_CLASS_SHARE * k /
    classes`` images of (typically "none of these", which the phrases never
    bring) is one the first models barely know, and margin asks about the
    hard cases of the classes they do. Then half the batch is drawn at random
    from the unrated images and half is the strategy's pick among the rest.
    Random, not the class's likeliest images: on the demo tasks the likeliest
    "none of these" were all of a kind, and the next model fell further behind
    random sampling than with plain margin (docs/results.md).
    """
    pick, exclude = _check_request(corpus, k, strategy, exclude_ids)
    threshold = MIN_RATED_CLASS_SHARE * k / model.classes
    scarce = [c for c in range(model.classes) if rated_per_class[c] < threshold]
    if pick is random_strategy or not scarce:
        return Selection(select(corpus, model, k, strategy, exclude, seed, kernel, depth, rows, scan_dir, workers,
                                engine), strategy, "")
    rng = np.random.default_rng([seed, 7])
    drawn = rng.permutation(draw_random_negatives(corpus.count, exclude, k // 2, rng))
    rest = select(corpus, model, k - len(drawn), strategy, np.union1d(exclude, drawn), seed, kernel, depth, rows,
                  scan_dir, workers, engine)
    names = [class_names[c] if class_names else f"class {c}" for c in scarce]
    note = (f"fewer than {threshold:g} images are rated {' or '.join(repr(n) for n in names)}, so half of this "
            f"batch ({len(drawn)}) is drawn at random from the unrated images and half is chosen by {strategy}")
    return Selection(np.concatenate([drawn, rest]), strategy + MIXED_SUFFIX, note)
