"""A concept: its name, positive and negative phrases, and the owner's ratings.

Plain data with validation. The concept name is always the first positive
phrase (the paper seeds expansion with it). Phrases are compared after
trimming and case-folding, so "Tuna" and " tuna" count as duplicates. Each
rating remembers the round it was given in and where the image came from
(expansion, a sampling strategy, ...); rating an image again replaces its
earlier rating, which is how the rater's "undo / change my mind" works.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from agile.errors import AgileError


class ConceptError(AgileError):
    """A concept definition or rating is invalid (blank name, duplicate phrase, bad id)."""


@dataclass(frozen=True)
class Rating:
    id: int
    positive: bool
    round: int = 0
    source: str = "expansion"


def _clean_phrases(phrases: Iterable[str], kind: str) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for phrase in phrases:
        if not isinstance(phrase, str):
            raise ConceptError(f"{kind} phrase {phrase!r} is not text")
        text = " ".join(phrase.split())
        if not text:
            raise ConceptError(f"a {kind} phrase is blank")
        key = text.casefold()
        if key in seen:
            raise ConceptError(f"{kind} phrase {text!r} is given twice")
        seen.add(key)
        out.append(text)
    return out


@dataclass
class Concept:
    name: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    ratings: dict[int, Rating] = field(default_factory=dict)
    model_versions: list[int] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, positives: Iterable[str] = (), negatives: Iterable[str] = ()) -> "Concept":
        """Validate the phrases; the name becomes the first positive phrase."""
        if not isinstance(name, str) or not name.strip():
            raise ConceptError("the concept name is empty")
        name = " ".join(name.split())
        positives = [p for p in positives if not (isinstance(p, str) and " ".join(p.split()).casefold()
                                                  == name.casefold())]
        pos = _clean_phrases([name, *positives], "positive")
        neg = _clean_phrases(negatives, "negative")
        clash = {p.casefold() for p in pos} & {n.casefold() for n in neg}
        if clash:
            raise ConceptError(f"phrase {sorted(clash)[0]!r} is both positive and negative")
        return cls(name=name, positives=pos, negatives=neg)

    # -- ratings -------------------------------------------------------------------
    def rate(self, id: int, positive: bool, round: int = 0, source: str = "expansion",
             count: int | None = None) -> Rating:
        """Record (or replace) the rating of image ``id``.

        ``count``, when given, is the corpus size: ids outside 0..count-1 are refused.
        """
        if isinstance(id, bool) or not isinstance(id, (int, np.integer)):
            raise ConceptError(f"image id {id!r} is not an integer")
        id = int(id)
        if id < 0 or (count is not None and id >= count):
            upper = "" if count is None else f" (0..{count - 1})"
            raise ConceptError(f"image id {id} is not in the corpus{upper}")
        if not isinstance(positive, (bool, np.bool_)):
            raise ConceptError(f"rating of image {id} must be true or false, got {positive!r}")
        if int(round) < 0:
            raise ConceptError(f"round {round} is negative")
        rating = Rating(id=id, positive=bool(positive), round=int(round), source=str(source))
        self.ratings[id] = rating
        return rating

    def unrate(self, id: int) -> None:
        """Forget the rating of ``id`` (undo); unknown ids raise ConceptError."""
        if int(id) not in self.ratings:
            raise ConceptError(f"image {id} has not been rated")
        del self.ratings[int(id)]

    def check_ids(self, count: int) -> None:
        """Raise ConceptError if a rated id lies outside a corpus of ``count`` vectors."""
        bad = [i for i in self.ratings if i >= count]
        if bad:
            raise ConceptError(f"rated image id {min(bad)} is not in the corpus (0..{count - 1})")

    def labeled(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, labels float32 1=positive 0=negative), sorted by id."""
        ids = np.fromiter(sorted(self.ratings), dtype=np.int64, count=len(self.ratings))
        labels = np.fromiter((self.ratings[i].positive for i in ids.tolist()), dtype=np.float32,
                             count=len(ids))
        return ids, labels

    def rated_ids(self) -> np.ndarray:
        return np.fromiter(sorted(self.ratings), dtype=np.int64, count=len(self.ratings))

    def counts(self) -> dict[str, int]:
        positives = sum(r.positive for r in self.ratings.values())
        return {"positive": positives, "negative": len(self.ratings) - positives}

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "positives": self.positives, "negatives": self.negatives,
                "ratings": [[r.id, r.positive, r.round, r.source] for r in self.ratings.values()],
                "model_versions": self.model_versions}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Concept":
        try:
            concept = cls.create(data["name"], data.get("positives", ()), data.get("negatives", ()))
            for id_, positive, round_, source in data.get("ratings", []):
                concept.rate(id_, positive, round_, source)
            concept.model_versions = [int(v) for v in data.get("model_versions", [])]
        except (KeyError, TypeError, ValueError) as e:
            raise ConceptError(f"malformed concept record: {e}") from e
        return concept
