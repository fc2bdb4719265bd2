"""Scenes addressed by ``demo://<seed>/<index>`` URIs.

Scene ``index`` of world ``seed`` is drawn from its own generator, seeded with
``(seed, index)``, so any scene can be rebuilt alone, in any order, on any
machine: the corpus stores only the URI and the rater re-renders the exact
pixels that were embedded.
"""
from __future__ import annotations

import re

import numpy as np
from PIL import Image

from agile.demo.attributes import IMAGE_SIZE, Scene, sample_scene
from agile.demo.render import render_scene
from agile.errors import AgileError

SCHEME = "demo://"
_URI = re.compile(r"^demo://(\d{1,19})/(\d{1,19})$")


class DemoUriError(AgileError):
    """A string is not a valid ``demo://<seed>/<index>`` URI."""


def demo_uri(seed: int, index: int) -> str:
    return f"{SCHEME}{seed}/{index}"


def parse_uri(uri: str) -> tuple[int, int]:
    match = _URI.match(uri)
    if match is None:
        raise DemoUriError(f"not a demo scene URI (expected demo://<seed>/<index>): {uri!r}")
    return int(match.group(1)), int(match.group(2))


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator that draws scene ``index`` of world ``seed``, then its pixels."""
    return np.random.default_rng([seed, index])


def scene_at(seed: int, index: int) -> Scene:
    """The attribute record of one scene (cheap: no pixels)."""
    return sample_scene(scene_rng(seed, index))


def render_at(seed: int, index: int) -> tuple[Scene, np.ndarray]:
    """One scene's record and its pixels, uint8 (64, 64, 3)."""
    rng = scene_rng(seed, index)
    scene = sample_scene(rng)
    return scene, render_scene(scene, rng)


def render_uri(uri: str) -> Image.Image:
    """The exact RGB image a ``demo://`` URI names."""
    return Image.fromarray(render_at(*parse_uri(uri))[1], mode="RGB")


def render_batch(seed: int, start: int, count: int) -> tuple[list[Scene], np.ndarray]:
    """Scenes ``start .. start+count-1`` and their pixels stacked as uint8 (count, H, W, 3)."""
    scenes, images = [], np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    for i in range(count):
        scene, images[i] = render_at(seed, start + i)
        scenes.append(scene)
    return scenes, images
