"""Scene attributes as flat columns, the form stored in a corpus and queried by predicates.

Per scene: ``background``, ``bg_color`` (strings) and ``n_objects``. Per
object, one list per scene: ``shapes``, ``colors``, ``sizes``, ``patterns``
(strings) and ``xs``, ``ys`` (centres, 0..1). ``SceneTable`` holds the same
data as numpy arrays with strings dictionary-encoded, so a predicate over
200,000 scenes is a handful of vectorised integer comparisons.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from agile.demo.attributes import Scene

SCENE_STRING_COLUMNS = {"background": "background", "bg_color": "bg_color"}
OBJECT_STRING_COLUMNS = {"shape": "shapes", "color": "colors", "size": "sizes", "pattern": "patterns"}
OBJECT_NUMERIC_COLUMNS = {"x": "xs", "y": "ys"}
COUNT_COLUMN = "n_objects"
COLUMNS = (*SCENE_STRING_COLUMNS.values(), COUNT_COLUMN, *OBJECT_STRING_COLUMNS.values(),
           *OBJECT_NUMERIC_COLUMNS.values())


def scene_columns(scenes: list[Scene]) -> pa.Table:
    """The attribute columns of ``scenes``, one row per scene."""
    data: dict[str, pa.Array] = {
        "background": pa.array([s.background for s in scenes], pa.string()),
        "bg_color": pa.array([s.bg_color for s in scenes], pa.string()),
        COUNT_COLUMN: pa.array([s.count for s in scenes], pa.int8()),
    }
    for attr, column in OBJECT_STRING_COLUMNS.items():
        data[column] = pa.array([[getattr(o, attr) for o in s.objects] for s in scenes], pa.list_(pa.string()))
    for attr, column in OBJECT_NUMERIC_COLUMNS.items():
        data[column] = pa.array([[getattr(o, attr) for o in s.objects] for s in scenes], pa.list_(pa.float32()))
    return pa.table(data)


@dataclass(frozen=True)
class Categorical:
    codes: np.ndarray  # int32, index into categories
    categories: tuple[str, ...]

    @classmethod
    def from_arrow(cls, array: pa.Array | pa.ChunkedArray) -> "Categorical":
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        encoded = pc.dictionary_encode(array)
        return cls(encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32),
                   tuple(encoded.dictionary.to_pylist()))

    def equals(self, value: str) -> np.ndarray:
        if value not in self.categories:
            return np.zeros(len(self.codes), bool)
        return self.codes == self.categories.index(value)

    def isin(self, values) -> np.ndarray:
        wanted = np.zeros(len(self.categories) + 1, bool)
        for v in values:
            if v in self.categories:
                wanted[self.categories.index(v)] = True
        return wanted[self.codes]


@dataclass(frozen=True)
class SceneTable:
    n: int
    count: np.ndarray          # (n,) objects per scene
    parent: np.ndarray         # (objects,) scene row of each object
    scene_cols: dict[str, Categorical]
    object_cols: dict[str, Categorical]
    object_numeric: dict[str, np.ndarray]

    @classmethod
    def from_columns(cls, column) -> "SceneTable":
        """Build from a callable ``name -> pa.Array | pa.ChunkedArray`` (e.g. ``Corpus.column``)."""
        count = np.asarray(column(COUNT_COLUMN).to_numpy(), dtype=np.int64)
        parent = np.repeat(np.arange(len(count)), count)

        def flat(name: str) -> pa.Array:
            values = column(name)
            values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
            flat_values = pc.list_flatten(values)
            if len(flat_values) != len(parent):
                raise ValueError(f"column {name!r} holds {len(flat_values)} objects, {COUNT_COLUMN} says {len(parent)}")
            return flat_values

        return cls(
            n=len(count), count=count, parent=parent,
            scene_cols={f: Categorical.from_arrow(column(c)) for f, c in SCENE_STRING_COLUMNS.items()},
            object_cols={f: Categorical.from_arrow(flat(c)) for f, c in OBJECT_STRING_COLUMNS.items()},
            object_numeric={f: flat(c).to_numpy(zero_copy_only=False) for f, c in OBJECT_NUMERIC_COLUMNS.items()},
        )

    @classmethod
    def from_scenes(cls, scenes: list[Scene]) -> "SceneTable":
        table = scene_columns(scenes)
        return cls.from_columns(table.column)

    def category(self, field: str) -> Categorical:
        return self.scene_cols[field] if field in self.scene_cols else self.object_cols[field]

    def numeric(self, field: str) -> np.ndarray:
        return self.object_numeric[field]

    def per_scene_count(self, object_mask: np.ndarray) -> np.ndarray:
        """How many of each scene's objects are in ``object_mask``."""
        return np.bincount(self.parent, weights=object_mask, minlength=self.n).astype(np.int64)

    def distinct(self, field: str) -> np.ndarray:
        """Number of distinct values of an object field within each scene."""
        cat = self.object_cols[field]
        pairs = np.unique(self.parent * (len(cat.categories) + 1) + cat.codes)
        return np.bincount(pairs // (len(cat.categories) + 1), minlength=self.n)
