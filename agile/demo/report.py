"""How hard each suite concept is on a demo corpus: prevalence and zero-shot AUC-PR.

Zero-shot scores are the cosine between each image and the normalised mean of
the concept's positive-phrase embeddings (``agile.zeroshot``); AUC-PR is
scikit-learn's average precision against the ground-truth labels.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score

from agile.demo.suite import SuiteConcept, load_suite, scene_table


@dataclass(frozen=True)
class ConceptStats:
    name: str
    difficulty: str
    positives: int            # ground-truth positives in the corpus
    prevalence: float         # positives / corpus size
    zero_shot_auc_pr: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def suite_stats(corpus, embedder=None, concepts: list[SuiteConcept] | None = None) -> list[ConceptStats]:
    """Per concept: ground-truth positives and prevalence; with an embedder also zero-shot AUC-PR."""
    from agile.zeroshot import concept_text_embedding, zero_shot_scores

    concepts = load_suite() if concepts is None else concepts
    table = scene_table(corpus)
    rows = []
    for concept in concepts:
        labels = concept.labels_for(table)
        auc_pr = None
        if embedder is not None and labels.any():
            scores = zero_shot_scores(corpus, concept_text_embedding(embedder, concept.positives))
            auc_pr = float(average_precision_score(labels, scores))
        rows.append(ConceptStats(concept.name, concept.difficulty, int(labels.sum()),
                                 float(labels.mean()) if len(labels) else 0.0, auc_pr))
    return rows


def format_table(rows: list[ConceptStats]) -> str:
    """A Markdown table of the stats, one concept per line."""
    lines = ["| concept | difficulty | positives | prevalence | zero-shot AUC-PR |", "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        auc = "" if r.zero_shot_auc_pr is None else f"{r.zero_shot_auc_pr:.3f}"
        lines.append(f"| {r.name} | {r.difficulty} | {r.positives} | {100 * r.prevalence:.2f}% | {auc} |")
    return "\n".join(lines)


def mean_auc_pr(rows: list[ConceptStats], difficulty: str) -> float:
    values = [r.zero_shot_auc_pr for r in rows if r.difficulty == difficulty and r.zero_shot_auc_pr is not None]
    return float(np.mean(values)) if values else float("nan")
