"""The predicate language and the concept suite's ground truth."""
from __future__ import annotations

import json

import pytest

from agile.demo import SceneTable, SuiteError, load_suite, scene_at
from agile.demo.attributes import Scene, SceneObject
from agile.demo.predicate import PredicateError, evaluate, parse


def _obj(shape="circle", color="red", size="medium", pattern="solid", x=0.5, y=0.5):
    return SceneObject(shape, color, size, pattern, x, y, 8.0, 0.0)


SCENES = [
    Scene("white", "", (_obj("star", "red"),)),
    Scene("white", "", (_obj("star", "blue"), _obj("star", "blue", x=0.2, y=0.2))),
    Scene("grass", "", (_obj("circle", "green", "small"), _obj("ring", "yellow", pattern="dotted"), _obj("star"))),
    Scene("color", "purple", (_obj("heart", "pink", "large"),)),
]


@pytest.fixture(scope="module")
def table():
    return SceneTable.from_scenes(SCENES)


@pytest.mark.parametrize("source, expected", [
    ("count == 1", [1, 0, 0, 1]),
    ("count >= 2 and background == white", [0, 1, 0, 0]),
    ("any(shape == star)", [1, 1, 1, 0]),
    ("all(shape == star)", [1, 1, 0, 0]),
    ("none(color == red)", [0, 1, 0, 1]),
    ("count(shape == star) == 2", [0, 1, 0, 0]),
    ("distinct(color) == 1", [1, 1, 0, 1]),
    ("all(shape in [circle, ring, star])", [1, 1, 1, 0]),
    ("any(color not in [red, blue])", [0, 0, 1, 1]),
    ("background == color and bg_color == purple", [0, 0, 0, 1]),
    ("any(x < 0.3 and y < 0.3)", [0, 1, 0, 0]),
    ("not (any(shape == star) or background != white)", [0, 0, 0, 0]),
    ("any(pattern == dotted and size != small)", [0, 0, 1, 0]),
    ("count == 1 and all(shape == star) and background == white", [1, 0, 0, 0]),
])
def test_predicates_select_the_right_scenes(table, source, expected):
    assert evaluate(source, table).tolist() == [bool(e) for e in expected]


@pytest.mark.parametrize("source, message", [
    ("", "empty"),
    ("shape == star", "unknown scene field 'shape'"),
    ("any(colour == red)", "unknown object field 'colour'"),
    ("any(color == rde)", "unknown color 'rde'"),
    ("count == ", "expected a number"),
    ("any(shape == star", "expected ')'"),
    ("count == 1 count", "unexpected 'count'"),
    ("background < white", "only be compared"),
    ("any(any(shape == star))", "cannot be nested"),
    ("count == 1; import os", "unexpected character at position 10"),
    ("__import__('os')", "unexpected character at position 11"),
    ("__import__ == 1", "unknown scene field '__import__'"),
])
def test_bad_predicates_name_the_problem(source, message):
    with pytest.raises(PredicateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(source)


def test_all_of_no_objects_is_false():
    empty = SceneTable.from_scenes([Scene("white", "", ())])
    assert evaluate("all(shape == star)", empty).tolist() == [False]
    assert evaluate("none(shape == star)", empty).tolist() == [True]


def test_suite_has_easy_and_hard_concepts_with_plausible_ground_truth():
    suite = load_suite()
    assert len(suite) >= 30
    assert sum(c.difficulty == "easy" for c in suite) >= 15 and sum(c.difficulty == "hard" for c in suite) >= 15
    assert len({c.name for c in suite}) == len(suite)
    table = SceneTable.from_scenes([scene_at(0, i) for i in range(20_000)])
    for concept in suite:
        labels = concept.labels_for(table)
        assert labels.dtype == bool and labels.shape == (20_000,)
        assert 0.0005 < labels.mean() < 0.5, (concept.name, labels.mean())
        assert concept.positives and concept.description


def test_labels_agree_with_a_per_scene_reading_of_the_records():
    """Cross-check the vectorised evaluator against plain Python on the records."""
    scenes = [scene_at(1, i) for i in range(3000)]
    table = SceneTable.from_scenes(scenes)
    by_name = {c.name: c for c in load_suite()}
    expect = {
        "single star on plain white": [s.count == 1 and s.objects[0].shape == "star" and s.background == "white"
                                       for s in scenes],
        "exactly two stars": [sum(o.shape == "star" for o in s.objects) == 2 for s in scenes],
        "all one colour": [s.count >= 3 and len({o.color for o in s.objects}) == 1 for s in scenes],
        "love and romance": [any(o.shape == "heart" and o.color in ("red", "pink") for o in s.objects) for s in scenes],
    }
    for name, truth in expect.items():
        assert by_name[name].labels_for(table).tolist() == truth, name


def test_suite_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "suite.json"
    bad.write_text(json.dumps({"format": "agile-demo-suite", "version": 1, "concepts": [
        {"name": "x", "description": "d", "difficulty": "easy", "positives": ["x"], "predicate": "any(shape == blob)"}]}))
    with pytest.raises(SuiteError, match=r"suite\.json.*unknown shape 'blob'"):
        load_suite(bad)
    bad.write_text("{")
    with pytest.raises(SuiteError, match="invalid JSON at line 1"):
        load_suite(bad)
    bad.write_text(json.dumps({"format": "agile-demo-suite", "version": 1, "concepts": [
        {"name": "x", "description": "d", "difficulty": "medium", "positives": ["x"], "predicate": "count == 1"}]}))
    with pytest.raises(SuiteError, match="difficulty"):
        load_suite(bad)
