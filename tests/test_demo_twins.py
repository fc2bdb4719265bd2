"""Twin scenes: the world's own scenes, each with a twin that differs in one group's shape, pattern or colour only."""
from __future__ import annotations

from collections import Counter
from dataclasses import fields

import numpy as np
import pytest

from agile.demo.attributes import IMAGE_SIZE, hidden_colors
from agile.demo.foils import aligned_captions
from agile.demo.twins import render_with_twins
from agile.demo.world import render_batch


@pytest.fixture(scope="module")
def rendered():
    return render_with_twins(4, 100, 300)


def test_the_scenes_and_pixels_are_the_worlds_own(rendered):
    scenes, images, _, _ = rendered
    world_scenes, world_images = render_batch(4, 100, 300)
    assert scenes == world_scenes and np.array_equal(images, world_images)


def _changed_fields(a, b) -> set[str]:
    return {f.name for f in fields(a) if getattr(a, f.name) != getattr(b, f.name)}


def test_a_twin_changes_one_groups_shape_or_pattern_to_a_value_the_scene_lacks(rendered):
    scenes, _, twins, _ = rendered
    kinds = Counter()
    for scene, twin in zip(scenes, twins):
        if twin is None:
            continue
        pairs = [(o, t) for o, t in zip(scene.objects, twin.scene.objects) if o != t]
        changed = set().union(*(_changed_fields(o, t) for o, t in pairs))
        assert pairs and len(changed) == 1 and changed <= {"shape", "pattern"}, (scene, twin)
        kind = changed.pop()
        kinds[kind] += 1
        assert len({o.shape for o, _ in pairs}) == 1  # one same-shape group
        assert len({getattr(t, kind) for _, t in pairs}) == 1
        assert getattr(pairs[0][1], kind) not in {getattr(o, kind) for o in scene.objects}
    assert kinds["shape"] > kinds["pattern"] > 30


def test_a_twin_differs_in_pixels_only_where_its_changed_objects_are(rendered):
    scenes, images, twins, twin_images = rendered
    yy, xx = np.mgrid[:IMAGE_SIZE, :IMAGE_SIZE]
    for scene, twin, a, b in zip(scenes, twins, images, twin_images):
        if twin is None:
            assert np.array_equal(a, b)
            continue
        near = np.zeros((IMAGE_SIZE, IMAGE_SIZE), bool)
        for o, t in zip(scene.objects, twin.scene.objects):
            if o != t:
                # the box the renderer draws an object in
                near |= (np.abs(xx - o.x * IMAGE_SIZE) <= o.radius + 3) & (np.abs(yy - o.y * IMAGE_SIZE) <= o.radius + 3)
        differs = (a != b).any(axis=-1)
        assert differs.any() and not (differs & ~near).any()


def test_captions_of_a_scene_and_its_twin_differ_in_the_changed_value(rendered):
    scenes, _, twins, _ = rendered
    rng = np.random.default_rng(5)
    kept = 0
    for scene, twin in zip(scenes, twins):
        if twin is None:
            continue
        caption, other = aligned_captions(scene, (twin.scene, twin.words), rng, 0.1)
        if other is None:
            continue
        kept += 1
        new_words = set(other.replace(",", " ").split()) - set(caption.replace(",", " ").split())
        assert new_words & twin.words, (caption, other)
    assert kept > 0.4 * sum(t is not None for t in twins)


def test_a_colour_twin_never_hides_its_object_in_the_background():
    scenes, _, twins, _ = render_with_twins(5, 0, 400, kinds=("color",))
    changed = 0
    for scene, twin in zip(scenes, twins):
        if twin is None:
            continue
        changed += 1
        assert {o.color for o in twin.scene.objects}.isdisjoint(hidden_colors(scene.background, scene.bg_color))
        assert [o.shape for o in twin.scene.objects] == [o.shape for o in scene.objects]
    assert changed > 300


def test_no_kinds_draws_no_twins_and_keeps_one_copy_of_the_pixels():
    scenes, images, twins, twin_images = render_with_twins(4, 100, 50, kinds=())
    world_scenes, world_images = render_batch(4, 100, 50)
    assert scenes == world_scenes and np.array_equal(images, world_images)
    assert twins == [None] * 50 and twin_images is images
