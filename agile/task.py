"""A multi-category task: 2 to 10 named categories, each with its own phrases and image seeds,
and optionally "none of these".

A binary concept asks one question of every image (does it show the concept?);
a task asks which of its categories an image shows. Its classes, in order, are
the categories, then "none of these" when the task has it; a rating of a task
is the index of one class. Each category is searched with its own phrases
(its name first, as a concept's) and seeds; expansion draws a task's first
batch from the union of every category's neighbours. Random unrated images
stand in for "none of these" while training, so a task without that class
trains on its rated images alone (agile.training).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from agile.concept import ConceptError, _clean_phrases

MIN_CATEGORIES, MAX_CATEGORIES = 2, 10
NONE_OF_THESE = "none of these"


class TaskError(ConceptError):
    """A task definition or answer is invalid (too few or many categories, a name twice, a bad class)."""


class NotForTasksError(TaskError):
    """What was asked works on binary concepts only (one score per image), not on a multi-category task."""


@dataclass(frozen=True)
class Category:
    name: str
    phrases: list[str]                                        # the name first
    seed_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @classmethod
    def create(cls, name: str, phrases: Sequence[str] = (), seed_ids: Sequence[int] = ()) -> "Category":
        if not isinstance(name, str) or not name.strip():
            raise TaskError("a category name is empty")
        name = " ".join(name.split())
        rest = [p for p in phrases if not (isinstance(p, str) and " ".join(p.split()).casefold() == name.casefold())]
        return cls(name, _clean_phrases([name, *rest], f"category {name!r}"),
                   np.unique(np.asarray(list(seed_ids), dtype=np.int64)))


@dataclass(frozen=True)
class Task:
    categories: tuple[Category, ...]
    none_of_these: bool = False

    @classmethod
    def create(cls, categories: Sequence[Category], none_of_these: bool = False) -> "Task":
        categories = tuple(categories)
        if not MIN_CATEGORIES <= len(categories) <= MAX_CATEGORIES:
            raise TaskError(f"a task has {MIN_CATEGORIES} to {MAX_CATEGORIES} categories, not {len(categories)}")
        names = [c.name.casefold() for c in categories]
        if len(set(names)) != len(names):
            raise TaskError("two categories have the same name")
        owners: dict[str, str] = {}
        for category in categories:
            if category.name.casefold() == NONE_OF_THESE:
                raise TaskError(f"{NONE_OF_THESE!r} is not a category: ask for it with none_of_these")
            for phrase in category.phrases:
                other = owners.setdefault(phrase.casefold(), category.name)
                if other != category.name:
                    raise TaskError(f"phrase {phrase!r} belongs to categories {other!r} and {category.name!r}")
        return cls(categories, bool(none_of_these))

    @property
    def classes(self) -> list[str]:
        """Class names in index order: the categories, then "none of these" if the task has it."""
        return [c.name for c in self.categories] + ([NONE_OF_THESE] if self.none_of_these else [])

    @property
    def none_class(self) -> int | None:
        """The index of "none of these" (random unrated images train as it), None without it."""
        return len(self.categories) if self.none_of_these else None

    @property
    def phrases(self) -> list[str]:
        """Every category's phrases, category by category (the expansion queries' text)."""
        return [p for c in self.categories for p in c.phrases]

    @property
    def seed_ids(self) -> np.ndarray:
        parts = [c.seed_ids for c in self.categories]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.int64)

    def check_answer(self, answer: int) -> int:
        """A class index this task has, as an int (TaskError otherwise)."""
        if isinstance(answer, (bool, np.bool_)) or not isinstance(answer, (int, np.integer)) \
                or not 0 <= int(answer) < len(self.classes):
            raise TaskError(f"a rating of this task is a class index 0..{len(self.classes) - 1} "
                            f"({', '.join(self.classes)})")
        return int(answer)
