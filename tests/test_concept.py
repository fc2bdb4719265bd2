"""Concept definitions and ratings: validation and the labeled view."""
from __future__ import annotations

import numpy as np
import pytest

from agile.concept import Concept, ConceptError


def test_name_is_always_the_first_positive_and_phrases_are_trimmed():
    c = Concept.create("  gourmet   tuna ", positives=["seared tuna steak", "Gourmet Tuna"],
                       negatives=["canned tuna"])
    assert c.name == "gourmet tuna"
    assert c.positives == ["gourmet tuna", "seared tuna steak"]
    assert c.negatives == ["canned tuna"]


@pytest.mark.parametrize("kwargs", [
    {"name": ""}, {"name": "   "},
    {"name": "tuna", "positives": ["sushi", " SUSHI "]},
    {"name": "tuna", "positives": ["  "]},
    {"name": "tuna", "negatives": ["can", "can"]},
    {"name": "tuna", "negatives": ["tuna"]},
    {"name": "tuna", "positives": [3]},
])
def test_bad_definitions_raise_concept_error(kwargs):
    with pytest.raises(ConceptError):
        Concept.create(**kwargs)


def test_ratings_replace_earlier_ones_and_labeled_is_sorted():
    c = Concept.create("tuna")
    c.rate(7, True, round=0)
    c.rate(3, False, round=1, source="margin")
    c.rate(7, False, round=2, source="margin")
    ids, labels = c.labeled()
    np.testing.assert_array_equal(ids, [3, 7])
    np.testing.assert_array_equal(labels, [0.0, 0.0])
    assert ids.dtype == np.int64 and labels.dtype == np.float32
    assert c.ratings[7].round == 2 and c.ratings[7].source == "margin"
    c.unrate(7)
    np.testing.assert_array_equal(c.rated_ids(), [3])
    with pytest.raises(ConceptError):
        c.unrate(7)


@pytest.mark.parametrize("bad_id", [-1, 10, 2.5, True, "3"])
def test_unknown_ids_are_refused(bad_id):
    c = Concept.create("tuna")
    with pytest.raises(ConceptError):
        c.rate(bad_id, True, count=10)


def test_check_ids_and_round_trip():
    c = Concept.create("tuna", ["sashimi"], ["canned tuna"])
    c.rate(4, True)
    c.rate(12, False, round=1, source="margin-pm")
    c.model_versions.append(1)
    again = Concept.from_dict(c.to_dict())
    assert again == c
    c.check_ids(13)
    with pytest.raises(ConceptError, match="12"):
        c.check_ids(12)
    with pytest.raises(ConceptError):
        Concept.from_dict({"positives": []})
