"""Image seeds and candidate filters in SQLite: migration 7, uploads as hash + embedding, duplicates ignored."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from agile.candidates import CandidateFilter
from server.db import Database
from server.errors import NotFound
from server.repository import Repository
from server.seeds import SeedStore, content_hash


def _concept(repo: Repository) -> int:
    with repo.db.write() as conn:
        conn.execute("INSERT INTO users (name, role, created_at) VALUES ('ann', 'owner', 'now')")
    return repo.create_concept("c", ["c"], [], 1)


def test_seeds_round_trip_and_an_image_seeds_a_concept_once(tmp_path):
    repo = Repository(Database(tmp_path / "db.sqlite3"))
    concept = _concept(repo)
    seeds = SeedStore(repo.db)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2, 8)).astype(np.float32)
    hashes = [content_hash(b"one"), content_hash(b"two")]
    seeds.add_ids(concept, [7, 3, 7], 1)
    seeds.add_uploads(concept, hashes, vectors, 1)
    seeds.add_uploads(concept, hashes[:1], vectors[:1] + 1, 1)  # the same bytes again: ignored
    got = seeds.seeds(concept, 8)
    assert got.ids.tolist() == [3, 7] and len(got) == 4
    np.testing.assert_array_equal(got.vectors, vectors)
    records = seeds.records(concept)
    assert [(r.corpus_id, r.sha256) for r in records] == [(7, None), (3, None), (None, hashes[0]), (None, hashes[1])]
    seeds.remove(concept, records[0].id)
    assert seeds.seeds(concept, 8).ids.tolist() == [3]
    with pytest.raises(NotFound):
        seeds.remove(concept, records[0].id)
    # A seed is an id or an upload, never both and never a path: the schema refuses anything else.
    with repo.db.write() as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO seeds (concept_id, corpus_id, sha256, embedding, added_by, added_at) "
                      "VALUES (?, 1, 'x', x'00', 1, 'now')", (concept,))


def test_a_candidate_filter_is_stored_with_the_concept(tmp_path):
    repo = Repository(Database(tmp_path / "db.sqlite3"))
    concept = _concept(repo)
    seeds = SeedStore(repo.db)
    assert seeds.candidates(concept) is None
    wanted = CandidateFilter(column="split", op="in", value=["train", "val"])
    seeds.set_candidates(concept, wanted)
    assert SeedStore(Database(tmp_path / "db.sqlite3")).candidates(concept) == wanted  # survives a reopen
    seeds.set_candidates(concept, None)
    assert seeds.candidates(concept) is None
