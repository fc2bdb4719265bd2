"""What a demo scene is made of: the attribute vocabulary and the scene record.

A scene is fully described by its ``Scene`` record; the renderer draws it and
the caption writer describes it, so captions, ground truth and pixels can
never disagree. ``sample_scene`` draws a record from a seeded generator.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 64

SHAPES = ("circle", "square", "triangle", "star", "heart", "cross", "ring", "crescent", "diamond", "hexagon")

# Named object colours (RGB); each drawn object gets jitter around its colour.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (240, 215, 35),
    "green": (45, 160, 55),
    "blue": (35, 75, 215),
    "purple": (135, 45, 175),
    "pink": (245, 130, 190),
    "brown": (120, 72, 32),
    "black": (22, 22, 22),
    "gray": (130, 130, 130),
    "white": (250, 250, 250),
    "teal": (20, 175, 170),
}
COLOR_NAMES = tuple(COLORS)

SIZES = ("small", "medium", "large")
SIZE_RADIUS = {"small": (5.0, 7.0), "medium": (8.0, 11.0), "large": (12.0, 15.5)}

PATTERNS = ("solid", "striped", "dotted", "outlined")
PATTERN_P = (0.55, 0.15, 0.15, 0.15)

BACKGROUNDS = ("white", "color", "gradient", "stripes", "grass", "sky", "water", "clutter")
BACKGROUND_P = (0.25, 0.15, 0.10, 0.10, 0.10, 0.10, 0.10, 0.10)
# Plain-colour backgrounds use a lighter subset so objects stay visible.
BACKGROUND_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "gray", "teal")

COUNT_P = (0.40, 0.30, 0.18, 0.12)  # 1, 2, 3, 4 objects
SAME_SHAPE_P = 0.3   # multi-object scenes where every object shares one shape ("three stars")
SAME_COLOR_P = 0.25  # ... or one colour


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    size: str
    pattern: str
    x: float  # centre, 0 (left) .. 1 (right)
    y: float  # centre, 0 (top) .. 1 (bottom)
    radius: float  # pixels
    angle: float  # radians, small tilt


@dataclass(frozen=True)
class Scene:
    background: str
    bg_color: str  # the named colour of a plain-colour background, else ""
    objects: tuple[SceneObject, ...]

    @property
    def count(self) -> int:
        return len(self.objects)


class _Draws:
    """Uniform numbers for one scene, drawn in a single call (per-value ``rng.choice`` is ~20x slower)."""

    def __init__(self, rng: np.random.Generator, n: int = 48):
        self.values = rng.random(n).tolist()
        self.i = 0

    def uniform(self, lo: float = 0.0, hi: float = 1.0) -> float:
        self.i += 1
        return lo + (hi - lo) * self.values[self.i - 1]

    def pick(self, options: tuple[str, ...], cumulative: tuple[float, ...] | None = None) -> str:
        u = self.uniform()
        if cumulative is None:
            return options[min(int(u * len(options)), len(options) - 1)]
        return options[min(bisect.bisect_right(cumulative, u), len(options) - 1)]


def _cumulative(p: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(np.cumsum(p) / np.sum(p))


_PATTERN_CUM, _BACKGROUND_CUM, _COUNT_CUM = _cumulative(PATTERN_P), _cumulative(BACKGROUND_P), _cumulative(COUNT_P)
_PLACEMENT_TRIES = 30


def _place(rng: np.random.Generator, radii: list[float]) -> list[tuple[float, float]]:
    """Centres for objects of the given radii, overlapping little; objects that do not fit are dropped."""
    candidates = rng.random((len(radii), _PLACEMENT_TRIES, 2)).tolist()
    placed: list[tuple[float, float, float]] = []
    for r, tries in zip(radii, candidates):
        span = IMAGE_SIZE - 2 * r - 2
        for ux, uy in tries:
            cx, cy = r + 1 + span * ux, r + 1 + span * uy
            if all((cx - px) ** 2 + (cy - py) ** 2 > (0.9 * (r + pr)) ** 2 for px, py, pr in placed):
                placed.append((cx, cy, r))
                break
    return [(cx, cy) for cx, cy, _ in placed]


def hidden_colors(background: str, bg_color: str) -> set[str]:
    """Object colours a background would hide: white on white or sky, the background's own colour."""
    return {"white"} if background in ("white", "sky") else ({bg_color} if bg_color else set())


def sample_scene(rng: np.random.Generator) -> Scene:
    d = _Draws(rng)
    background = d.pick(BACKGROUNDS, _BACKGROUND_CUM)
    bg_color = d.pick(BACKGROUND_COLORS) if background == "color" else ""
    count = int(d.pick((1, 2, 3, 4), _COUNT_CUM))
    # Objects must stand out.
    banned = hidden_colors(background, bg_color)
    palette = tuple(c for c in COLOR_NAMES if c not in banned)
    shared_shape = d.pick(SHAPES) if count > 1 and d.uniform() < SAME_SHAPE_P else None
    shared_color = d.pick(palette) if count > 1 and d.uniform() < SAME_COLOR_P else None
    specs = []
    for _ in range(count):
        size = d.pick(SIZES)
        lo, hi = SIZE_RADIUS[size]
        specs.append((
            shared_shape or d.pick(SHAPES),
            shared_color or d.pick(palette),
            size,
            d.pick(PATTERNS, _PATTERN_CUM),
            d.uniform(lo, hi),
            d.uniform(-0.25, 0.25),
        ))
    # Place big objects first so they find room.
    specs.sort(key=lambda s: -s[4])
    centres = _place(rng, [s[4] for s in specs])
    objects = tuple(
        SceneObject(shape, color, size, pattern, round(cx / IMAGE_SIZE, 4), round(cy / IMAGE_SIZE, 4), radius, angle)
        for (shape, color, size, pattern, radius, angle), (cx, cy) in zip(specs, centres)
    )
    return Scene(background, bg_color, objects)
