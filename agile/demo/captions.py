"""Captions written from a scene record, varied so a text tower learns words, not templates.

Each caption mentions a random subset of what is true (sometimes the colour,
sometimes the pattern, sometimes only the background), with synonyms, counts
in words or digits, and different word orders. It never states anything false,
so the contrastive model learns the attributes themselves.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from agile.demo.attributes import Scene, SceneObject

SHAPE_WORDS = {
    "circle": (("circle", "circles"), ("disc", "discs"), ("round shape", "round shapes")),
    "square": (("square", "squares"), ("box", "boxes"), ("block", "blocks")),
    "triangle": (("triangle", "triangles"),),
    "star": (("star", "stars"),),
    "heart": (("heart", "hearts"),),
    "cross": (("cross", "crosses"), ("plus sign", "plus signs"), ("plus", "pluses")),
    "ring": (("ring", "rings"), ("donut", "donuts"), ("hoop", "hoops")),
    "crescent": (("crescent", "crescents"), ("moon", "moons"), ("crescent moon", "crescent moons")),
    "diamond": (("diamond", "diamonds"), ("rhombus", "rhombuses")),
    "hexagon": (("hexagon", "hexagons"),),
}
COLOR_WORDS = {
    "red": ("red", "red", "crimson", "scarlet"), "orange": ("orange",), "yellow": ("yellow", "yellow", "golden"),
    "green": ("green",), "blue": ("blue", "blue", "navy"), "purple": ("purple", "purple", "violet"),
    "pink": ("pink",), "brown": ("brown",), "black": ("black",), "gray": ("gray", "grey"),
    "white": ("white",), "teal": ("teal", "cyan", "turquoise"),
}
SIZE_WORDS = {"small": ("small", "tiny", "little"), "medium": ("medium", "medium-sized", ""),
              "large": ("large", "big", "huge")}
PATTERN_WORDS = {"solid": ("solid", "plain", ""), "striped": ("striped", "stripy"),
                 "dotted": ("dotted", "spotted", "polka-dot"), "outlined": ("outlined", "hollow", "outline")}
COUNT_WORDS = {1: ("a", "one", "a single", "1"), 2: ("two", "2", "a pair of"), 3: ("three", "3"), 4: ("four", "4")}
BACKGROUND_WORDS = {
    "white": ("on a white background", "on white", "on a plain white background", "against white"),
    "color": ("on a {c} background", "on plain {c}", "against a {c} backdrop"),
    "gradient": ("on a gradient background", "on a gradient", "against a colour gradient"),
    "stripes": ("on a striped background", "over stripes", "on a background of stripes"),
    "grass": ("on grass", "on a grassy field", "in the grass", "on a lawn"),
    "sky": ("in the sky", "against a blue sky", "in front of clouds"),
    "water": ("on water", "over the sea", "on rippling water", "floating on water"),
    "clutter": ("on a cluttered background", "among clutter", "on a busy messy background"),
}
LEADS = ("", "", "", "a picture of ", "an image of ", "a photo of ", "there is ")
GENERIC_WORDS = (("shape", "shapes"), ("object", "objects"), ("thing", "things"))


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def _group_phrase(rng: np.random.Generator, objs: list[SceneObject], detail: float, generic: bool = False) -> str:
    """Words for a group of objects that share a shape; adjectives only where all agree.

    ``generic`` names the shape with a word that fits any ("a red shape").
    """
    n, first = len(objs), objs[0]
    words = [_pick(rng, COUNT_WORDS[n])]
    if len({o.size for o in objs}) == 1 and rng.random() < detail * 0.6:
        words.append(_pick(rng, SIZE_WORDS[first.size]))
    if len({o.pattern for o in objs}) == 1 and rng.random() < detail * 0.7:
        words.append(_pick(rng, PATTERN_WORDS[first.pattern]))
    if len({o.color for o in objs}) == 1 and rng.random() < detail:
        words.append(_pick(rng, COLOR_WORDS[first.color]))
    singular, plural = _pick(rng, GENERIC_WORDS if generic else SHAPE_WORDS[first.shape])
    words.append(singular if n == 1 else plural)
    return _article(" ".join(w for w in words if w))


def _article(phrase: str) -> str:
    return "an " + phrase[2:] if phrase.startswith("a ") and phrase[2] in "aeiou" else phrase


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _background(rng: np.random.Generator, scene: Scene) -> str:
    return _pick(rng, BACKGROUND_WORDS[scene.background]).format(c=_pick(rng, COLOR_WORDS.get(scene.bg_color, ("",))))


def write_caption(scene: Scene, rng: np.random.Generator, generic_p: float = 0.0) -> str:
    """One random true description of ``scene``.

    With ``generic_p`` > 0 (training captions), a group's shape is named by a
    word that fits any shape with that probability, and a count alone may
    describe one object too ("one object"), so the text tower learns what the
    attribute words mean without a shape beside them. The default draws
    exactly the numbers it always drew, so held-out captions do not change.
    """
    by_shape: dict[str, list[SceneObject]] = {}
    for obj in scene.objects:
        by_shape.setdefault(obj.shape, []).append(obj)
    groups = list(by_shape.values())
    rng.shuffle(groups)
    detail = rng.uniform(0.5, 1.0)
    mode = rng.random()
    if mode < 0.06:  # background only
        return _pick(rng, LEADS) + "something " + _background(rng, scene)
    if mode < 0.12 and (scene.count > 1 or generic_p > 0):  # the count alone
        noun = _pick(rng, GENERIC_WORDS)[scene.count > 1]
        text = _article(f"{_pick(rng, COUNT_WORDS[scene.count][:2])} {noun}")
    elif mode < 0.18 and len(groups) > 1:  # colours alone
        colors = Counter(o.color for o in scene.objects)
        text = _join([_pick(rng, COLOR_WORDS[c]) for c in colors]) + " " + _pick(rng, ("shapes", "objects"))
    else:
        text = _join([_group_phrase(rng, g, detail, generic_p > 0 and rng.random() < generic_p) for g in groups])
    lead = _pick(rng, LEADS)
    if rng.random() < 0.7:
        bg = _background(rng, scene)
        return f"{bg[0].upper()}{bg[1:]}: {text}" if rng.random() < 0.15 else f"{lead}{text} {bg}"
    return lead + text


def object_caption(scene: Scene, rng: np.random.Generator, pattern_p: float = 0.5, color_p: float = 0.0) -> str:
    """A one-object scene named by its shape and, with ``pattern_p``, its pattern: "a star", "one striped disc".

    With ``color_p`` the caption names the colour too ("a red star"). The
    words are the writer's own (any synonym, any way to say one). A caption
    that names nothing else can only be matched by seeing the shape, which is
    how a demo CLIP trained from scratch learns shape at all; one that never
    names the colour teaches it to ignore colour, which the colour words
    prevent.
    """
    obj = scene.objects[0]
    pattern = _pick(rng, PATTERN_WORDS[obj.pattern]) if rng.random() < pattern_p else ""
    # no draw when colour is never named, so captions from before color_p existed are drawn the same
    color = _pick(rng, COLOR_WORDS[obj.color]) if color_p and rng.random() < color_p else ""
    words = (_pick(rng, COUNT_WORDS[1]), pattern, color, _pick(rng, SHAPE_WORDS[obj.shape])[0])
    return _article(" ".join(w for w in words if w))
