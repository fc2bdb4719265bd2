"""Twin scenes: a training scene drawn again with one group's shape, pattern or colour changed.

The twin is rendered with the scene's own random numbers, so its background,
placement, colour jitter and tilt are the scene's to the pixel; only the changed
objects differ. A batch holding both, each with its own caption written from
the same draws, can only be sorted by what changed: the image tower must see
it, not just the text tower learn to reject foils. Which attributes
change is the caller's choice (``kinds``): an image tower pushed hard on shape
alone learns to ignore colour.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from agile.demo.attributes import IMAGE_SIZE, Scene, hidden_colors, sample_scene
from agile.demo.foils import changed_attribute
from agile.demo.render import render_scene
from agile.demo.world import scene_rng

TWIN_KINDS = ("shape", "shape", "pattern")  # shape twice: the attribute hardest to see
TWIN_STREAM = 1  # a scene's generator is seeded (seed, index); its twin's pick (seed, index, 1)


@dataclass(frozen=True)
class Twin:
    scene: Scene
    words: frozenset[str]  # the words naming the new value


def render_with_twins(seed: int, start: int, count: int, kinds: tuple[str, ...] = TWIN_KINDS
                      ) -> tuple[list[Scene], np.ndarray, list[Twin | None], np.ndarray]:
    """Scenes ``start .. start+count-1`` of world ``seed`` (as ``render_batch``) and a twin of each where one exists.

    Which attribute changes (one of ``kinds``), and to what, is drawn from a
    generator of its own, ``(seed, index, TWIN_STREAM)``, so the scenes
    themselves are exactly the world's. A scene with no twin (every value
    already present, or a colour its background would hide) keeps a copy of
    its own pixels in the twin array. No ``kinds``: no twins are drawn, and the
    twin array is the scenes' own.
    """
    scenes, twins = [], []
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    twin_images = np.empty_like(images) if kinds else images
    for i in range(count):
        rng = scene_rng(seed, start + i)
        scene = sample_scene(rng)
        pixel_rng = copy.deepcopy(rng)
        images[i] = render_scene(scene, rng)
        pick = np.random.default_rng([seed, start + i, TWIN_STREAM])
        change = changed_attribute(scene, pick, kinds[int(pick.integers(len(kinds)))]) if kinds else None
        if change and not _visible(change[0]):
            change = None
        scenes.append(scene)
        twins.append(Twin(*change) if change else None)
        twin_images[i] = render_scene(change[0], pixel_rng) if change else images[i]
    return scenes, images, twins, twin_images


def _visible(scene: Scene) -> bool:
    return not {o.color for o in scene.objects} & hidden_colors(scene.background, scene.bg_color)
