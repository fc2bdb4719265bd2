"""Concepts, phrases, batches, ratings, jobs and version records in SQLite.

Every method that changes state runs in exactly one transaction, so a crash
leaves either the whole change or none of it.

A batch is for training (expansion, active learning) or for evaluation, and
its ratings carry the same purpose. The two never share an image: evaluation
ratings measure models and must never be trained on, or the measurement
would be of the training data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from agile.session_store import TRAINING, Labels, Purpose
from agile.task import NONE_OF_THESE, NotForTasksError, Task
from server.db import Database, now
from server.errors import Conflict, Invalid, NotFound, TooMany

ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class CategoryRecord:
    name: str
    phrases: list[str]   # its name first


@dataclass(frozen=True)
class ConceptRecord:
    id: int
    name: str
    owner_id: int
    owner: str
    positives: list[str]
    negatives: list[str]
    created_at: str
    updated_at: str
    categories: list[CategoryRecord] | None = None  # a multi-category task's, in class order; None: binary
    none_of_these: bool = False                     # a task's last class is "none of these"

    @property
    def classes(self) -> list[str] | None:
        """A task's class names in index order (agile.task.Task.classes); None for a binary concept."""
        if self.categories is None:
            return None
        return [c.name for c in self.categories] + ([NONE_OF_THESE] if self.none_of_these else [])

    def require_binary(self, what: str) -> None:
        """NotForTasksError (a 422) when this concept is a task and ``what`` needs one score per image."""
        if self.categories is not None:
            raise NotForTasksError(f"{what} works on binary concepts, and {self.name!r} is a task of "
                                   f"{len(self.classes)} classes")


@dataclass(frozen=True)
class BatchRecord:
    id: int
    concept_id: int
    round: int
    source: str
    model_version: int | None
    created_at: str
    ids: list[int]
    purpose: Purpose = TRAINING
    note: str = ""


@dataclass(frozen=True)
class Rating:
    corpus_id: int
    positive: bool | None          # a binary concept's answer; None with no category: skipped ("can't tell")
    seconds: float | None = None
    batch_id: int | None = None    # the batch the rating was made on, when the caller names it
    category: int | None = None    # a task's answer: the class index


@dataclass(frozen=True)
class BatchSummary:
    id: int
    round: int
    source: str
    purpose: Purpose
    model_version: int | None
    created_at: str
    size: int
    rated: int        # answered, "can't tell" included
    positive: int
    skipped: int
    note: str = ""


@dataclass(frozen=True)
class RatingRow:
    corpus_id: int
    label: str        # "positive", "negative" or "skip"; of a task, the class name (or "skip")
    round: int
    purpose: Purpose
    batch_id: int
    seconds: float | None
    rater: str
    time: str


@dataclass(frozen=True)
class JobRecord:
    id: int
    concept_id: int
    kind: str
    params: dict[str, Any]
    status: str
    percent: float
    message: str
    result: dict[str, Any] | None
    created_at: str
    started_at: str | None
    finished_at: str | None


@dataclass(frozen=True)
class VersionRecord:
    concept_id: int
    version: int
    job_id: int | None
    created_at: str
    path: str
    sidecar: dict[str, Any] = field(repr=False)


# A concept the user owns or reads (parameters: user id twice).
_VISIBLE = ("(c.owner_id = ? OR EXISTS (SELECT 1 FROM concept_readers r "
            "WHERE r.concept_id = c.id AND r.user_id = ?))")


def _job(row) -> JobRecord:
    return JobRecord(row["id"], row["concept_id"], row["kind"], json.loads(row["params"]), row["status"],
                     row["percent"], row["message"], json.loads(row["result"]) if row["result"] else None,
                     row["created_at"], row["started_at"], row["finished_at"])


def _version(row) -> VersionRecord:
    return VersionRecord(row["concept_id"], row["version"], row["job_id"], row["created_at"], row["path"],
                         json.loads(row["sidecar"]))


class Repository:
    def __init__(self, db: Database):
        self.db = db

    # -- concepts ------------------------------------------------------------
    def create_concept(self, name: str, positives: Sequence[str], negatives: Sequence[str],
                       owner_id: int, task: Task | None = None) -> int:
        """A binary concept, or with ``task`` a multi-category task (its categories and their phrases)."""
        with self.db.write() as conn:
            self._refuse_taken_name(conn, name, owner_id)
            stamp = now()
            concept_id = conn.execute(
                "INSERT INTO concepts (name, owner_id, created_at, updated_at, none_of_these) VALUES (?, ?, ?, ?, ?)",
                (name, owner_id, stamp, stamp, None if task is None else int(task.none_of_these))).lastrowid
            self._insert_phrases(conn, concept_id, positives, negatives)
            if task is not None:
                conn.executemany("INSERT INTO categories (concept_id, position, name, phrases) VALUES (?, ?, ?, ?)",
                                 [(concept_id, i, c.name, json.dumps(c.phrases))
                                  for i, c in enumerate(task.categories)])
        return concept_id

    @staticmethod
    def _refuse_taken_name(conn, name: str, owner_id: int, keep: int | None = None) -> None:
        """One owner's concepts have distinct names (ignoring case), so a list of them can be told apart."""
        row = conn.execute("SELECT id FROM concepts WHERE owner_id = ? AND lower(name) = lower(?) "
                           "AND archived_at IS NULL AND id IS NOT ?", (owner_id, name, keep)).fetchone()
        if row is not None:
            raise Conflict(f"you already have a concept named {name!r} (concept {row['id']}); choose another name")

    def rename(self, concept_id: int, name: str, positives: Sequence[str], negatives: Sequence[str]) -> None:
        """A new name, with the phrases it implies (the name is always the first positive)."""
        with self.db.write() as conn:
            row = self._require_concept(conn, concept_id)
            self._refuse_taken_name(conn, name, row["owner_id"], keep=concept_id)
            conn.execute("UPDATE concepts SET name = ?, updated_at = ? WHERE id = ?", (name, now(), concept_id))
            conn.execute("DELETE FROM phrases WHERE concept_id = ?", (concept_id,))
            self._insert_phrases(conn, concept_id, positives, negatives)

    def archive(self, concept_id: int) -> None:
        """Hide a concept from every read; its rows and version files stay, for a look back."""
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            conn.execute("UPDATE concepts SET archived_at = ? WHERE id = ?", (now(), concept_id))

    @staticmethod
    def _insert_phrases(conn, concept_id: int, positives: Sequence[str], negatives: Sequence[str]) -> None:
        rows = [(concept_id, i, text, 1) for i, text in enumerate(positives)]
        rows += [(concept_id, len(positives) + i, text, 0) for i, text in enumerate(negatives)]
        conn.executemany("INSERT INTO phrases (concept_id, position, text, positive) VALUES (?, ?, ?, ?)", rows)

    def set_phrases(self, concept_id: int, positives: Sequence[str], negatives: Sequence[str]) -> None:
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            conn.execute("DELETE FROM phrases WHERE concept_id = ?", (concept_id,))
            self._insert_phrases(conn, concept_id, positives, negatives)
            conn.execute("UPDATE concepts SET updated_at = ? WHERE id = ?", (now(), concept_id))

    @staticmethod
    def _require_concept(conn, concept_id: int):
        row = conn.execute("SELECT c.*, u.name AS owner FROM concepts c JOIN users u ON u.id = c.owner_id "
                           "WHERE c.id = ? AND c.archived_at IS NULL", (concept_id,)).fetchone()
        if row is None:
            raise NotFound(f"no concept {concept_id}")
        return row

    def _concept(self, conn, row) -> ConceptRecord:
        phrases = conn.execute("SELECT text, positive FROM phrases WHERE concept_id = ? ORDER BY position",
                               (row["id"],)).fetchall()
        categories = None
        if row["none_of_these"] is not None:
            categories = [CategoryRecord(c["name"], json.loads(c["phrases"])) for c in conn.execute(
                "SELECT name, phrases FROM categories WHERE concept_id = ? ORDER BY position", (row["id"],))]
        return ConceptRecord(row["id"], row["name"], row["owner_id"], row["owner"],
                             [p["text"] for p in phrases if p["positive"]],
                             [p["text"] for p in phrases if not p["positive"]],
                             row["created_at"], row["updated_at"], categories, bool(row["none_of_these"]))

    def concept(self, concept_id: int) -> ConceptRecord:
        with self.db.read() as conn:
            return self._concept(conn, self._require_concept(conn, concept_id))

    def concepts(self, visible_to: int | None = None) -> list[ConceptRecord]:
        """Every concept, or only those user ``visible_to`` owns or was made a reader of."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT c.*, u.name AS owner FROM concepts c JOIN users u ON u.id = c.owner_id "
                                f"WHERE c.archived_at IS NULL {'' if visible_to is None else 'AND ' + _VISIBLE} ORDER BY c.id",
                                () if visible_to is None else (visible_to, visible_to)).fetchall()
            return [self._concept(conn, row) for row in rows]

    # -- readers: who may read a concept when reads are limited to shared concepts ----------
    def can_read(self, concept_id: int, user_id: int) -> bool:
        with self.db.read() as conn:
            return conn.execute(f"SELECT 1 FROM concepts c WHERE c.id = ? AND {_VISIBLE}",
                                (concept_id, user_id, user_id)).fetchone() is not None

    def _user_id(self, conn, name: str) -> int:
        row = conn.execute("SELECT id FROM users WHERE name = ?", (name.strip(),)).fetchone()
        if row is None:
            raise NotFound(f"no user named {name.strip()[:64]!r}")
        return row[0]

    def add_reader(self, concept_id: int, name: str) -> None:
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            conn.execute("INSERT OR IGNORE INTO concept_readers (concept_id, user_id) VALUES (?, ?)",
                         (concept_id, self._user_id(conn, name)))

    def remove_reader(self, concept_id: int, name: str) -> None:
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            conn.execute("DELETE FROM concept_readers WHERE concept_id = ? AND user_id = ?",
                         (concept_id, self._user_id(conn, name)))

    def readers(self, concept_id: int) -> list[str]:
        with self.db.read() as conn:
            self._require_concept(conn, concept_id)
            return [r[0] for r in conn.execute("SELECT u.name FROM concept_readers r JOIN users u "
                                               "ON u.id = r.user_id WHERE r.concept_id = ? ORDER BY u.name",
                                               (concept_id,))]

    # -- batches ---------------------------------------------------------------
    def add_batch(self, concept_id: int, round_: int, source: str, model_version: int | None,
                  ids: Sequence[int], purpose: Purpose = TRAINING, note: str = "") -> int:
        """Record a batch. Jobs run one at a time, so the ids a job excluded are still the ones to exclude."""
        with self.db.write() as conn:
            batch_id = conn.execute(
                "INSERT INTO batches (concept_id, round, source, model_version, created_at, purpose, note) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (concept_id, round_, source, model_version, now(), purpose, note)).lastrowid
            conn.executemany("INSERT INTO batch_items (batch_id, position, corpus_id) VALUES (?, ?, ?)",
                             [(batch_id, i, int(c)) for i, c in enumerate(ids)])
        return batch_id

    def current_batch(self, concept_id: int, purpose: Purpose | None = None) -> BatchRecord | None:
        """The newest batch of the concept (of one purpose, if given)."""
        with self.db.read() as conn:
            self._require_concept(conn, concept_id)
            row = conn.execute("SELECT * FROM batches WHERE concept_id = ? AND purpose = COALESCE(?, purpose) "
                               "ORDER BY id DESC LIMIT 1", (concept_id, purpose)).fetchone()
            if row is None:
                return None
            ids = [r[0] for r in conn.execute(
                "SELECT corpus_id FROM batch_items WHERE batch_id = ? ORDER BY position", (row["id"],))]
        return BatchRecord(row["id"], concept_id, row["round"], row["source"], row["model_version"],
                           row["created_at"], ids, row["purpose"], row["note"])

    def batches(self, concept_id: int) -> list[BatchSummary]:
        """Every batch of the concept, newest first, with how much of it is answered."""
        with self.db.read() as conn:
            self._require_concept(conn, concept_id)
            rows = conn.execute(
                "SELECT b.*, COUNT(i.corpus_id) AS size, COUNT(r.corpus_id) AS rated, "
                "COALESCE(SUM(r.positive), 0) AS positive, COALESCE(SUM(r.skipped), 0) AS skipped "
                "FROM batches b JOIN batch_items i ON i.batch_id = b.id "
                "LEFT JOIN ratings r ON r.concept_id = b.concept_id AND r.corpus_id = i.corpus_id "
                "WHERE b.concept_id = ? GROUP BY b.id ORDER BY b.id DESC", (concept_id,)).fetchall()
        return [BatchSummary(r["id"], r["round"], r["source"], r["purpose"], r["model_version"], r["created_at"],
                             r["size"], r["rated"], r["positive"], r["skipped"], r["note"]) for r in rows]

    def batch_ids(self, concept_id: int, purpose: Purpose) -> np.ndarray:
        """Sorted ids of every image ever put in a batch of this purpose, rated or not."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT DISTINCT i.corpus_id FROM batch_items i JOIN batches b ON b.id = i.batch_id "
                                "WHERE b.concept_id = ? AND b.purpose = ? ORDER BY i.corpus_id",
                                (concept_id, purpose)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def next_round(self, concept_id: int) -> int:
        """The round of the next training batch (evaluation batches do not start rounds)."""
        latest = self.latest_round(concept_id)
        return 0 if latest is None else latest + 1

    def latest_round(self, concept_id: int) -> int | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT MAX(round) FROM batches WHERE concept_id = ? AND purpose = ?",
                               (concept_id, TRAINING)).fetchone()
        return row[0]

    # -- ratings -----------------------------------------------------------------
    def rate(self, concept_id: int, user_id: int, ratings: Sequence[Rating]) -> None:
        """Record (or change) ratings of images from this concept's batches, all or none.

        A binary concept is answered positive or not, a task by a class index; either may be skipped."""
        with self.db.write() as conn:
            classes = self._concept(conn, self._require_concept(conn, concept_id)).classes
            stamp = now()
            for r in ratings:
                positive = self._answer(concept_id, classes, r)
                if r.batch_id is not None:
                    self._check_shown_batch(conn, concept_id, r)
                batch = conn.execute(
                    "SELECT b.id, b.round, b.source, b.purpose FROM batch_items i JOIN batches b ON b.id = i.batch_id "
                    "WHERE b.concept_id = ? AND i.corpus_id = ? AND b.id = COALESCE(?, b.id) "
                    "ORDER BY b.id DESC LIMIT 1", (concept_id, r.corpus_id, r.batch_id)).fetchone()
                if batch is None:
                    raise Invalid(f"image {r.corpus_id} is not in any batch of concept {concept_id}; "
                                  "only images shown for rating can be rated")
                conn.execute(
                    "INSERT INTO ratings (concept_id, corpus_id, positive, batch_id, round, source, seconds, "
                    "rated_by, rated_at, purpose, skipped, category) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (concept_id, corpus_id) DO UPDATE SET positive = excluded.positive, "
                    "skipped = excluded.skipped, "
                    "seconds = COALESCE(excluded.seconds, ratings.seconds), rated_by = excluded.rated_by, "
                    "rated_at = excluded.rated_at, category = excluded.category",
                    (concept_id, r.corpus_id, positive, batch["id"], batch["round"], batch["source"],
                     r.seconds, user_id, stamp, batch["purpose"], int(r.positive is None and r.category is None),
                     r.category))

    @staticmethod
    def _answer(concept_id: int, classes: list[str] | None, r: Rating) -> int:
        """The ``positive`` column of a rating (a task's: in a category, not "none of these"), once the
        answer is of the concept's kind."""
        if classes is None:
            if r.category is not None:
                raise Invalid(f"concept {concept_id} is not a task: rate image {r.corpus_id} with 'positive' "
                              "true or false, or 'skip'")
            return int(bool(r.positive))
        if r.positive is not None or (r.category is not None and not 0 <= r.category < len(classes)):
            raise Invalid(f"concept {concept_id} is a task: rate image {r.corpus_id} with 'category', a class "
                          f"index 0..{len(classes) - 1} ({', '.join(classes)}), or 'skip'")
        return int(r.category is not None and classes[r.category] != NONE_OF_THESE)

    @staticmethod
    def _check_shown_batch(conn, concept_id: int, r: Rating) -> None:
        """A rating names the batch it was made on: it must be the concept's newest of its purpose and hold
        the image, or the page showed something else (another concept, a replaced batch)."""
        row = conn.execute("SELECT concept_id, purpose FROM batches WHERE id = ?", (r.batch_id,)).fetchone()
        if row is None or row["concept_id"] != concept_id:
            raise Conflict(f"batch {r.batch_id} is not a batch of concept {concept_id}: the rating of image "
                           f"{r.corpus_id} was made on another concept's page; reload this concept")
        newest = conn.execute("SELECT MAX(id) FROM batches WHERE concept_id = ? AND purpose = ?",
                              (concept_id, row["purpose"])).fetchone()[0]
        if newest != r.batch_id:
            raise Conflict(f"batch {r.batch_id} was replaced by batch {newest}; the rating of image "
                           f"{r.corpus_id} was not saved: rate the new batch")
        if conn.execute("SELECT 1 FROM batch_items WHERE batch_id = ? AND corpus_id = ?",
                        (r.batch_id, r.corpus_id)).fetchone() is None:
            raise Invalid(f"image {r.corpus_id} is not in batch {r.batch_id}")

    def unrate(self, concept_id: int, corpus_id: int) -> None:
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            if conn.execute("DELETE FROM ratings WHERE concept_id = ? AND corpus_id = ?",
                            (concept_id, corpus_id)).rowcount == 0:
                raise NotFound(f"image {corpus_id} has no rating in concept {concept_id}")

    def ratings_of(self, concept_id: int, ids: Sequence[int]) -> dict[int, bool | int | None]:
        """The answer given for each rated id among ``ids``: positive or not, a task's class index, or None
        (skipped)."""
        with self.db.read() as conn:
            rows = conn.execute(
                f"SELECT corpus_id, positive, skipped, category FROM ratings WHERE concept_id = ? AND corpus_id IN "
                f"({','.join('?' * len(ids))})", (concept_id, *ids)).fetchall() if ids else []
        return {r[0]: None if r[2] else r[3] if r[3] is not None else bool(r[1]) for r in rows}

    def skipped_ids(self, concept_id: int) -> np.ndarray:
        with self.db.read() as conn:
            rows = conn.execute("SELECT corpus_id FROM ratings WHERE concept_id = ? AND skipped = 1 "
                                "ORDER BY corpus_id", (concept_id,)).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def rating_rows(self, concept_id: int, offset: int = 0, limit: int | None = None) -> list[RatingRow]:
        """Every answer of the concept, in the order given, with who gave it."""
        with self.db.read() as conn:
            classes = self._concept(conn, self._require_concept(conn, concept_id)).classes
            rows = conn.execute(
                "SELECT r.*, u.name AS rater FROM ratings r JOIN users u ON u.id = r.rated_by "
                "WHERE r.concept_id = ? ORDER BY r.rated_at, r.corpus_id LIMIT ? OFFSET ?",
                (concept_id, -1 if limit is None else limit, offset)).fetchall()

        def label(r) -> str:
            if r["skipped"]:
                return "skip"
            return classes[r["category"]] if classes is not None else "positive" if r["positive"] else "negative"
        return [RatingRow(r["corpus_id"], label(r), r["round"], r["purpose"], r["batch_id"], r["seconds"],
                          r["rater"], r["rated_at"]) for r in rows]

    def labels(self, concept_id: int, purpose: Purpose = TRAINING) -> Labels:
        """The ratings of one purpose, sorted by id: training ones are all a model may learn from
        (a task's labels are class indices)."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT corpus_id, COALESCE(category, positive), round FROM ratings "
                                "WHERE concept_id = ? AND purpose = ? AND skipped = 0 ORDER BY corpus_id",
                                (concept_id, purpose)).fetchall()
        table = np.array([tuple(r) for r in rows], dtype=np.int64).reshape(-1, 3)
        return Labels(table[:, 0].copy(), table[:, 1].astype(np.float32), table[:, 2].copy())

    def rating_counts(self, concept_id: int, purpose: Purpose = TRAINING) -> tuple[int, int]:
        """(rated, positive) for the concept, among positive and negative ratings of one purpose."""
        with self.db.read() as conn:
            row = conn.execute("SELECT COUNT(*), COALESCE(SUM(positive), 0) FROM ratings "
                               "WHERE concept_id = ? AND purpose = ? AND skipped = 0",
                               (concept_id, purpose)).fetchone()
        return int(row[0]), int(row[1])

    def skipped_count(self, concept_id: int) -> int:
        with self.db.read() as conn:
            return conn.execute("SELECT COUNT(*) FROM ratings WHERE concept_id = ? AND skipped = 1",
                                (concept_id,)).fetchone()[0]

    # -- jobs ------------------------------------------------------------------------
    def create_job(self, concept_id: int, kind: str, params: dict[str, Any], user_id: int,
                   per_user: int | None = None, overall: int | None = None) -> int:
        """Queue a job; at most one queued or running job per concept, ``per_user`` per user and
        ``overall`` in all (checked in the same transaction, so concurrent requests cannot overshoot)."""
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            active = conn.execute("SELECT id, kind FROM jobs WHERE concept_id = ? AND status IN (?, ?)",
                                  (concept_id, *ACTIVE)).fetchone()
            if active is not None:
                raise Conflict(f"job {active['id']} ({active['kind']}) is still running for this concept; "
                               "wait for it to finish")
            self._check_job_room(conn, user_id, per_user, overall)
            return conn.execute(
                "INSERT INTO jobs (concept_id, kind, params, status, message, created_by, created_at) "
                "VALUES (?, ?, ?, 'queued', 'waiting for a worker', ?, ?)",
                (concept_id, kind, json.dumps(params), user_id, now())).lastrowid

    def check_job_room(self, user_id: int, per_user: int | None, overall: int | None) -> None:
        """Raise TooMany unless the user could queue one more job now."""
        with self.db.read() as conn:
            self._check_job_room(conn, user_id, per_user, overall)

    @staticmethod
    def _check_job_room(conn, user_id: int, per_user: int | None, overall: int | None) -> None:
        mine = conn.execute("SELECT COUNT(*) FROM jobs WHERE created_by = ? AND status IN (?, ?)",
                            (user_id, *ACTIVE)).fetchone()[0]
        if per_user is not None and mine >= per_user:
            raise TooMany(f"you have {mine} jobs queued or running (at most {per_user}); "
                          "wait for one to finish or cancel one")
        everyone = conn.execute("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)", ACTIVE).fetchone()[0]
        if overall is not None and everyone >= overall:
            raise TooMany(f"the server has {everyone} jobs queued or running (at most {overall}); "
                          "try again later")

    def job(self, job_id: int) -> JobRecord:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id}")
        return _job(row)

    def jobs(self, concept_id: int, limit: int = 20) -> list[JobRecord]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM jobs WHERE concept_id = ? ORDER BY id DESC LIMIT ?",
                                (concept_id, limit)).fetchall()
        return [_job(r) for r in rows]

    def start_job(self, job_id: int) -> bool:
        """Mark a queued job running; False if it is no longer queued (cancelled meanwhile)."""
        with self.db.write() as conn:
            return conn.execute("UPDATE jobs SET status = 'running', started_at = ?, message = 'started' "
                                "WHERE id = ? AND status = 'queued'", (now(), job_id)).rowcount == 1

    def cancel_job(self, job_id: int) -> str:
        """Cancel a queued job at once; return its status before ('queued', 'running', or finished)."""
        with self.db.write() as conn:
            row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id}")
            if row["status"] == "queued":
                conn.execute("UPDATE jobs SET status = 'cancelled', message = 'cancelled before it started', "
                             "finished_at = ? WHERE id = ?", (now(), job_id))
            elif row["status"] == "running":
                conn.execute("UPDATE jobs SET message = 'cancelling' WHERE id = ?", (job_id,))
            return row["status"]

    def progress_job(self, job_id: int, percent: float, message: str) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE jobs SET percent = ?, message = ? WHERE id = ? AND status = 'running'",
                         (round(float(percent), 1), message, job_id))

    def finish_job(self, job_id: int, ok: bool, message: str, result: dict[str, Any] | None = None,
                   status: str | None = None) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE jobs SET status = ?, percent = CASE WHEN ? THEN 100 ELSE percent END, "
                         "message = ?, result = ?, finished_at = ? WHERE id = ?",
                         (status or ("done" if ok else "failed"), ok, message,
                          json.dumps(result) if result else None, now(), job_id))

    def queued_jobs(self) -> list[int]:
        with self.db.read() as conn:
            return [r[0] for r in conn.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY id")]

    def recover_jobs(self) -> tuple[list[int], int]:
        """After a restart: (jobs to run again, in order; how many were marked failed).

        Queued jobs are run again. A running one whose model version was already
        recorded is queued again to finish from that version; other running ones
        are marked failed (their work is unknown), and can be started again.
        """
        with self.db.write() as conn:
            recorded = [r[0] for r in conn.execute(
                "SELECT j.id FROM jobs j WHERE j.status = 'running' AND EXISTS "
                "(SELECT 1 FROM versions v WHERE v.job_id = j.id)")]
            conn.executemany("UPDATE jobs SET status = 'queued', message = 'resuming: its model version was "
                             "recorded before the server stopped' WHERE id = ?", [(i,) for i in recorded])
        failed = self.fail_interrupted_jobs(("running",))
        return self.queued_jobs(), failed

    def version_of_job(self, job_id: int) -> int | None:
        """The model version a job recorded, if it got that far."""
        with self.db.read() as conn:
            row = conn.execute("SELECT MAX(version) FROM versions WHERE job_id = ?", (job_id,)).fetchone()
        return row[0]

    def fail_interrupted_jobs(self, statuses: Sequence[str] = ACTIVE) -> int:
        """Mark jobs a previous server process left unfinished as failed; they can be started again."""
        with self.db.write() as conn:
            return conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = ?, "
                "message = 'interrupted: the server stopped while this job was ' || status || "
                f"'; start it again' WHERE status IN ({','.join('?' * len(statuses))})",
                (now(), *statuses)).rowcount

    # -- targets ------------------------------------------------------------------------
    def set_target(self, concept_id: int, spec: dict[str, Any], sentence: str | None, user_id: int) -> None:
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            conn.execute("INSERT INTO targets (concept_id, spec, sentence, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
                         "ON CONFLICT (concept_id) DO UPDATE SET spec = excluded.spec, sentence = excluded.sentence, "
                         "set_by = excluded.set_by, set_at = excluded.set_at",
                         (concept_id, json.dumps(spec), sentence, user_id, now()))

    def target(self, concept_id: int) -> tuple[dict[str, Any], str | None, str] | None:
        """(spec, sentence, set_at) of the concept's target, or None."""
        with self.db.read() as conn:
            self._require_concept(conn, concept_id)
            row = conn.execute("SELECT spec, sentence, set_at FROM targets WHERE concept_id = ?",
                               (concept_id,)).fetchone()
        return None if row is None else (json.loads(row["spec"]), row["sentence"], row["set_at"])

    def clear_target(self, concept_id: int) -> None:
        with self.db.write() as conn:
            self._require_concept(conn, concept_id)
            if conn.execute("DELETE FROM targets WHERE concept_id = ?", (concept_id,)).rowcount == 0:
                raise NotFound(f"concept {concept_id} has no target")

    # -- model versions ------------------------------------------------------------------
    def add_version(self, concept_id: int, version: int, job_id: int | None, path: str,
                    sidecar: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT INTO versions (concept_id, version, job_id, created_at, path, sidecar) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (concept_id, version, job_id, now(), path, json.dumps(sidecar)))

    def update_version_sidecar(self, concept_id: int, version: int, sidecar: dict[str, Any]) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE versions SET sidecar = ? WHERE concept_id = ? AND version = ?",
                         (json.dumps(sidecar), concept_id, version))

    def versions(self, concept_id: int) -> list[VersionRecord]:
        with self.db.read() as conn:
            self._require_concept(conn, concept_id)
            rows = conn.execute("SELECT * FROM versions WHERE concept_id = ? ORDER BY version",
                                (concept_id,)).fetchall()
        return [_version(r) for r in rows]

    def version(self, concept_id: int, version: int) -> VersionRecord:
        with self.db.read() as conn:
            self._require_concept(conn, concept_id)
            row = conn.execute("SELECT * FROM versions WHERE concept_id = ? AND version = ?",
                               (concept_id, version)).fetchone()
        if row is None:
            raise NotFound(f"concept {concept_id} has no model version {version}")
        return _version(row)

    def latest_versions(self) -> dict[int, int]:
        """Latest version number of every concept that has one."""
        with self.db.read() as conn:
            return {r[0]: r[1] for r in conn.execute(
                "SELECT concept_id, MAX(version) FROM versions GROUP BY concept_id")}
