"""Refusals with reasons, before work is wasted: a policy on what may be built, and targets that cannot be judged.

Each check raises ``Refusal`` with a message that names the rule or the
number behind it; callers show it as it is.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from pydantic import BaseModel, Field, field_validator

from agile.errors import AgileError
from agile.formats import FormatModel
from agile.targets import Target

DEFAULT_POLICY = Path(__file__).parent / "policy" / "default.json"


class Refusal(AgileError):
    """The request is refused for a stated reason (a policy rule, an unmeasurable target, ...)."""


class PolicyRule(BaseModel):
    name: str = Field(min_length=1)
    patterns: list[str] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            re.compile(p)
        return patterns


class Policy(FormatModel):
    format: int = 1
    rules: list[PolicyRule] = Field(default_factory=list)


@lru_cache(maxsize=8)
def load_policy(path: str | Path = DEFAULT_POLICY) -> Policy:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise Refusal(f"{path}: cannot read the concept policy: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise Refusal(f"{path}: line {e.lineno}: not JSON: {e.msg}") from None
    return Policy.parse(data, str(path), Refusal)


def check_policy(texts: Sequence[str], policy: Policy) -> None:
    """Refuse a concept whose name or phrases match a rule of the policy; the message names the rule."""
    for rule in policy.rules:
        for text in texts:
            if any(re.search(p, text, re.IGNORECASE) for p in rule.patterns):
                raise Refusal(f"this deployment does not build classifiers of {rule.name} "
                              f"(the phrase {text[:60]!r} matches its policy rule {rule.name!r})")


def _meaning(phrase: str) -> str:
    """A phrase with case, punctuation, articles and plural -s set aside: "The Stars!" -> "star"."""
    words = re.sub(r"[^\w]+", " ", phrase.casefold()).split()
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                    for w in words if w not in ("a", "an", "the"))


def check_phrases_agree(positives: Sequence[str], negatives: Sequence[str]) -> None:
    """Refuse a positive and a negative phrase that say the same thing ("tuna" and "Tuna!").

    Phrases that differ in words but embed alike are not refused: a weak text
    model may put "stars" and "a circle" together, and that is the embedding's
    limit to report (the assistant does), not a contradiction of the owner's.
    """
    seen = {_meaning(p): p for p in positives}
    for negative in negatives:
        if _meaning(negative) in seen:
            raise Refusal(f"the positive phrase {seen[_meaning(negative)]!r} and the negative phrase {negative!r} "
                          "say the same thing: the concept contradicts itself; remove one or make them differ")


def check_measurable(target: Target, positives: int, negatives: int) -> None:
    """Refuse a target finer than the evaluation set can resolve.

    With P rated positives one image more or less moves recall by 1/P, so a
    value above 1 - 1/P cannot be told from perfect; 10 of each class is the
    least on which any of the metrics means something.
    """
    if positives < 10 or negatives < 10:
        raise Refusal(f"the evaluation set has {positives} positive and {negatives} negative ratings; at least 10 "
                      "of each are needed to judge a target: rate more of it (or start an evaluate job)")
    finest = 1 - 1 / positives
    if target.value > finest:
        raise Refusal(f"a target of {target.value:g} is above what {positives} rated positives can measure (at most "
                      f"{finest:.3f}): rate a larger evaluation set or lower the target")


def check_two_classes(positives: int, negatives: int) -> None:
    """Refuse to judge a concept whose training ratings hold one class only."""
    if positives == 0 or negatives == 0:
        have, need = ("negative", "positive") if positives == 0 else ("positive", "negative")
        raise Refusal(f"every training rating is {have}: a target cannot be judged on one class (even where "
                      f"random images stand in as negatives for training); rate some {need} images first")
