"""Training captions with a foil: the same words, false in exactly one attribute.

A foil is written from a copy of the scene in which one group of same-shape
objects has a shape, colour, pattern or size that the scene does not have, or
one object more or fewer, with the same random draws as the true caption. A
contrastive model that must rank "two red stars" above "two red hearts" for
the same image learns shape; one that must tell "three stars" from "two
stars" learns count.

A foil is kept only if it differs from the caption in one run of words and
that run names the changed value: when the caption never mentions what
changed, or the draws fell differently, there is no foil (never a true
caption passed off as a false one).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib

import numpy as np

from agile.demo.attributes import COLOR_NAMES, PATTERNS, SHAPES, SIZES, Scene
from agile.demo.captions import COLOR_WORDS, COUNT_WORDS, PATTERN_WORDS, SHAPE_WORDS, SIZE_WORDS, write_caption

_VALUES = {"shape": SHAPES, "color": COLOR_NAMES, "pattern": PATTERNS, "size": SIZES}
_KINDS = ("shape", "shape", "count", "color", "pattern", "size")  # shape twice: the attribute hardest to see
MAX_COUNT = 4


def _tokens(phrases) -> frozenset[str]:
    return frozenset(w for p in phrases for w in p.split()) - {"shape", "shapes"}


_WORDS = {
    "shape": {s: _tokens(w for pair in SHAPE_WORDS[s] for w in pair) for s in SHAPES},
    "color": {c: _tokens(COLOR_WORDS[c]) for c in COLOR_NAMES},
    "pattern": {p: _tokens(PATTERN_WORDS[p]) for p in PATTERNS},
    "size": {s: _tokens(SIZE_WORDS[s]) for s in SIZES},
    "count": {n: _tokens(COUNT_WORDS[n]) for n in COUNT_WORDS},
}


class _EvenDraws:
    """The generator calls the caption writer makes, each consuming exactly one number.

    A pick among three synonyms and a pick among one then use the same number
    of draws, so a caption and its foil stay word-for-word aligned.
    """

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def integers(self, n: int) -> int:
        return min(int(self.rng.random() * n), n - 1)

    def random(self) -> float:
        return self.rng.random()

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self.rng.random()

    def shuffle(self, items: list) -> None:
        self.rng.shuffle(items)


def changed_attribute(scene: Scene, rng: np.random.Generator, kind: str) -> tuple[Scene, frozenset[str]] | None:
    """``scene`` with one same-shape group's ``kind`` (shape, colour, pattern or size) set to a value the scene lacks,
    and the words naming that value; None when the scene already has every value."""
    shape = scene.objects[int(rng.integers(scene.count))].shape
    absent = [v for v in _VALUES[kind] if v not in {getattr(o, kind) for o in scene.objects}]
    if not absent:
        return None
    new = absent[int(rng.integers(len(absent)))]
    objects = tuple(dataclasses.replace(o, **{kind: new}) if o.shape == shape else o for o in scene.objects)
    return dataclasses.replace(scene, objects=objects), _WORDS[kind][new]


def _changed_count(scene: Scene, rng: np.random.Generator) -> tuple[Scene, frozenset[str]] | None:
    i = int(rng.integers(scene.count))
    group = sum(o.shape == scene.objects[i].shape for o in scene.objects)
    if scene.count < MAX_COUNT and (group == 1 or rng.random() < 0.5):
        objects, new = scene.objects + (scene.objects[i],), group + 1
    elif group > 1:  # never remove a group's only object: the rest would still be true
        objects, new = scene.objects[:i] + scene.objects[i + 1:], group - 1
    else:
        return None
    return dataclasses.replace(scene, objects=objects), _WORDS["count"][new]


def foil_scene(scene: Scene, rng: np.random.Generator) -> tuple[Scene, frozenset[str]] | None:
    """A copy of ``scene`` that differs in one attribute and the words naming the new value, or None."""
    kind = _KINDS[int(rng.integers(len(_KINDS)))]
    return _changed_count(scene, rng) if kind == "count" else changed_attribute(scene, rng, kind)


def _words(text: str) -> list[str]:
    return [w.strip(",:") for w in text.split()]


def _names_change(caption: str, foil: str, words: frozenset[str]) -> bool:
    a, b = _words(caption), _words(foil)
    ops = [op for op in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes() if op[0] != "equal"]
    return len(ops) == 1 and bool(words & set(b[ops[0][3]:ops[0][4]]))


def caption_with_foil(scene: Scene, rng: np.random.Generator, generic_p: float = 0.0) -> tuple[str, str | None]:
    """A true caption of ``scene`` and, when one can be written, a foil aligned with it word for word."""
    return aligned_captions(scene, foil_scene(scene, rng), rng, generic_p)


def aligned_captions(scene: Scene, change: tuple[Scene, frozenset[str]] | None, rng: np.random.Generator,
                     generic_p: float = 0.0) -> tuple[str, str | None]:
    """A caption of ``scene`` and one of the changed scene written with the same draws, or None for the second
    when it does not differ from the first in one run of words naming the changed value."""
    draws = _EvenDraws(rng)
    same_draws = _EvenDraws(copy.deepcopy(rng))
    caption = write_caption(scene, draws, generic_p)
    if change is None:
        return caption, None
    other = write_caption(change[0], same_draws, generic_p)
    return caption, (other if _names_change(caption, other, change[1]) else None)
