"""Ground-truth concepts the simulated users play.

Two kinds share one interface (``GroundTruthConcept``): concepts over an
``agile synth`` corpus, defined as a set of clusters with phrases such as
"cluster 17" that the synthetic embedder maps to cluster centres; and the
demo world's concept suite (``agile.demo.load_suite()``), predicates over
scene attributes. Either way ``labels(corpus)`` is the owner's answer for
every image.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Protocol, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agile.atomic import atomic_write_json
from agile.corpus import Corpus
from eval.errors import ConceptsFileError

Difficulty = Literal["easy", "hard"]
SUITE = "suite"


class GroundTruthConcept(Protocol):
    name: str
    description: str
    positives: Sequence[str]
    negatives: Sequence[str]
    difficulty: str

    def labels(self, corpus: Corpus) -> np.ndarray: ...


@dataclass(frozen=True)
class ClusterConcept:
    """A concept over a synthetic corpus: the images of some clusters."""

    name: str
    clusters: tuple[int, ...]
    positives: tuple[str, ...]
    negatives: tuple[str, ...] = ()
    difficulty: Difficulty = "easy"
    description: str = ""

    def labels(self, corpus: Corpus) -> np.ndarray:
        return np.isin(corpus.column("cluster").to_numpy(), np.asarray(self.clusters))


class _ConceptEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    clusters: list[int] = Field(min_length=1)
    positives: list[str] = []
    negatives: list[str] = []
    difficulty: Difficulty = "easy"
    description: str = ""


class _ConceptsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    concepts: list[_ConceptEntry] = Field(min_length=1)


def cluster_phrase(cluster: int) -> str:
    return f"cluster {cluster}"


def read_model_file(path: Path, model: type[BaseModel], error: type[Exception], what: str):
    """``model`` validated from the JSON file at ``path``; ``error`` names the file and the first problem."""
    try:
        return model.model_validate_json(path.read_bytes())
    except FileNotFoundError as e:
        raise error(f"{path}: no such {what} file") from e
    except ValidationError as e:
        first = e.errors()[0]
        raise error(f"{path}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from e


def read_cluster_concepts(path: str | Path) -> list[ClusterConcept]:
    """Cluster concepts from a JSON file ``{"concepts": [{"name", "clusters", ...}]}``."""
    path = Path(path)
    parsed = read_model_file(path, _ConceptsFile, ConceptsFileError, "concepts")
    names = [c.name for c in parsed.concepts]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConceptsFileError(f"{path}: concept name {dup!r} appears twice")
    return [ClusterConcept(name=c.name, clusters=tuple(c.clusters),
                           positives=tuple(c.positives) or (c.name,), negatives=tuple(c.negatives),
                           difficulty=c.difficulty, description=c.description) for c in parsed.concepts]


def write_cluster_concepts(path: str | Path, concepts: Sequence[ClusterConcept]) -> None:
    atomic_write_json(path, {"concepts": [asdict(c) for c in concepts]})


def load_concepts(source: str | Path, corpus: Corpus) -> list[GroundTruthConcept]:
    """``"suite"`` for the demo world's concept suite, else a cluster-concepts JSON file."""
    if str(source) == SUITE:
        from agile.demo import load_suite

        return list(load_suite())
    concepts = read_cluster_concepts(source)
    if "cluster" not in corpus.manifest.metadata_columns:
        raise ConceptsFileError(f"{source}: cluster concepts need a corpus with a 'cluster' column "
                                f"(an `agile synth` corpus); {corpus.root} has none")
    return concepts


def concept_slug(name: str) -> str:
    """A file-name-safe form of a concept name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "concept"


def make_cluster_concepts(corpus: Corpus, centers: np.ndarray, easy: int = 6, hard: int = 6,
                          seed: int = 0) -> list[ClusterConcept]:
    """Concepts of varying prevalence over a synthetic corpus.

    Easy: one cluster, named by its own phrase. Hard: the named cluster plus
    its nearest neighbouring cluster that the text never mentions, while the
    negative phrase names the next-nearest cluster, which is not in the
    concept. Zero-shot text similarity cannot separate the unnamed member
    from the named non-member; rated images can.
    """
    counts = np.bincount(corpus.column("cluster").to_numpy(), minlength=len(centers))
    rng = np.random.default_rng(seed)
    # Spread prevalence: pick anchors evenly over the populated clusters sorted by size.
    populated = np.flatnonzero(counts >= 20)
    by_size = populated[np.argsort(counts[populated])]
    picks = by_size[np.linspace(0, len(by_size) - 1, easy + hard).round().astype(int)]
    picks = np.unique(picks)
    rng.shuffle(picks)
    sims = centers @ centers.T
    concepts: list[ClusterConcept] = []
    for i, anchor in enumerate(picks.tolist()):
        phrase = cluster_phrase(anchor)
        if i < easy:
            concepts.append(ClusterConcept(phrase, (anchor,), (phrase,), (), "easy",
                                           f"the images of cluster {anchor}"))
            continue
        near = [int(c) for c in np.argsort(-sims[anchor]) if c != anchor and counts[c] > 0][:2]
        concepts.append(ClusterConcept(phrase, (anchor, near[0]), (phrase,), (cluster_phrase(near[1]),), "hard",
                                       f"clusters {anchor} and {near[0]}; the text names only {anchor}, "
                                       f"the negative phrase names cluster {near[1]}"))
    return concepts
