"""Ground-truth multi-category tasks the simulated owners play.

Two kinds share one interface (``GroundTruthTask``): the demo world's tasks
(``agile/demo/tasks.json`` or a file of its format, categories as predicates
over scene attributes) and tasks over an ``agile synth`` corpus, each category
a set of clusters named by phrases such as "cluster 17" (a JSON file, for
tests and synthetic benchmarks). Either way ``labels(corpus)`` is the owner's
answer for every image: the index of its class, or ``NO_CLASS`` (-1) for an
image that fits no category of a task without "none of these" (the owner
answers "can't tell"). ``load_tasks`` checks every task against the corpus, so
a definition whose categories overlap is refused before anything runs,
naming the file and the task.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agile.corpus import Corpus
from agile.demo.tasks import NO_CLASS
from agile.task import Category, Task, TaskError
from eval.concepts import read_model_file
from eval.errors import TasksFileError

SUITE = "suite"


class GroundTruthTask(Protocol):
    name: str
    description: str
    none_of_these: bool

    def definition(self) -> Task:
        """The task as its owner types it: categories with their phrases."""

    def labels(self, corpus: Corpus) -> np.ndarray:
        """int64 (corpus.count,): the class index of every image, NO_CLASS where it fits none."""


@dataclass(frozen=True)
class ClusterCategory:
    name: str
    clusters: tuple[int, ...]
    phrases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterTask:
    """A task over a synthetic corpus: each category the images of some clusters."""

    name: str
    categories: tuple[ClusterCategory, ...]
    none_of_these: bool = True
    description: str = ""

    def definition(self) -> Task:
        return Task.create([Category.create(c.name, c.phrases) for c in self.categories], self.none_of_these)

    def labels(self, corpus: Corpus) -> np.ndarray:
        clusters = corpus.column("cluster").to_numpy()
        out = np.full(len(clusters), len(self.categories) if self.none_of_these else NO_CLASS, dtype=np.int64)
        for index, category in enumerate(self.categories):
            out[np.isin(clusters, np.asarray(category.clusters))] = index
        return out


class _CategoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    clusters: list[int] = Field(min_length=1)
    phrases: list[str] = []


class _TaskEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    description: str = ""
    none_of_these: bool = True
    categories: list[_CategoryEntry] = Field(min_length=2)


class _TasksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["agile-cluster-tasks"] = "agile-cluster-tasks"
    version: Literal[1] = 1
    tasks: list[_TaskEntry] = Field(min_length=1)


def read_cluster_tasks(path: str | Path) -> list[ClusterTask]:
    """Cluster tasks from ``{"format": "agile-cluster-tasks", "version": 1, "tasks": [...]}``: each task a
    name and categories ``{"name", "clusters", "phrases"}``; a cluster belongs to one category at most."""
    path = Path(path)
    parsed = read_model_file(path, _TasksFile, TasksFileError, "tasks")
    tasks = []
    for entry in parsed.tasks:
        seen: dict[int, str] = {}
        for category in entry.categories:
            for cluster in category.clusters:
                other = seen.setdefault(cluster, category.name)
                if other != category.name:
                    raise TasksFileError(f"{path}: task {entry.name!r}: cluster {cluster} is in categories "
                                         f"{other!r} and {category.name!r}; a category's images fit it alone")
        task = ClusterTask(entry.name, tuple(ClusterCategory(c.name, tuple(c.clusters), tuple(c.phrases))
                                             for c in entry.categories), entry.none_of_these, entry.description)
        try:
            task.definition()
        except TaskError as e:
            raise TasksFileError(f"{path}: task {entry.name!r}: {e}") from e
        tasks.append(task)
    names = [t.name for t in tasks]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise TasksFileError(f"{path}: task name {dup!r} appears twice")
    return tasks


def load_tasks(source: str | Path, corpus: Corpus) -> list[GroundTruthTask]:
    """``"suite"`` for the demo world's tasks, a demo tasks file (format "agile-demo-tasks"), or a cluster-tasks
    JSON file; each task checked on ``corpus`` (categories that overlap on its images, or images of no class in
    a task without "none of these", are refused, naming the file and the task)."""
    from agile.demo.tasks import TASKS_PATH

    if str(source) == SUITE:
        return _demo_tasks(TASKS_PATH, corpus)
    if _format_of(Path(source)) == "agile-demo-tasks":
        return _demo_tasks(Path(source), corpus)
    tasks = read_cluster_tasks(source)
    if "cluster" not in corpus.manifest.metadata_columns:
        raise TasksFileError(f"{source}: cluster tasks need a corpus with a 'cluster' column "
                             f"(an `agile synth` corpus); {corpus.root} has none")
    return list(tasks)


def _format_of(path: Path) -> str | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):  # read_cluster_tasks names what is wrong
        return None
    return data.get("format") if isinstance(data, dict) else None


def _demo_tasks(path: Path, corpus: Corpus) -> list[GroundTruthTask]:
    from agile.demo.table import COLUMNS
    from agile.demo.tasks import DemoTaskError, load_tasks as load_demo_tasks

    missing = sorted(set(COLUMNS) - set(corpus.manifest.metadata_columns))
    if missing:
        raise TasksFileError(f"{path}: demo tasks need a demo corpus (`agile demo build`); "
                             f"{corpus.root} has no {', '.join(missing)} column")
    try:
        tasks = load_demo_tasks(path)
        for task in tasks:
            task.labels(corpus)  # refuses categories that overlap on this corpus's scenes
    except DemoTaskError as e:
        message = str(e)
        raise TasksFileError(message if message.startswith(str(path)) else f"{path}: on {corpus.root}: {message}") \
            from e
    return list(tasks)
