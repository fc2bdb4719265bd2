"""The evaluation strata as a scan rule: each block keeps its lowest URI hashes in every score stratum.

One model's stratified set over the whole corpus (`stratified_ids`) equals the
same selection over the union of any parts' own selections (a member is
among the ``per_stratum`` lowest hashes of its stratum overall, so also within
its part), so the rule narrows per block and per actor's share, and the
caller selects once more over what comes back. The hashes are the caller's
array (one process), or, where the rule runs without one (a Ray actor, which
is sent no 8-bytes-per-image array), those of the shards it scans, computed
on first use and kept for the life of the process.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from agile.corpus import Corpus
from agile.evaluation import StrataSpec, stratified_ids, uri_hashes
from agile.scan_engine import Candidates, unrated

_corpora: dict[str, Corpus] = {}
_shard_hashes: dict[tuple[str, str, str], np.ndarray] = {}  # (root, created_at, shard name) -> uint64
_lock = threading.Lock()


def hashes_by_id(root: str, ids: np.ndarray) -> np.ndarray:
    """uint64 URI hashes of ``ids`` of the corpus at ``root``, computing each shard's once per process."""
    with _lock:
        corpus = _corpora.get(root) or _corpora.setdefault(root, Corpus.open(root, verify="quick"))
    starts = np.array([s.first_id for s in corpus.shards], dtype=np.int64)
    shard_of = np.searchsorted(starts, ids, side="right") - 1  # an empty shard shares the next one's first id
    out = np.empty(len(ids), dtype=np.uint64)
    for s in np.unique(shard_of):
        shard = corpus.shards[int(s)]
        key = (root, corpus.manifest.created_at, shard.name)
        with _lock:
            if key not in _shard_hashes:
                uris = pq.read_table(shard.parquet_path(corpus.root), columns=["uri"]).column(0).to_pylist()
                _shard_hashes[key] = uri_hashes(uris)
            hashes = _shard_hashes[key]
        mask = shard_of == s
        out[mask] = hashes[ids[mask] - shard.first_id]
    return out


@dataclass(frozen=True)
class LowestHashes:
    """A `Keep` rule: every stratum's ``per_stratum`` lowest-hash eligible images of each block."""

    spec: StrataSpec
    corpus_root: str
    hashes: np.ndarray | None = None  # every URI's hash in id order; None: computed where the rule runs

    def hashes_of(self, ids: np.ndarray) -> np.ndarray:
        return self.hashes[ids] if self.hashes is not None else hashes_by_id(self.corpus_root, ids)

    def __call__(self, first: int, scores: np.ndarray, exclude: np.ndarray) -> Candidates:
        ids, scores = unrated(first, scores, exclude)
        return self.narrow(Candidates(ids, scores))

    def narrow(self, candidates: Candidates) -> Candidates:
        return candidates.take(stratified_ids(candidates.scores, self.hashes_of(candidates.ids), None, self.spec))

    def running(self) -> "LowestHashes":  # each block's selection needs nothing from the others
        return self

    def __reduce__(self):  # a rule sent to an actor leaves the caller's array behind: it hashes its own shards
        return (LowestHashes, (self.spec, self.corpus_root, None))
