"""The phrase report: how each phrase's expansion images were rated, exhausted and near-duplicate phrases,
and a phrase whose images split into two kinds rated differently."""
from __future__ import annotations

import numpy as np

from agile.assistant.clusters import kmeans
from agile.assistant.findings import Evidence, Finding, Group, pct
from agile.assistant.state import AssistantState

MIN_RATED = 8            # rated neighbours before a phrase's yield means anything
DUPLICATE_OVERLAP = 0.8  # share of shared nearest images that makes two phrases one
AMBIGUOUS_GAP = 0.6      # positive-rate difference between a phrase's two kinds of image
MIN_GROUP = 4
SHOW = 6


def phrase_stats(state: AssistantState, index: int) -> dict:
    """Rated, positive and unrated among one phrase's expansion neighbours."""
    near = state.phrase_neighbours[index]
    near = near[near >= 0]
    at = state.rated_index(near)
    rated = at[at >= 0]
    positive = int(state.truth[rated].sum())
    return {"neighbours": len(near), "rated": len(rated), "positive": positive,
            "rate": positive / len(rated) if len(rated) else 0.0, "unrated": int((at < 0).sum()),
            "rated_positions": rated}


def phrase_findings(state: AssistantState, index: int) -> list[Finding]:
    phrase = state.phrases[index]
    is_positive = index < len(state.concept.positives)
    s = phrase_stats(state, index)
    out: list[Finding] = []
    ids = state.labels.ids[s["rated_positions"]]
    figures = {"rated": s["rated"], "positive": s["positive"], "rate": s["rate"], "unrated": s["unrated"]}
    if s["rated"] >= MIN_RATED:
        low = is_positive and s["rate"] < 0.1
        leaks = not is_positive and s["rate"] > 0.5
        out.append(Finding(
            kind="phrase-yield", key=f"phrase-yield:{phrase}",
            severity="suggest" if low or leaks else "info",
            title=f"'{phrase}': {s['positive']} of {s['rated']} rated images positive",
            message=(f"Of the {s['rated']} rated images among the {s['neighbours']} nearest to the "
                     f"{'positive' if is_positive else 'negative'} phrase '{phrase}', {s['positive']} "
                     f"({pct(s['rate'])}) are positive."
                     + (" It brings almost no positives: reword or remove it." if low else "")
                     + (" Most are positive: it may not be a negative at all." if leaks else "")),
            evidence=Evidence(image_ids=tuple(int(i) for i in ids[:SHOW]), phrases=(phrase,), figures=figures),
            usefulness=0.6 if low or leaks else 0.2))
    if s["neighbours"] and s["unrated"] == 0:
        out.append(Finding(
            kind="phrase-exhausted", key=f"phrase-exhausted:{phrase}", severity="suggest",
            title=f"'{phrase}' is exhausted",
            message=f"All {s['neighbours']} nearest images of '{phrase}' are rated: expanding it again finds "
                    "nothing new. Add a related phrase or let the model choose (a round).",
            evidence=Evidence(phrases=(phrase,), figures=figures), usefulness=0.5))
    ambiguous = _ambiguity(state, phrase, s["rated_positions"])
    if ambiguous:
        out.append(ambiguous)
    return out


def _ambiguity(state: AssistantState, phrase: str, rated: np.ndarray) -> Finding | None:
    """Two clusters of the phrase's rated images with opposite rating rates."""
    if len(rated) < 2 * MIN_GROUP or state.truth[rated].all() or not state.truth[rated].any():
        return None
    x = state.vectors[rated]
    truth = state.truth[rated]
    # Lloyd's iterations find the two clusters in embedding space alone; starting them at the means of
    # the positive and negative ratings only picks which split of the images to look at first.
    parts = kmeans(x, 2, init=np.stack([x[truth].mean(0), x[~truth].mean(0)]))
    sizes = np.bincount(parts, minlength=2)
    if sizes.min() < MIN_GROUP:
        return None
    rates = np.array([state.truth[rated][parts == c].mean() for c in (0, 1)])
    if abs(rates[0] - rates[1]) < AMBIGUOUS_GAP:
        return None
    order = np.argsort(-rates)  # the mostly positive kind first
    groups = tuple(Group(f"{'AB'[n]}: {pct(rates[c])} positive",
                         tuple(int(i) for i in state.labels.ids[rated][parts == c][:SHOW]), float(rates[c]))
                   for n, c in enumerate(order))
    a, b = (rates[c] for c in order)
    return Finding(
        kind="phrase-ambiguous", key=f"phrase-ambiguous:{phrase}", severity="warn",
        title=f"'{phrase}' brings two kinds of image",
        message=(f"'{phrase}' brings two kinds of image: [A, {pct(a)} positive] and [B, {pct(b)} positive]. "
                 "Split it into two phrases, or add a negative phrase for B."),
        evidence=Evidence(image_ids=tuple(i for g in groups for i in g.image_ids),
                          phrases=(phrase,), figures={"rate_a": float(a), "rate_b": float(b),
                                                      "size_a": int(sizes[order[0]]), "size_b": int(sizes[order[1]])},
                          groups=groups),
        usefulness=float(abs(a - b)))


def duplicate_findings(state: AssistantState) -> list[Finding]:
    """Pairs of phrases whose nearest images are mostly the same."""
    near = state.phrase_neighbours
    out = []
    for i in range(len(near)):
        for j in range(i + 1, len(near)):
            shared = len(np.intersect1d(near[i], near[j])) / max(1, near.shape[1])
            if shared >= DUPLICATE_OVERLAP:
                a, b = state.phrases[i], state.phrases[j]
                out.append(Finding(
                    kind="phrase-duplicate", key=f"phrase-duplicate:{a}|{b}", severity="suggest",
                    title=f"'{a}' and '{b}' find the same images",
                    message=f"{pct(shared)} of the nearest images of '{a}' and '{b}' are the same: one of them "
                            "adds little. Replace it with a phrase for a part of the concept not yet covered.",
                    evidence=Evidence(phrases=(a, b), figures={"overlap": shared}), usefulness=0.4))
    return out


def find_phrase_report(state: AssistantState) -> list[Finding]:
    if len(state.phrase_neighbours) == 0:
        return []
    out = duplicate_findings(state)
    for i in range(len(state.phrases)):
        out += phrase_findings(state, i)
    return out
