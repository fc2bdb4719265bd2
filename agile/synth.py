"""Synthetic corpora of clustered unit vectors, for tests and benchmarks.

Vectors are drawn around ``clusters`` centres, which are themselves grouped
under a few parent directions, so neighbouring clusters overlap the way real
image embeddings do (uniform noise would make every concept trivially
separable or impossible). Cluster sizes follow a log-normal spread, so a
concept defined as a set of clusters can be rare or common. Each row carries
its cluster id in the ``cluster`` metadata column as ground truth, and the
centres are saved in ``synth/centers.npy`` so tests can use them as "text"
queries.

Shards are generated independently from per-shard seeds, in parallel worker
processes, and are resumable: a re-run skips finished shards.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from agile.atomic import atomic_path, atomic_write_json
from agile.corpus import Corpus, ModelInfo, ShardWriter, completed_shards, finalize_corpus, shard_name
from agile.errors import CorpusExistsError
from agile.workers import worker_pool

BLOCK_ROWS = 65_536
SYNTH_DIR = "synth"
MODEL = ModelInfo(name="synthetic")


@dataclass(frozen=True)
class SynthSpec:
    n: int
    dim: int = 512
    clusters: int = 200
    seed: int = 0
    shard_size: int = 1_000_000
    parents: int = 0          # 0: one parent direction per ten clusters
    spread: float = 1.0       # within-cluster noise relative to the centre
    parent_spread: float = 1.2  # how far clusters sit from their parent direction

    def __post_init__(self) -> None:
        if self.n <= 0 or self.dim < 2 or self.clusters < 1 or self.shard_size < 1:
            raise ValueError("n, clusters and shard_size must be positive and dim >= 2")


@dataclass(frozen=True)
class SynthWorld:
    """The ground truth behind a synthetic corpus."""

    centers: np.ndarray   # (clusters, dim) unit vectors
    weights: np.ndarray   # (clusters,) sampling probabilities
    noise: np.ndarray     # (clusters,) per-cluster noise scale

    @classmethod
    def from_spec(cls, spec: SynthSpec) -> "SynthWorld":
        rng = np.random.default_rng([spec.seed, 0])
        parents = spec.parents or max(1, spec.clusters // 10)
        parent_dirs = _unit(rng.standard_normal((parents, spec.dim)))
        parent_of = rng.integers(0, parents, spec.clusters)
        offsets = _unit(rng.standard_normal((spec.clusters, spec.dim)))
        centers = _unit(parent_dirs[parent_of] + spec.parent_spread * offsets)
        weights = rng.lognormal(0.0, 1.0, spec.clusters)
        noise = spec.spread * rng.uniform(0.7, 1.3, spec.clusters)
        return cls(centers.astype(np.float32), weights / weights.sum(), noise.astype(np.float32))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _write_shard(out: Path, spec: SynthSpec, world: SynthWorld, index: int) -> None:
    first = index * spec.shard_size
    count = min(spec.shard_size, spec.n - first)
    rng = np.random.default_rng([spec.seed, 1, index])
    schema = pa.schema([("cluster", pa.int32())])
    with ShardWriter(out, shard_name(index), first, spec.dim, schema) as writer:
        for start in range(0, count, BLOCK_ROWS):
            rows = min(BLOCK_ROWS, count - start)
            labels = rng.choice(len(world.weights), size=rows, p=world.weights).astype(np.int32)
            noise = rng.standard_normal((rows, spec.dim), dtype=np.float32)
            noise *= (world.noise[labels] / np.sqrt(spec.dim))[:, None]
            noise += world.centers[labels]
            ids = np.arange(first + start, first + start + rows)
            uris = pa.array(np.char.add(f"synth://{spec.seed}/", ids.astype(str)).astype(object))
            writer.write(uris, noise, {"cluster": labels})


def synth_corpus(out: str | Path, spec: SynthSpec, workers: int = 2, progress: bool = True) -> Corpus:
    """Write (or finish writing) a synthetic corpus at ``out`` and open it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    spec_path = out / SYNTH_DIR / "spec.json"
    if spec_path.exists():
        if json.loads(spec_path.read_text()) != asdict(spec):
            raise CorpusExistsError(spec_path, "a different synthetic corpus is already here; "
                                    "choose another directory or delete this one")
    world = SynthWorld.from_spec(spec)
    with atomic_path(out / SYNTH_DIR / "centers.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, world.centers)
    atomic_write_json(spec_path, asdict(spec))

    n_shards = -(-spec.n // spec.shard_size)
    done = completed_shards(out)
    todo = [i for i in range(n_shards) if shard_name(i) not in done]
    with worker_pool(max(1, min(workers, len(todo) or 1))) as pool, \
            tqdm(total=spec.n, initial=spec.n - sum(min(spec.shard_size, spec.n - i * spec.shard_size) for i in todo),
                 unit="vec", unit_scale=True, disable=not progress, desc="synth") as bar:
        futures = {pool.submit(_write_shard, out, spec, world, i): i for i in todo}
        for future in futures:
            future.result()
            bar.update(min(spec.shard_size, spec.n - futures[future] * spec.shard_size))
    shards = list(completed_shards(out).values())
    finalize_corpus(out, MODEL, spec.dim, shards, ["cluster"],
                    {"command": "agile synth", "spec": asdict(spec)})
    return Corpus.open(out, verify="quick")


def load_world(corpus_root: str | Path) -> tuple[SynthSpec, np.ndarray]:
    """The spec and cluster centres of a synthetic corpus."""
    root = Path(corpus_root) / SYNTH_DIR
    spec = SynthSpec(**json.loads((root / "spec.json").read_text()))
    return spec, np.load(root / "centers.npy")
