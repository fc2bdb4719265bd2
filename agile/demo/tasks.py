"""Multi-category tasks over the demo world, each category a ground-truth predicate.

``tasks.json`` (format "agile-demo-tasks", version 1) lists each task's name,
description, whether it has "none of these", and its categories: a name, the
phrases a person would type and a predicate in the language of
``agile.demo.predicate``. ``DemoTask.labels_for`` turns the predicates into
the class index of every scene, and refuses a definition a corpus shows to be
wrong: a scene that fits two categories, or (without "none of these") none.
"""
from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agile.demo import predicate as pred
from agile.demo.suite import read_json, scene_table
from agile.demo.table import SceneTable
from agile.errors import AgileError
from agile.task import Category, Task, TaskError

TASKS_PATH = Path(__file__).resolve().parent / "tasks.json"
NO_CLASS = -1  # a scene that fits no category of a task without "none of these" (refused by labels_for)


class DemoTaskError(AgileError):
    """The tasks file is missing or malformed, or a task's categories do not split a corpus's scenes."""


class DemoCategory(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    phrases: tuple[str, ...] = ()    # besides the name, which is always the category's first phrase
    predicate: str                   # parsed by load_tasks, which names the task and category of a mistake

    @cached_property
    def tree(self):
        return pred.parse(self.predicate)


class DemoTask(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    none_of_these: bool
    categories: tuple[DemoCategory, ...]

    def definition(self) -> Task:
        """The task as the owner types it (agile.task): the categories and their phrases."""
        return Task.create([Category.create(c.name, c.phrases) for c in self.categories], self.none_of_these)

    @property
    def classes(self) -> list[str]:
        return self.definition().classes

    def labels_for(self, table: SceneTable) -> np.ndarray:
        """The class index of every scene, int64 (table.n,); DemoTaskError where categories overlap, or
        where a scene fits none and the task has no "none of these"."""
        fits = np.stack([pred.evaluate(c.tree, table) for c in self.categories])  # (categories, scenes)
        per_scene = fits.sum(axis=0)
        if (per_scene > 1).any():
            first = int(np.flatnonzero(per_scene > 1)[0])
            a, b = np.flatnonzero(fits[:, first])[:2]
            both = int((fits[a] & fits[b]).sum())
            raise DemoTaskError(f"task {self.name!r}: categories {self.categories[a].name!r} and "
                                f"{self.categories[b].name!r} both fit {both} scenes (the first: row {first}); "
                                "a scene must fit one category at most")
        labels = np.where(per_scene == 1, fits.argmax(axis=0), len(self.categories) if self.none_of_these
                          else NO_CLASS).astype(np.int64)
        if not self.none_of_these and (labels == NO_CLASS).any():
            missing = np.flatnonzero(labels == NO_CLASS)
            raise DemoTaskError(f"task {self.name!r}: {len(missing)} scenes fit no category (the first: row "
                                f"{int(missing[0])}) and the task has no 'none of these'")
        return labels

    def labels(self, corpus) -> np.ndarray:
        """The class index of every image of a demo corpus, int64 (corpus.count,)."""
        return self.labels_for(scene_table(corpus))


class _TasksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["agile-demo-tasks"]
    version: Literal[1]
    tasks: list[DemoTask] = Field(min_length=1)


def load_tasks(path: str | Path = TASKS_PATH) -> list[DemoTask]:
    """The tasks of a tasks file (by default the one shipped with the demo world), each checked to be a task
    the library accepts (2-10 categories, distinct names, a phrase in one category only)."""
    path = Path(path)
    raw = read_json(path, DemoTaskError, "tasks")
    try:
        parsed = _TasksFile.model_validate(raw)
    except ValidationError as e:
        problems = "; ".join(f"{_where(raw, err['loc'])}: {err['msg']}" for err in e.errors())
        raise DemoTaskError(f"{path}: {problems}") from e
    names = [t.name for t in parsed.tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DemoTaskError(f"{path}: task names repeat: {duplicates}")
    for task in parsed.tasks:
        for category in task.categories:
            try:
                category.tree
            except pred.PredicateError as e:
                raise DemoTaskError(f"{path}: task {task.name!r}, category {category.name!r}: {e}") from e
        try:
            task.definition()
        except TaskError as e:
            raise DemoTaskError(f"{path}: task {task.name!r}: {e}") from e
    return parsed.tasks


def _where(raw, loc: tuple) -> str:
    """A validation error's place, naming the task (by its name, where it has one) rather than its index."""
    where = ".".join(str(p) for p in loc)
    if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int):
        try:
            name = raw["tasks"][loc[1]]["name"]
        except (KeyError, IndexError, TypeError):
            return where
        rest = ".".join(str(p) for p in loc[2:])
        return f"task {name!r}" + (f": {rest}" if rest else "")
    return where
