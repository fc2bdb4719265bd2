"""Training the concept's classifier: a small MLP on frozen embeddings.

The paper's recipe (docs/architecture.md, "The labelling loop"): one hidden layer of 16 units for
the first model, 3 x 128 afterwards; ReLU, dropout 0.5, binary cross-entropy,
Adam (lr 1e-4, weight decay 1e-4), 10 epochs. Unrated corpus vectors drawn at
random serve as extra negatives, and every epoch is upsampled so that
positives make up 1/2 of it, rated negatives 1/4 and random negatives 1/4.
An epoch shows each random negative once, so its length is four times the
number of random negatives.

The default takes 10,000 random negatives instead of the paper's 500,000
(`TrainConfig.paper` keeps those). Cost is linear in them (400 Adam steps of
1024 instead of 19,500), and random negatives are unrated, so a concept with
prevalence p puts about p * N positives among them labelled negative: at
500,000 and p = 0.2% that is ~1,000 mislabelled images against a few hundred
rated positives. Measured on a 1M x 512 synthetic corpus, 600 ratings, 3 x 128:
AUC-PR 0.9995 with 10,000 (2.2 s) and 0.9215 with 500,000 (648 s).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn

from agile.corpus import Corpus
from agile.cpu import torch_threads
from agile.ensemble import EXTRA_UNITS, fold_ensemble
from agile.errors import AgileError
from agile.mlp_fit import fit_fast

PAPER_RANDOM_NEGATIVES = 500_000
DEFAULT_RANDOM_NEGATIVES = 10_000
SCORE_ROWS = 65_536
LEARNERS = ("mlp", "logreg", "ensemble")
DEFAULT_LEARNER = "ensemble"  # the session's (docs/results.md, "Learners and the simple loop"); TrainConfig: the paper's


class TrainingError(AgileError):
    """Training cannot run on the data or settings given."""


class OneClassError(TrainingError):
    """The ratings hold only positives or only negatives."""


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple[int, ...] = (128, 128, 128)
    dropout: float = 0.5
    lr: float = 1e-4
    weight_decay: float = 1e-4
    epochs: int = 10
    batch_size: int = 1024
    random_negatives: int = DEFAULT_RANDOM_NEGATIVES
    seed: int = 0
    engine: str = "fast"   # "fast" (agile.mlp_fit) or "autograd" (the nn.Module reference)
    # "mlp": the paper's recipe above. "logreg": what a data scientist would write instead — a
    # scikit-learn logistic regression with balanced classes on the rated images only (no random
    # negatives, no hidden layer), kept as a one-layer model so scoring and export are the same.
    # "ensemble": the mean logit of the two, folded into one MLP two units wider (agile.ensemble).
    learner: str = "mlp"
    precision: str = "auto"  # fast engine's matrix products: auto | float32 | bfloat16
    # Intra-op threads while training (None: torch's setting). One by default: a step's
    # products are small (batch x 128 units), so a second thread gains little, and when the
    # cores are shared each of the ~40 parallel regions per step waits for a descheduled
    # thread (measured here: 20 steps 0.2-0.4 s on one thread, 3-20 s on two at load 9).
    threads: int | None = 1
    # Output units: 1 for a binary concept (sigmoid, binary cross-entropy); a multi-category task's
    # class count (softmax, cross-entropy; the paper's MLP only). ``none_class``: the task's "none of
    # these", which random unrated images train as; a task without it trains on its ratings alone.
    classes: int = 1
    none_class: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if any(h < 1 for h in self.hidden) or not 0 <= self.dropout < 1 or self.epochs < 1 \
                or self.batch_size < 1 or self.random_negatives < 0 or self.lr <= 0 \
                or self.engine not in ("fast", "autograd") or self.learner not in LEARNERS \
                or (self.learner == "logreg" and self.hidden) or (self.learner == "ensemble" and not self.hidden) \
                or self.precision not in ("auto", "float32", "bfloat16") or self.classes < 1 \
                or (self.classes > 1 and self.learner != "mlp") \
                or (self.none_class is not None and not 0 <= self.none_class < self.classes):
            raise TrainingError(f"invalid training settings: {self}")

    @classmethod
    def for_round(cls, round_index: int, **overrides: Any) -> "TrainConfig":
        """Round 0 (after expansion): one hidden layer of 16; later rounds: 3 x 128 (a logreg: none)."""
        hidden = () if overrides.get("learner") == "logreg" else (16,) if round_index == 0 else (128, 128, 128)
        return cls(hidden=hidden, **overrides)

    @classmethod
    def paper(cls, round_index: int, **overrides: Any) -> "TrainConfig":
        """Exactly the paper's settings, with its 500k random negatives."""
        return cls.for_round(round_index, random_negatives=PAPER_RANDOM_NEGATIVES, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        return cls(**{**data, "hidden": tuple(data["hidden"])})


def build_mlp(dim: int, config: TrainConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = dim
    extra = EXTRA_UNITS if config.learner == "ensemble" else 0
    for h in (h + extra for h in config.hidden):
        layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(config.dropout)]
        width = h
    layers.append(nn.Linear(width, config.classes))
    return nn.Sequential(*layers)


def squeeze_logits(out: torch.Tensor) -> torch.Tensor:
    """A model's output rows as its logits: (n,) of a binary concept's one unit, (n, K) of a task's."""
    return out[:, 0] if out.shape[1] == 1 else out


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid of a binary concept's logits (n,), softmax of a task's (n, K)."""
    return torch.sigmoid(logits) if logits.ndim == 1 else torch.softmax(logits, dim=1)


@dataclass
class TrainStats:
    positives: int
    negatives: int
    random_negatives: int
    steps: int
    seconds: float
    final_loss: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainedModel:
    """A trained classifier; scores are probabilities that an image shows the concept."""

    config: TrainConfig
    module: nn.Sequential
    stats: TrainStats | None = field(default=None)

    def __post_init__(self) -> None:
        self.module.eval()

    @property
    def dim(self) -> int:
        return int(self.module[0].in_features)

    @property
    def classes(self) -> int:
        """1 for a binary concept's model, else the class count of a multi-category task's."""
        return int(self.linear_layers()[-1].out_features)

    def linear_layers(self) -> list[nn.Linear]:
        return [m for m in self.module if isinstance(m, nn.Linear)]

    @torch.inference_mode()
    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """float32 logits: (n,) of a binary concept, (n, classes) of a task."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise TrainingError(f"vectors have shape {vectors.shape}, the model expects (n, {self.dim})")
        out = np.empty((len(vectors), self.classes), dtype=np.float32)
        for start in range(0, len(vectors), SCORE_ROWS):
            block = torch.from_numpy(np.ascontiguousarray(vectors[start:start + SCORE_ROWS], dtype=np.float32))
            out[start:start + len(block)] = self.module(block).numpy()
        return out[:, 0] if self.classes == 1 else out

    def score_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """float32 probabilities for float16/float32 vectors (n, dim): (n,) that each shows the concept,
        or of a task (n, classes), each row summing to 1."""
        logits = self.logits(vectors)
        if logits.ndim == 1:
            return _sigmoid(logits)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def score_ids(self, corpus: Corpus, ids: np.ndarray) -> np.ndarray:
        return self.score_vectors(corpus.vectors(ids))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    @classmethod
    def from_state(cls, config: TrainConfig, state: Mapping[str, torch.Tensor]) -> "TrainedModel":
        try:
            dim = int(state["0.weight"].shape[1])
            module = build_mlp(dim, config)
            module.load_state_dict(dict(state))
        except (KeyError, RuntimeError) as e:
            raise TrainingError(f"weights do not fit the configuration {config}: {e}") from e
        return cls(config, module)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-x.astype(np.float32)))).astype(np.float32)


def check_two_classes(labels: np.ndarray, random_negatives: int = 0) -> tuple[int, int]:
    """(positives, negatives); OneClassError without positives, or without negatives of either kind.

    All positives (common after image seeds) train when random unrated images stand in as negatives
    (``random_negatives`` > 0): they are the recipe's own negatives, so the model still has two classes.
    """
    positives = int((labels > 0.5).sum())
    negatives = int(len(labels) - positives)
    if positives == 0:
        raise OneClassError(f"no positive ratings among {negatives}: rate at least one image "
                            "that shows the concept as positive before training")
    if negatives == 0 and random_negatives == 0:
        raise OneClassError(f"no negative ratings among {positives} and no random negatives: rate at least "
                            "one image that does not show the concept as negative before training")
    return positives, negatives


def draw_random_negatives(count: int, exclude: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct unrated ids (sorted), or all unrated ids if fewer."""
    available = count - len(exclude)
    n = min(n, available)
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    if n * 4 >= available:  # small corpus: choose among the unrated directly
        pool = np.setdiff1d(np.arange(count, dtype=np.int64), exclude)
        return np.sort(rng.choice(pool, size=n, replace=False))
    picked = np.empty(0, dtype=np.int64)
    while len(picked) < n:  # rejection of rated ids; few rounds since n << available
        extra = rng.choice(count, size=n - len(picked) + len(exclude), replace=False)
        picked = np.union1d(picked, np.setdiff1d(extra, exclude))
    return np.sort(rng.choice(picked, size=n, replace=False))


def epoch_indices(n_pos: int, n_neg: int, n_rand: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices of one epoch over [positives | rated negatives | random negatives].

    A quarter of the epoch is each random negative once (shuffled); positives
    fill half and rated negatives a quarter, drawn with replacement. Without
    rated negatives, random ones (drawn with replacement) fill their quarter.
    """
    quarter = max(n_rand, -(-n_pos // 2), n_neg)
    rated_negatives = n_pos + (rng.integers(0, n_neg, quarter) if n_neg else rng.integers(0, n_rand, quarter))
    parts = [rng.integers(0, n_pos, 2 * quarter), rated_negatives]
    if n_rand:
        parts.append(n_pos + n_neg + np.resize(rng.permutation(n_rand), quarter))
    order = np.concatenate(parts)
    rng.shuffle(order)
    return order


def train(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, config: TrainConfig) -> TrainedModel:
    """Train the MLP of ``config`` on rated ``ids`` (labels 1/0) plus random negatives."""
    ids = corpus.check_ids(ids)
    labels = np.asarray(labels, dtype=np.float32).reshape(-1)
    if len(ids) != len(labels):
        raise TrainingError(f"{len(ids)} ids but {len(labels)} labels")
    if len(np.unique(ids)) != len(ids):
        raise TrainingError("an id is rated twice; pass each rated image once")
    if config.classes > 1:
        return train_task(corpus, ids, labels, config)
    n_pos, n_neg = check_two_classes(labels, 0 if config.learner == "logreg" else config.random_negatives)
    if config.learner == "logreg":
        return train_logreg(corpus, ids, labels, config)
    if config.learner == "ensemble":
        return train_ensemble(corpus, ids, labels, config)
    start = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    random_ids = draw_random_negatives(corpus.count, np.unique(ids), config.random_negatives, rng)
    if n_neg == 0 and len(random_ids) == 0:
        raise OneClassError(f"no negative ratings among {n_pos}, and every image of the corpus is rated: "
                            "rate at least one image as negative")
    pos, neg = ids[labels > 0.5], ids[labels <= 0.5]
    x = torch.from_numpy(corpus.vectors(np.concatenate([pos, neg, random_ids])).astype(np.float32))
    y = torch.cat([torch.ones(n_pos), torch.zeros(n_neg + len(random_ids))])
    orders = (epoch_indices(n_pos, n_neg, len(random_ids), rng) for _ in range(config.epochs))
    module, steps, loss = _fit(corpus.dim, x, y, orders, config, rng)
    stats = TrainStats(n_pos, n_neg, len(random_ids), steps, time.perf_counter() - start, loss)
    return TrainedModel(config, module, stats)


def _fit(dim: int, x: torch.Tensor, y: torch.Tensor, orders: Iterable[np.ndarray], config: TrainConfig,
         rng: np.random.Generator) -> tuple[nn.Sequential, int, float]:
    """A fresh MLP of ``config`` (seeded by it) fitted over the epochs' row orders; (module, steps, last loss)."""
    with torch.random.fork_rng(devices=[]), torch_threads(config.threads):
        torch.manual_seed(config.seed)
        module = build_mlp(dim, config)
        fit = fit_fast if config.engine == "fast" else fit_autograd
        steps, loss = fit(module, x, y, orders, config, rng)
    module.eval()
    return module, steps, loss


def task_epoch_indices(counts: np.ndarray, n_rand: int, none_class: int | None, share: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Row indices of one epoch of a task's rows: its ratings grouped by class (``counts`` of each), then
    ``n_rand`` random unrated images. Each class with rows fills ``share`` of the epoch, drawn with
    replacement, so every category weighs the same; "none of these" takes half its share from its
    ratings and half from the random images, each once (all of it when none is rated yet), as a binary
    concept's negatives do (`epoch_indices`)."""
    starts = np.concatenate([[0], np.cumsum(counts)])
    parts = []
    for c, count in enumerate(counts):
        randoms = n_rand if c == none_class else 0
        rated = share if not randoms else share - share // 2 if count else 0
        if count and rated:
            parts.append(starts[c] + rng.integers(0, count, rated))
        if randoms:
            parts.append(starts[-1] + np.resize(rng.permutation(n_rand), share - rated))
    order = np.concatenate(parts)
    rng.shuffle(order)
    return order


def train_task(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, config: TrainConfig) -> TrainedModel:
    """The paper's MLP with a softmax over a multi-category task's classes (``labels``: class indices),
    random unrated images standing in for "none of these" where the task has it (agile.task)."""
    start = time.perf_counter()
    classes = labels.astype(np.int64)
    if len(classes) and (classes.min() < 0 or classes.max() >= config.classes or (classes != labels).any()):
        raise TrainingError(f"task labels are class indices 0..{config.classes - 1}")
    counts = np.bincount(classes, minlength=config.classes)
    rng = np.random.default_rng(config.seed)
    random_ids = (draw_random_negatives(corpus.count, np.unique(ids), config.random_negatives, rng)
                  if config.none_class is not None else np.empty(0, np.int64))
    present = np.count_nonzero(counts) + (len(random_ids) > 0 and counts[config.none_class] == 0)
    if present < 2:
        raise OneClassError(f"the {len(ids)} ratings hold one class of {config.classes}: rate images of at least "
                            "two classes before training")
    order = np.argsort(classes, kind="stable")
    x = torch.from_numpy(corpus.vectors(np.concatenate([ids[order], random_ids])).astype(np.float32))
    y = torch.from_numpy(np.concatenate([classes[order], np.full(len(random_ids), config.none_class or 0)]))
    share = max(2 * config.random_negatives, int(counts.max()))
    orders = (task_epoch_indices(counts, len(random_ids), config.none_class, share, rng)
              for _ in range(config.epochs))
    module, steps, loss = _fit(corpus.dim, x, y, orders, config, rng)
    none = counts[config.none_class] if config.none_class is not None else 0
    stats = TrainStats(int(len(ids) - none), int(none), len(random_ids), steps, time.perf_counter() - start, loss)
    return TrainedModel(config, module, stats)


def _fit_logreg(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, seed: int):
    """scikit-learn's LogisticRegression (balanced classes) on the rated vectors."""
    from sklearn.linear_model import LogisticRegression

    x, y = corpus.vectors(ids).astype(np.float32), labels > 0.5
    return LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed).fit(x, y)


def train_logreg(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, config: TrainConfig) -> TrainedModel:
    """The logistic regression on the rated images only, as a one-layer model."""
    start = time.perf_counter()
    fitted = _fit_logreg(corpus, ids, labels, config.seed)
    module = build_mlp(corpus.dim, config)
    with torch.no_grad():
        module[0].weight.copy_(torch.from_numpy(fitted.coef_.astype(np.float32)))
        module[0].bias.copy_(torch.from_numpy(fitted.intercept_.astype(np.float32)))
    positives = int((labels > 0.5).sum())
    stats = TrainStats(positives, len(labels) - positives, 0, int(fitted.n_iter_[0]), time.perf_counter() - start,
                       float("nan"))
    return TrainedModel(config, module, stats)


def train_ensemble(corpus: Corpus, ids: np.ndarray, labels: np.ndarray, config: TrainConfig) -> TrainedModel:
    """The paper's MLP and the logistic regression, trained apart and folded into one model (agile.ensemble)."""
    start = time.perf_counter()
    mlp = train(corpus, ids, labels, replace(config, learner="mlp"))
    if mlp.stats.negatives == 0:  # all positives: the logistic regression has one class; the MLP alone
        return TrainedModel(replace(config, learner="mlp"), mlp.module, mlp.stats)
    fitted = _fit_logreg(corpus, ids, labels, config.seed)
    module = fold_ensemble(mlp.module, torch.from_numpy(fitted.coef_[0].astype(np.float32)),
                           torch.tensor(float(fitted.intercept_[0])), build_mlp(corpus.dim, config))
    stats = replace(mlp.stats, seconds=time.perf_counter() - start)
    return TrainedModel(config, module, stats)


def fit_autograd(module: nn.Sequential, x: torch.Tensor, y: torch.Tensor, epochs_order: Iterable[np.ndarray],
                 config: TrainConfig, rng: np.random.Generator) -> tuple[int, float]:
    """The reference loop: nn.Module, nn.Dropout, BCEWithLogitsLoss, autograd, Adam."""
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss() if config.classes == 1 else nn.CrossEntropyLoss()
    module.train()
    steps, loss = 0, torch.tensor(float("nan"))
    for order in epochs_order:
        for batch in torch.from_numpy(order).split(config.batch_size):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(squeeze_logits(module(x[batch])), y[batch])
            loss.backward()
            optimizer.step()
            steps += 1
    return steps, float(loss.detach())
