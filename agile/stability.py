"""Whether another round is still likely to help: how much a new version changed the labels of a fixed sample.

Successive versions are compared on a fixed sample of the corpus (the same
images for every version of every concept of a corpus): the share whose
predicted label (score >= 0.5) changed, and Cohen's kappa of the two
labelings, which unlike the raw share is not dominated by the many easy
negatives of a rare concept. When the labels have stopped moving for
``SETTLED_VERSIONS`` versions in a row, another round of the same kind
mostly re-rates what the model already believes (Bloodgood & Vijay-Shanker
2009 stop on the same agreement of successive models over a fixed
unlabelled "stop set"). The thresholds are measured on the simulated-user
benchmark: docs/results.md, "A signal to stop".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import cohen_kappa_score

from agile.corpus import Corpus
from agile.sidecar import Stability
from agile.training import TrainedModel

SAMPLE = 4_000            # images of the fixed sample (share of labels changed: +-0.3% at 1%)
SETTLED_CHANGED = 0.01    # a version "settled" changes fewer labels of the sample than this share...
SETTLED_KAPPA = 0.9       # ...and agrees with its predecessor at least this well
SETTLED_VERSIONS = 2      # ...for this many versions in a row
# ...while labelling at least this many sample images positive: a version that finds (almost) none of the
# concept agrees with its predecessor about nothing, and a rare concept's few sample positives cannot tell.
MIN_SAMPLE_POSITIVES = 20

_SAMPLES: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}


@dataclass(frozen=True)
class FixedSample:
    ids: np.ndarray        # sorted corpus ids
    vectors: np.ndarray    # float32 (len(ids), dim)

    def labels(self, model: TrainedModel) -> np.ndarray:
        """Each image's predicted label: score >= 0.5, or a task's likeliest class."""
        scores = model.score_vectors(self.vectors)
        return scores >= 0.5 if scores.ndim == 1 else scores.argmax(axis=1)


def in_concept(model: TrainedModel, labels: np.ndarray) -> np.ndarray:
    """Which predicted labels say "the concept": positive, or any class of a task but its "none of these"."""
    if labels.dtype == bool:
        return labels
    return labels != model.config.none_class if model.config.none_class is not None else np.ones(len(labels), bool)


def fixed_sample(corpus: Corpus) -> FixedSample:
    """The corpus's fixed sample (seeded, so the same across processes), read once per process."""
    key = (str(corpus.root), corpus.count)
    if key not in _SAMPLES:
        ids = (np.arange(corpus.count, dtype=np.int64) if corpus.count <= SAMPLE else
               np.sort(np.random.default_rng(0).choice(corpus.count, SAMPLE, replace=False)).astype(np.int64))
        _SAMPLES[key] = ids, corpus.read_rows(ids).astype(np.float32)
    return FixedSample(*_SAMPLES[key])


def agreement_kappa(before: np.ndarray, after: np.ndarray) -> float:
    """Cohen's kappa of two labelings (boolean, or a task's classes); 1.0 when they are identical (kappa is
    0/0 when both give one label to everything)."""
    if np.array_equal(before, after):
        return 1.0
    return float(cohen_kappa_score(before, after))


def is_calm(changed: float, kappa: float, positives: int) -> bool:
    """A version that barely moved the sample's labels (``positives``: the sample images it labels positive)."""
    return changed < SETTLED_CHANGED and kappa >= SETTLED_KAPPA and positives >= MIN_SAMPLE_POSITIVES


def calm_streak(previous: int, changed: float, kappa: float, positives: int) -> int:
    """Calm versions in a row, this one included, after ``previous`` before it (0: this one moved)."""
    return previous + 1 if is_calm(changed, kappa, positives) else 0


def stability(sample: FixedSample, model: TrainedModel, previous: TrainedModel, previous_version: int,
              previous_stability: Stability | None) -> Stability:
    """How much ``model`` changed the sample's labels from ``previous`` (version ``previous_version``),
    and whether the labels have settled: this version and the ones before it changed little."""
    before, after = sample.labels(previous), sample.labels(model)
    changed, kappa = float(np.mean(before != after)), agreement_kappa(before, after)
    streak = calm_streak(previous_stability.calm_versions if previous_stability is not None else 0,
                         changed, kappa, int(in_concept(model, after).sum()))
    return Stability(previous_version=previous_version, sample=len(sample.ids), changed=round(changed, 5),
                     kappa=round(kappa, 4), positive=round(float(in_concept(model, after).mean()), 5),
                     calm_versions=streak,
                     settled=streak >= SETTLED_VERSIONS)
