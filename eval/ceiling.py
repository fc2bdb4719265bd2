"""What the frozen embeddings can express at all: a linear probe trained on every label.

A simulated owner can only do as well as the embedding lets any classifier
do. For each concept this fits a logistic regression on the ground truth of
(a sample of) every image outside the held-out split and measures it on the
held-out split, the same images and metric the simulated rounds use. A
concept whose probe stays near its prevalence is not represented in the
embedding: more ratings or another query strategy cannot help it; a better
embedding model can.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from agile.corpus import Corpus
from eval.concepts import GroundTruthConcept
from eval.split import HeldOutSplit


def _sample(rng: np.random.Generator, ids: np.ndarray, rows: int) -> np.ndarray:
    return ids if len(ids) <= rows else np.sort(rng.choice(ids, size=rows, replace=False))


def probe_ceiling(corpus: Corpus, concepts: list[GroundTruthConcept], split: HeldOutSplit,
                  train_rows: int = 50_000, test_rows: int = 200_000, seed: int = 0) -> list[dict]:
    """Held-out AUC-PR of a linear probe per concept, trained on ``train_rows`` labelled images.

    Measured on the whole held-out split up to ``test_rows`` images (a seeded
    sample of it beyond that, so a corpus of millions stays in memory).
    """
    rng = np.random.default_rng(seed)
    outside = np.setdiff1d(np.arange(corpus.count, dtype=np.int64), split.ids, assume_unique=True)
    train_ids, test_ids = _sample(rng, outside, train_rows), _sample(rng, split.ids, test_rows)
    x_train = corpus.vectors(train_ids).astype(np.float32)
    x_test = corpus.vectors(test_ids).astype(np.float32)
    rows = []
    for concept in concepts:
        truth = concept.labels(corpus)
        y_train, y_test = truth[train_ids], truth[test_ids]
        row = {"concept": concept.name, "difficulty": concept.difficulty,
               "prevalence": float(truth.mean()), "train_positives": int(y_train.sum())}
        if y_train.all() or not y_train.any() or y_test.all() or not y_test.any():
            rows.append({**row, "auc_pr": None})
            continue
        # class_weight: rare concepts would otherwise be fitted as "always negative"
        probe = LogisticRegression(C=10.0, class_weight="balanced", max_iter=2000)
        probe.fit(x_train, y_train)
        rows.append({**row, "auc_pr": float(average_precision_score(y_test, probe.decision_function(x_test)))})
    return rows
