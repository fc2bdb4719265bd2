"""Foil captions: aligned with the true caption word for word, and false of the scene."""
from __future__ import annotations

import numpy as np

from agile.demo.attributes import SHAPES
from agile.demo.captions import SHAPE_WORDS, write_caption
from agile.demo.foils import caption_with_foil
from agile.demo.world import scene_at

_SHAPE_OF = {w: s for s in SHAPES for pair in SHAPE_WORDS[s] for w in pair if " " not in w}


def _shapes_named(text: str) -> set[str]:
    return {_SHAPE_OF[w] for w in text.replace(",", " ").split() if w in _SHAPE_OF}


def _pairs(n: int = 800, generic_p: float = 0.1):
    rng = np.random.default_rng(3)
    return [(scene, *caption_with_foil(scene, rng, generic_p)) for scene in (scene_at(11, i) for i in range(n))]


def test_most_scenes_get_a_foil_that_differs_from_their_caption():
    pairs = _pairs()
    foils = [f for _, _, f in pairs if f is not None]
    assert len(foils) > 0.35 * len(pairs)
    assert all(f != c for _, c, f in pairs if f is not None)


def test_a_foil_that_names_a_new_shape_names_one_the_scene_lacks():
    checked = 0
    for scene, caption, foil in _pairs():
        if foil is None:
            continue
        shapes = _shapes_named(foil) - _shapes_named(caption)
        if shapes:
            checked += 1
            assert not shapes & {o.shape for o in scene.objects}, (caption, foil)
    assert checked > 50


def test_held_out_captions_are_unchanged_by_the_training_options():
    """generic_p=0 draws exactly what the caption writer always drew (held-out figures stay comparable)."""
    scenes = [scene_at(2, i) for i in range(200)]
    a = [write_caption(s, np.random.default_rng([9, i])) for i, s in enumerate(scenes)]
    b = [write_caption(s, np.random.default_rng([9, i]), 0.0) for i, s in enumerate(scenes)]
    assert a == b and not {"object", "thing"} & set(" ".join(a).split())
