"""Ask: findings and facts about one target (a phrase, an image, a version, the concept), and free-text
questions matched to finding kinds by keywords. Says plainly when it cannot answer."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from agile.assistant.advice import advise
from agile.assistant.findings import Finding, rank
from agile.assistant.phrases import phrase_findings
from agile.assistant.state import AssistantState
from agile.errors import AgileError

TargetKind = Literal["concept", "phrase", "image", "version"]
NEAREST = 8

# Free text -> the finders that answer it. Keywords, not a language model: plain and predictable.
TOPICS: dict[str, tuple[str, ...]] = {
    "mislabels": ("mislabel", "wrong", "mistake", "error", "flip", "label", "rated", "correct"),
    "phrases": ("phrase", "yield", "exhaust", "duplicate", "ambigu", "word", "expansion"),
    "suggestions": ("suggest", "add", "idea", "missing", "other phrase", "what else", "negative phrase", "try"),
    "splits": ("split", "group", "kinds", "sub", "cluster", "separate"),
    "progress": ("progress", "stop", "done", "better", "improv", "zero-shot", "zero shot", "prevalence", "how many",
                 "changing", "enough", "batch", "positives"),
}


class UnknownTargetError(AgileError):
    """An Ask about a phrase the concept does not have, or a version that does not exist."""


@dataclass(frozen=True)
class Target:
    kind: TargetKind = "concept"
    phrase: str | None = None
    image: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class Answer:
    text: str
    answered: bool
    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "answered": self.answered, "facts": self.facts,
                "findings": [f.to_dict() for f in self.findings]}


def topics_of(question: str) -> set[str]:
    q = question.lower()
    return {topic for topic, words in TOPICS.items() if any(re.search(rf"\b{re.escape(w)}", q) for w in words)}


def ask(state: AssistantState, target: Target, question: str | None = None) -> Answer:
    if target.kind == "image":
        answer = _about_image(state, int(target.image if target.image is not None else -1), target.version)
    elif target.kind == "phrase":
        answer = _about_phrase(state, target.phrase or "")
    elif target.kind == "version":
        answer = _about_version(state, target.version)
    else:
        answer = None
    if question and question.strip():
        topics = topics_of(question)
        if not topics:
            names = ", ".join(TOPICS)
            base = f"{answer.text}\n\n" if answer else ""
            return Answer(base + f"I cannot answer that from this concept's data. I can tell you about: {names}.",
                          answered=answer is not None, findings=answer.findings if answer else [],
                          facts=answer.facts if answer else {})
        found = advise(state, only=topics)
        if answer is not None:
            found = rank([*answer.findings, *[f for f in found if _mentions(f, target)]])
        text = ("\n".join(f"- {f.title}: {f.message}" for f in found) if found else
                f"Nothing to report about {', '.join(sorted(topics))} for this concept yet.")
        return Answer(text if answer is None else f"{answer.text}\n{text}", True, found,
                      answer.facts if answer else {})
    if answer is None:
        found = advise(state)
        text = "\n".join(f"- {f.title}" for f in found) or "No findings yet: rate a batch first."
        return Answer(text, True, found)
    return answer


def _mentions(finding: Finding, target: Target) -> bool:
    if target.kind == "image":
        return target.image in finding.evidence.image_ids
    if target.kind == "phrase":
        return target.phrase in finding.evidence.phrases
    return True


def _about_image(state: AssistantState, image: int, version: int | None) -> Answer:
    corpus = state.workspace.corpus
    corpus.check_ids([image])
    vec = corpus.vectors([image]).astype(np.float32)[0]
    version = version or (state.versions[-1] if state.versions else None)
    if version is not None and version not in state.versions:
        raise UnknownTargetError(f"no model version {version}")
    facts: dict[str, Any] = {"image": image, "version": version}
    lines = []
    score = None
    if version is not None:
        score = float(state.model(version).score_vectors(vec[None])[0])
        facts["score"] = round(score, 4)
    rated_at = state.rated_index(np.array([image]))[0]
    if rated_at >= 0:
        facts["rating"] = bool(state.truth[rated_at])
    neighbours = []
    if len(state.labels.ids):
        sims = state.vectors @ vec
        if rated_at >= 0:
            sims[rated_at] = -np.inf
        order = np.argsort(-sims)[:NEAREST]
        order = order[np.isfinite(sims[order])]
        scores = (state.model(version).score_vectors(state.vectors[order]) if version is not None
                  else np.full(len(order), np.nan))
        neighbours = [{"id": int(state.labels.ids[j]), "rating": bool(state.truth[j]),
                       "similarity": round(float(sims[j]), 4),
                       "score": None if np.isnan(s) else round(float(s), 4)} for j, s in zip(order, scores)]
    facts["neighbours"] = neighbours
    phrases = []
    if len(state.phrase_embeddings):
        cos = state.phrase_embeddings @ vec
        phrases = [{"phrase": state.phrases[i], "cosine": round(float(cos[i]), 4), "source": "concept"}
                   for i in np.argsort(-cos)[:3]]
    if state.vocabulary is not None:
        phrases += [{"phrase": p, "cosine": round(c, 4), "source": "vocabulary"}
                    for p, c in state.vocabulary.nearest(vec, 3, exclude=state.phrases)]
    facts["phrases"] = phrases
    if score is not None:
        lines.append(f"Version {version} scores image {image} {score:.2f}.")
    if "rating" in facts:
        lines.append(f"You rated it {'positive' if facts['rating'] else 'negative'}.")
    if neighbours:
        pos = sum(n["rating"] for n in neighbours)
        lines.append(f"Of its {len(neighbours)} nearest rated images, {pos} are positive and "
                     f"{len(neighbours) - pos} negative: "
                     + ", ".join(f"{n['id']} ({'+' if n['rating'] else '-'}"
                                 + (f", {n['score']:.2f})" if n["score"] is not None else ")") for n in neighbours)
                     + ".")
    else:
        lines.append("No image is rated yet, so there are no rated neighbours to compare it with.")
    if phrases:
        lines.append("Phrases nearest to it: " + ", ".join(f"'{p['phrase']}'" for p in phrases) + ".")
    found = [f for f in advise(state, only={"mislabels"}) if image in f.evidence.image_ids]
    return Answer(" ".join(lines), True, found, facts)


def _about_phrase(state: AssistantState, phrase: str) -> Answer:
    if phrase not in state.phrases:
        raise UnknownTargetError(f"the concept has no phrase {phrase!r}; its phrases: {state.phrases}")
    found = phrase_findings(state, state.phrases.index(phrase))
    found += [f for f in advise(state, only={"phrases"}) if f.kind == "phrase-duplicate" and phrase in f.evidence.phrases]
    if not found:
        return Answer(f"Too few images near '{phrase}' are rated to say how it does.", True, [])
    return Answer("\n".join(f.message for f in rank(found)), True, rank(found))


def _about_version(state: AssistantState, version: int | None) -> Answer:
    if not state.versions:
        return Answer("There is no model version yet: rate the batch and train.", False)
    version = version or state.versions[-1]
    if version not in state.versions:
        raise UnknownTargetError(f"no model version {version}; versions: {state.versions}")
    sidecar = state.store.sidecar(version)
    facts: dict[str, Any] = {"version": version, "labels": sidecar.labels.count,
                             "positives": sidecar.labels.positives, "metrics": sidecar.metrics}
    lines = [f"Version {version} was trained on {sidecar.labels.count} ratings ({sidecar.labels.positives} positive)."]
    moved = state.stability(version)
    if moved is not None:
        facts["changed_from_previous"], facts["kappa_with_previous"] = moved.changed, moved.kappa
        lines.append(f"Compared with version {moved.previous_version}, {100 * moved.changed:.1f}% of a fixed "
                     f"sample of {moved.sample:,} images changed predicted label (agreement kappa {moved.kappa:.2f})"
                     + ("; the model has settled." if moved.settled else "."))
    facts["positive_share"] = float(np.mean(state.sample_scores(version) >= 0.5))
    lines.append(f"It scores {100 * facts['positive_share']:.0f}% of that sample positive.")
    found = [f for f in advise(state, only={"progress"}) if f.kind in ("below-zero-shot",)] if version == state.versions[-1] else []
    return Answer(" ".join(lines), True, found, facts)
