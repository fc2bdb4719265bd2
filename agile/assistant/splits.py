"""A concept that splits: rated positives forming separate groups (k-means, kept only if silhouette says so)."""
from __future__ import annotations

import numpy as np

from agile.assistant.clusters import kmeans, silhouette
from agile.assistant.findings import Evidence, Finding, Group
from agile.assistant.state import AssistantState

MIN_POSITIVES = 12
MIN_SILHOUETTE = 0.25
MIN_GROUP = 4


def find_splits(state: AssistantState) -> list[Finding]:
    positives = state.vectors[state.truth]
    if len(positives) < MIN_POSITIVES:
        return []
    best = None
    for k in (2, 3, 4):
        labels = kmeans(positives, k, seed=0)
        if np.bincount(labels).min() < MIN_GROUP:
            continue
        score = silhouette(positives, labels)
        if best is None or score > best[0]:
            best = (score, k, labels)
    if best is None or best[0] < MIN_SILHOUETTE:
        return []
    score, k, labels = best
    ids = state.labels.ids[state.truth]
    groups = []
    for g in range(k):
        members = labels == g
        name = ""
        if state.vocabulary is not None:
            centre = positives[members].mean(axis=0)
            name = state.vocabulary.nearest(centre / max(np.linalg.norm(centre), 1e-12), 1)[0][0]
        groups.append(Group(f"{int(members.sum())} images" + (f", near '{name}'" if name else ""),
                            tuple(int(i) for i in ids[members][:6])))
    names = tuple(g.label.split("'")[1] for g in groups if "'" in g.label)
    return [Finding(
        kind="concept-splits", key="concept-splits", severity="suggest",
        title=f"Your positives form {k} groups",
        message=(f"The rated positives form {k} separate groups (silhouette {score:.2f}). If they are different "
                 "things to you, make each a concept of its own or a phrase of its own."),
        evidence=Evidence(image_ids=tuple(i for g in groups for i in g.image_ids), phrases=names,
                          figures={"groups": k, "silhouette": score}, groups=tuple(groups)),
        usefulness=min(1.0, score))]
