"""A concept's image seeds and candidate filter in SQLite (migration 7).

Seeds are corpus ids, or uploads kept as the sha256 of their bytes and their
float32 embedding with the corpus's image model: the server never keeps a
path or a file from the request. Adding a seed the concept already has
changes nothing.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from agile.candidates import CandidateFilter
from agile.seeds import ImageSeeds
from server.db import Database, now
from server.errors import NotFound


@dataclass(frozen=True)
class SeedRecord:
    id: int
    corpus_id: int | None      # a corpus image
    sha256: str | None         # an upload
    added_at: str
    category: int | None = None  # of a task: the category it is an example of (None: of the task as a whole)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SeedStore:
    def __init__(self, db: Database):
        self.db = db

    def add_ids(self, concept_id: int, ids: Sequence[int], user_id: int, category: int | None = None) -> None:
        with self.db.write() as conn:
            conn.executemany("INSERT OR IGNORE INTO seeds (concept_id, corpus_id, added_by, added_at, category) "
                             "VALUES (?, ?, ?, ?, ?)", [(concept_id, int(i), user_id, now(), category) for i in ids])

    def add_uploads(self, concept_id: int, hashes: Sequence[str], vectors: np.ndarray, user_id: int) -> None:
        """Uploaded images, all or none: their content hashes and (n, dim) unit vectors."""
        rows = [(concept_id, h, np.asarray(v, dtype="<f4").tobytes(), user_id, now())
                for h, v in zip(hashes, vectors)]
        with self.db.write() as conn:
            conn.executemany("INSERT OR IGNORE INTO seeds (concept_id, sha256, embedding, added_by, added_at) "
                             "VALUES (?, ?, ?, ?, ?)", rows)

    def remove(self, concept_id: int, seed_id: int) -> None:
        with self.db.write() as conn:
            if conn.execute("DELETE FROM seeds WHERE concept_id = ? AND id = ?", (concept_id, seed_id)).rowcount == 0:
                raise NotFound(f"concept {concept_id} has no seed {seed_id}")

    def records(self, concept_id: int) -> list[SeedRecord]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT id, corpus_id, sha256, added_at, category FROM seeds WHERE concept_id = ? "
                                "ORDER BY id", (concept_id,)).fetchall()
        return [SeedRecord(r["id"], r["corpus_id"], r["sha256"], r["added_at"], r["category"]) for r in rows]

    def category_ids(self, concept_id: int) -> dict[int, list[int]]:
        """A task's corpus seeds by the category they are examples of."""
        out: dict[int, list[int]] = {}
        for record in self.records(concept_id):
            if record.category is not None and record.corpus_id is not None:
                out.setdefault(record.category, []).append(record.corpus_id)
        return out

    def seeds(self, concept_id: int, dim: int) -> ImageSeeds:
        """The library's view: sorted corpus ids, and the uploads' vectors (float32 (m, dim))."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT corpus_id, embedding FROM seeds WHERE concept_id = ? ORDER BY id",
                                (concept_id,)).fetchall()
        ids = np.unique(np.array([r["corpus_id"] for r in rows if r["corpus_id"] is not None], dtype=np.int64))
        blobs = [r["embedding"] for r in rows if r["embedding"] is not None]
        vectors = (np.frombuffer(b"".join(blobs), dtype="<f4").reshape(-1, dim).astype(np.float32) if blobs
                   else np.empty((0, dim), np.float32))
        return ImageSeeds(ids, vectors)

    # -- the candidate filter ------------------------------------------------------------------
    def candidates(self, concept_id: int) -> CandidateFilter | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT candidates FROM concepts WHERE id = ?", (concept_id,)).fetchone()
        return None if row is None or row["candidates"] is None else \
            CandidateFilter.model_validate_json(row["candidates"])

    def set_candidates(self, concept_id: int, candidates: CandidateFilter | None) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE concepts SET candidates = ?, updated_at = ? WHERE id = ?",
                         (None if candidates is None else candidates.model_dump_json(exclude_none=True), now(),
                          concept_id))
