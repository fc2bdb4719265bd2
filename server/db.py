"""SQLite in WAL mode: the schema, and one transaction per state change.

Each thread keeps its own connection (sqlite3 connections are not shared
between threads). Writes take the write lock up front (BEGIN IMMEDIATE) so two
writers never deadlock upgrading read locks; readers never block writers.

The schema grows by numbered migrations (``PRAGMA user_version``), so a
database written by an earlier server opens with its data intact.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'viewer')),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS concepts (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS phrases (
    concept_id INTEGER NOT NULL REFERENCES concepts(id),
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    positive INTEGER NOT NULL,
    PRIMARY KEY (concept_id, position)
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    concept_id INTEGER NOT NULL REFERENCES concepts(id),
    round INTEGER NOT NULL,
    source TEXT NOT NULL,
    model_version INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_concept ON batches (concept_id, id);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    position INTEGER NOT NULL,
    corpus_id INTEGER NOT NULL,
    PRIMARY KEY (batch_id, position)
);
CREATE INDEX IF NOT EXISTS batch_items_by_id ON batch_items (corpus_id);
CREATE TABLE IF NOT EXISTS ratings (
    concept_id INTEGER NOT NULL REFERENCES concepts(id),
    corpus_id INTEGER NOT NULL,
    positive INTEGER NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    round INTEGER NOT NULL,
    source TEXT NOT NULL,
    seconds REAL,
    rated_by INTEGER NOT NULL REFERENCES users(id),
    rated_at TEXT NOT NULL,
    PRIMARY KEY (concept_id, corpus_id)
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    concept_id INTEGER NOT NULL REFERENCES concepts(id),
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    percent REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    result TEXT,
    created_by INTEGER NOT NULL REFERENCES users(id),
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_concept ON jobs (concept_id, id);
CREATE TABLE IF NOT EXISTS versions (
    concept_id INTEGER NOT NULL REFERENCES concepts(id),
    version INTEGER NOT NULL,
    job_id INTEGER,
    created_at TEXT NOT NULL,
    path TEXT NOT NULL,
    sidecar TEXT NOT NULL,
    PRIMARY KEY (concept_id, version)
);
"""

# Each migration brings a database from version i to i + 1 (``PRAGMA user_version``).
MIGRATIONS = (
    # 1: evaluation batches. A batch (and each rating, copied from its batch) is for
    # training or for evaluation; rows written before this existed are training data.
    """
    ALTER TABLE batches ADD COLUMN purpose TEXT NOT NULL DEFAULT 'training'
        CHECK (purpose IN ('training', 'evaluation'));
    ALTER TABLE ratings ADD COLUMN purpose TEXT NOT NULL DEFAULT 'training'
        CHECK (purpose IN ('training', 'evaluation'));
    CREATE INDEX IF NOT EXISTS ratings_by_purpose ON ratings (concept_id, purpose);
    """,
    # 2: revocable tokens. A revoked token keeps its row (when it was revoked is a
    # record worth having after a leak); lookups skip it.
    """
    ALTER TABLE tokens ADD COLUMN revoked_at TEXT;
    CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (user_id);
    """,
    # 3: cancellable jobs (a CHECK constraint cannot be altered, so the table is
    # rebuilt with its rows), and concepts shared with chosen readers.
    """
    CREATE TABLE jobs_new (
        id INTEGER PRIMARY KEY,
        concept_id INTEGER NOT NULL REFERENCES concepts(id),
        kind TEXT NOT NULL,
        params TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        percent REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        result TEXT,
        created_by INTEGER NOT NULL REFERENCES users(id),
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    INSERT INTO jobs_new SELECT id, concept_id, kind, params, status, percent, message, result, created_by,
        created_at, started_at, finished_at FROM jobs;
    DROP TABLE jobs;
    ALTER TABLE jobs_new RENAME TO jobs;
    CREATE INDEX IF NOT EXISTS jobs_by_concept ON jobs (concept_id, id);
    CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, created_by);
    CREATE TABLE IF NOT EXISTS concept_readers (
        concept_id INTEGER NOT NULL REFERENCES concepts(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        PRIMARY KEY (concept_id, user_id)
    );
    """,
    # 4: targets. A concept may carry one target (agile.targets.Target as JSON) and the
    # sentence it was read from.
    """
    CREATE TABLE IF NOT EXISTS targets (
        concept_id INTEGER PRIMARY KEY REFERENCES concepts(id),
        spec TEXT NOT NULL,
        sentence TEXT,
        set_by INTEGER NOT NULL REFERENCES users(id),
        set_at TEXT NOT NULL
    );
    """,
    # 5: the owner's third answer and archived concepts. A skipped rating ("can't tell")
    # keeps its row (it is never offered again) with positive = 0, and is never a label.
    # An archived concept keeps its rows and versions (a deletion can be looked into)
    # but is hidden from every read.
    """
    ALTER TABLE ratings ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0 CHECK (skipped IN (0, 1));
    ALTER TABLE concepts ADD COLUMN archived_at TEXT;
    """,
    # 6: the assistant. Each tip shown or dismissed per concept, keyed by its finding's
    # stable key, with the digest of the evidence it was shown with (a shown tip may come
    # back when its evidence changes; a dismissed one never does); a per-user tips switch.
    """
    CREATE TABLE IF NOT EXISTS assistant_tips (
        concept_id INTEGER NOT NULL REFERENCES concepts(id),
        key TEXT NOT NULL,
        digest TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('shown', 'dismissed')),
        user_id INTEGER NOT NULL REFERENCES users(id),
        updated_at TEXT NOT NULL,
        PRIMARY KEY (concept_id, key)
    );
    CREATE TABLE IF NOT EXISTS assistant_users (
        user_id INTEGER PRIMARY KEY REFERENCES users(id),
        tips INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    # 7: image seeds, candidate filters and batch notes. A seed is a corpus image (its id) or an
    # upload (the sha256 of its bytes and its float32 embedding; never a path from the request);
    # one image seeds a concept once. A concept's candidate filter is its JSON (NULL: anywhere).
    # A batch's note tells the owner how it was chosen when that is not what was asked.
    """
    CREATE TABLE IF NOT EXISTS seeds (
        id INTEGER PRIMARY KEY,
        concept_id INTEGER NOT NULL REFERENCES concepts(id),
        corpus_id INTEGER,
        sha256 TEXT,
        embedding BLOB,
        added_by INTEGER NOT NULL REFERENCES users(id),
        added_at TEXT NOT NULL,
        CHECK ((corpus_id IS NULL) = (sha256 IS NOT NULL)),
        CHECK ((sha256 IS NULL) = (embedding IS NULL))
    );
    CREATE UNIQUE INDEX IF NOT EXISTS seeds_by_image ON seeds (concept_id, COALESCE(corpus_id, -1),
                                                               COALESCE(sha256, ''));
    ALTER TABLE concepts ADD COLUMN candidates TEXT;
    ALTER TABLE batches ADD COLUMN note TEXT NOT NULL DEFAULT '';
    """,
    # 8: multi-category tasks (agile.task). A task's categories in class order, each with its phrases (a
    # JSON list, its name first); ``none_of_these`` is NULL for a binary concept and 0/1 for a task. A
    # seed may name the category it is an example of. A task's rating keeps its class in ``category``,
    # and ``positive`` says whether that class is a category (not "none of these"), so counts of
    # "positive" answers read the same for both kinds.
    """
    CREATE TABLE IF NOT EXISTS categories (
        concept_id INTEGER NOT NULL REFERENCES concepts(id),
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        phrases TEXT NOT NULL,
        PRIMARY KEY (concept_id, position)
    );
    ALTER TABLE concepts ADD COLUMN none_of_these INTEGER CHECK (none_of_these IN (0, 1));
    ALTER TABLE seeds ADD COLUMN category INTEGER;
    ALTER TABLE ratings ADD COLUMN category INTEGER;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class Database:
    """A SQLite file with per-thread connections."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Apply the migrations this file has not had yet, each in one transaction.

        The version is read again under the write lock, so two processes opening
        the same file (the server and ``agile users add``) never both apply one.
        """
        while True:
            with self.write() as conn:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    return
                for statement in _statements(MIGRATIONS[version]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: transactions are begun explicitly below.
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode (only an OS crash
            # can drop the last commits); FULL would fsync on every rating.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any exception."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """The statements of a migration (``executescript`` would commit the open transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]
