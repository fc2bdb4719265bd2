"""The demo world's generator, renderer and captions."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from agile.demo import DemoUriError, demo_uri, parse_uri, render_at, render_batch, render_uri, scene_at
from agile.demo.attributes import BACKGROUNDS, COLOR_NAMES, PATTERNS, SHAPES, SIZES
from agile.demo.captions import BACKGROUND_WORDS, COLOR_WORDS, PATTERN_WORDS, SHAPE_WORDS, object_caption, write_caption
from agile.demo.render import shape_sdf


def test_scene_is_a_pure_function_of_seed_and_index():
    a_scene, a_pixels = render_at(3, 41)
    b_scene, b_pixels = render_at(3, 41)
    assert a_scene == b_scene
    assert np.array_equal(a_pixels, b_pixels)
    # Order independence: the batch renderer gives the same pixels as one-off renders.
    scenes, images = render_batch(3, 40, 3)
    assert scenes[1] == a_scene and np.array_equal(images[1], a_pixels)
    assert not np.array_equal(render_at(4, 41)[1], a_pixels)


def test_render_uri_is_the_embedded_image():
    img = render_uri(demo_uri(7, 123))
    assert isinstance(img, Image.Image) and img.mode == "RGB" and img.size == (64, 64)
    assert np.array_equal(np.asarray(img), render_at(7, 123)[1])


@pytest.mark.parametrize("bad", ["demo://x/1", "demo://1", "file:///a.png", "demo://1/2/3", "demo://-1/2"])
def test_bad_uris_raise_a_typed_error(bad):
    with pytest.raises(DemoUriError, match="demo://"):
        parse_uri(bad)


def test_attributes_cover_the_vocabulary_and_stay_in_bounds():
    scenes = [scene_at(0, i) for i in range(3000)]
    objects = [o for s in scenes for o in s.objects]
    assert {s.background for s in scenes} == set(BACKGROUNDS)
    assert {o.shape for o in objects} == set(SHAPES)
    assert {o.color for o in objects} == set(COLOR_NAMES)
    assert {o.pattern for o in objects} == set(PATTERNS)
    assert {o.size for o in objects} == set(SIZES)
    assert {s.count for s in scenes} == {1, 2, 3, 4}
    assert all(0 < o.x < 1 and 0 < o.y < 1 for o in objects)
    # Objects never vanish into their background.
    assert not any(o.color == "white" for s in scenes if s.background == "white" for o in s.objects)
    assert not any(o.color == s.bg_color for s in scenes if s.bg_color for o in s.objects)


def test_objects_are_drawn_where_the_record_says():
    """The pixel at each solid object's centre has (about) the object's colour."""
    from agile.demo.attributes import COLORS

    checked = 0
    for i in range(300):
        scene, pixels = render_at(11, i)
        if scene.count != 1 or scene.objects[0].pattern != "solid" or scene.objects[0].shape in ("ring", "crescent"):
            continue
        o = scene.objects[0]
        centre = pixels[int(o.y * 64), int(o.x * 64)].astype(float)
        nearest = min(COLORS, key=lambda c: np.sum((np.array(COLORS[c]) - centre) ** 2))
        assert nearest == o.color, (i, scene)
        checked += 1
    assert checked > 30


def test_shapes_are_distinct_masks():
    v, u = (np.mgrid[0:64, 0:64] - 31.5) / 25.0
    masks = {s: shape_sdf(s, u, v) < 0 for s in SHAPES}
    for s in SHAPES:
        assert 0.05 < masks[s].mean() < 0.6, s
    for a in SHAPES:
        for b in SHAPES:
            if a < b:
                assert (masks[a] != masks[b]).mean() > 0.02, (a, b)


def _reverse(words: dict) -> dict[str, str]:
    out = {}
    for key, options in words.items():
        for option in options:
            for w in (option if isinstance(option, tuple) else (option,)):
                if w:
                    out[w] = key
    return out


NUMBERS = {"one": 1, "1": 1, "single": 1, "two": 2, "2": 2, "pair": 2, "three": 3, "3": 3, "four": 4, "4": 4}


def _background_phrases() -> list[tuple[str, str, str]]:
    """(phrase, background, colour) for every concrete background phrase, longest first."""
    out = []
    for kind, phrases in BACKGROUND_WORDS.items():
        for p in phrases:
            if "{c}" in p:
                out += [(p.format(c=w), kind, c) for c, ws in COLOR_WORDS.items() for w in ws]
            else:
                out.append((p, kind, ""))
    return sorted(out, key=lambda t: -len(t[0]))


def test_captions_state_only_true_attributes():
    shapes, colors, patterns = _reverse(SHAPE_WORDS), _reverse(COLOR_WORDS), _reverse(PATTERN_WORDS)
    bg_phrases = _background_phrases()
    rng = np.random.default_rng(0)
    seen, with_background = set(), 0
    for i in range(1500):
        scene = scene_at(5, i)
        caption = write_caption(scene, rng)
        seen.add(caption)
        text = caption.lower()
        for phrase, kind, color in bg_phrases:
            if phrase in text:
                assert kind == scene.background and color == scene.bg_color, (caption, scene)
                text = text.replace(phrase, " ")
                with_background += 1
                break
        scene_shapes = {o.shape for o in scene.objects}
        for w in re.findall(r"[a-z0-9-]+", text):
            if w in colors:
                assert colors[w] in {o.color for o in scene.objects}, (caption, scene)
            if w in shapes and w not in ("plus", "round"):
                assert shapes[w] in scene_shapes, (caption, scene)
            if w in patterns and w != "plain":
                assert patterns[w] in {o.pattern for o in scene.objects}, (caption, scene)
            if w in NUMBERS:
                group_sizes = {sum(o.shape == s for o in scene.objects) for s in scene_shapes} | {scene.count}
                assert NUMBERS[w] in group_sizes, (caption, scene)
    assert len(seen) > 1200  # varied text, not a handful of templates
    assert 600 < with_background < 1400  # backgrounds are mentioned often, not always


def test_object_captions_name_the_one_objects_shape_and_at_most_its_pattern():
    """The curriculum's captions: every word is a count of one, the object's shape or its pattern."""
    patterns = _reverse(PATTERN_WORDS)
    rng = np.random.default_rng(1)
    scenes = [s for s in (scene_at(6, i) for i in range(400)) if s.count == 1]
    with_pattern = 0
    for scene in scenes:
        caption, obj = object_caption(scene, rng), scene.objects[0]
        words = re.findall(r"[a-z0-9-]+", caption)
        assert words[0] in ("a", "an", "one", "single", "1"), caption
        named = {s for s, pairs in SHAPE_WORDS.items() for one, _ in pairs if caption.endswith(" " + one)}
        assert named == {obj.shape}, (caption, obj)
        said = {patterns[w] for w in words if w in patterns}
        assert said <= {obj.pattern}, (caption, obj)
        with_pattern += bool(said)
        assert not set(words) & {w for ws in COLOR_WORDS.values() for w in ws}, caption
    assert 0.2 * len(scenes) < with_pattern < 0.6 * len(scenes)


def test_object_captions_name_the_colour_when_asked_and_never_a_wrong_one():
    """With ``color_p`` the curriculum's captions may name the object's colour, never another."""
    colors = {w: c for c, ws in COLOR_WORDS.items() for w in ws}
    rng = np.random.default_rng(2)
    scenes = [s for s in (scene_at(6, i) for i in range(400)) if s.count == 1]
    with_color = 0
    for scene in scenes:
        caption, obj = object_caption(scene, rng, color_p=0.5), scene.objects[0]
        named = {s for s, pairs in SHAPE_WORDS.items() for one, _ in pairs if caption.endswith(" " + one)}
        assert named == {obj.shape}, (caption, obj)
        said = {colors[w] for w in re.findall(r"[a-z]+", caption) if w in colors}
        assert said <= {obj.color}, (caption, obj)
        with_color += bool(said)
    assert 0.3 * len(scenes) < with_color < 0.7 * len(scenes)
