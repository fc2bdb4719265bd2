"""Phrase suggestions from the corpus's vocabulary: positive phrases near modes of the rated positives that no
phrase covers, negative phrases near the rated negatives the model scores high, and first phrases for a name."""
from __future__ import annotations

import numpy as np

from agile.assistant.clusters import kmeans
from agile.assistant.findings import Action, Evidence, Finding
from agile.assistant.state import AssistantState
from agile.assistant.vocabulary import Vocabulary

COVERED = 0.9       # text cosine above which a suggestion says what a phrase already says
PER_MODE = 1
MAX_MODES = 3
HARD_SCORE = 0.5


def _unit(x: np.ndarray) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), 1e-12)


def _fresh(vocabulary: Vocabulary, query: np.ndarray, taken: np.ndarray, exclude: list[str], k: int):
    """The nearest vocabulary phrases to ``query`` that no phrase in ``taken`` (embeddings) already says."""
    out = []
    for phrase, score in vocabulary.nearest(query, 50, exclude):
        vec = vocabulary.embeddings[vocabulary.phrases.index(phrase)]
        if len(taken) and float((taken @ vec).max()) >= COVERED:
            continue
        out.append((phrase, score))
        taken = np.vstack([taken, vec[None]]) if len(taken) else vec[None]
        if len(out) == k:
            break
    return out


def _add_phrase(state: AssistantState, phrase: str, positive: bool) -> Action:
    positives, negatives = list(state.concept.positives), list(state.concept.negatives)
    (positives if positive else negatives).append(phrase)
    return Action(f"add '{phrase}' as {'positive' if positive else 'negative'}", "PATCH", "",
                  {"positives": positives, "negatives": negatives})


def find_suggestions(state: AssistantState) -> list[Finding]:
    vocabulary = state.vocabulary
    if vocabulary is None or len(state.phrase_embeddings) == 0:
        return []
    out = []
    positives = state.vectors[state.truth]
    if len(positives) >= 3:
        modes = min(MAX_MODES, len(positives) // 3)
        labels = kmeans(positives, modes, seed=0) if modes > 1 else np.zeros(len(positives), int)
        pos_ids = state.labels.ids[state.truth]
        for m in range(modes):
            members = labels == m
            centre = _unit(positives[members].mean(axis=0))
            for phrase, score in _fresh(vocabulary, centre, state.phrase_embeddings, state.phrases, PER_MODE):
                out.append(Finding(
                    kind="suggest-positive", key=f"suggest-positive:{phrase}", severity="suggest",
                    title=f"Try the positive phrase '{phrase}'",
                    message=(f"{int(members.sum())} rated positives form a group that no phrase covers; "
                             f"'{phrase}' is the vocabulary phrase nearest to them."),
                    evidence=Evidence(image_ids=tuple(int(i) for i in pos_ids[members][:6]), phrases=(phrase,),
                                      figures={"cosine": score, "images": int(members.sum())}),
                    actions=(_add_phrase(state, phrase, True),),
                    usefulness=0.4 + 0.1 * float(members.mean())))
    if state.versions and (~state.truth).any():
        negatives = state.vectors[~state.truth]
        scores = state.model(state.versions[-1]).score_vectors(negatives)
        hard = scores >= HARD_SCORE
        if hard.sum() >= 3:
            centre = _unit(negatives[hard].mean(axis=0))
            for phrase, score in _fresh(vocabulary, centre, state.phrase_embeddings, state.phrases, 1):
                out.append(Finding(
                    kind="suggest-negative", key=f"suggest-negative:{phrase}", severity="suggest",
                    title=f"Try the negative phrase '{phrase}'",
                    message=(f"Version {state.versions[-1]} scores {int(hard.sum())} images you rated negative "
                             f"at 0.5 or more; '{phrase}' is the vocabulary phrase nearest to them."),
                    evidence=Evidence(image_ids=tuple(int(i) for i in state.labels.ids[~state.truth][hard][:6]),
                                      phrases=(phrase,), figures={"cosine": score, "images": int(hard.sum())}),
                    actions=(_add_phrase(state, phrase, False),), usefulness=0.5))
    return out


def first_phrases(workspace, vocabulary: Vocabulary, text: str, k: int = 8, images: int = 50) -> list[dict]:
    """Phrases for a concept not yet created: near the images nearest to its name, not saying the same."""
    query = workspace.embed_texts([text])
    near = workspace.search(query, images)[0]
    near = near[near >= 0]
    centre = _unit(workspace.corpus.vectors(near).astype(np.float32).mean(axis=0))
    picks = _fresh(vocabulary, _unit(0.5 * centre + 0.5 * query[0]), query, [text], k)
    return [{"phrase": p, "cosine": round(s, 4)} for p, s in picks]
