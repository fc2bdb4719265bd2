"""Users and bearer tokens. Only a token's SHA-256 is stored; the token is shown once.

Tokens carry 256 random bits, so a plain SHA-256 (not a slow password hash)
is enough to make a stolen database useless for logging in.
"""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Literal

from server.db import Database, now
from server.errors import Conflict, Invalid, NotFound

Role = Literal["owner", "viewer"]
ROLES = ("owner", "viewer")
TOKEN_PREFIX = "agt_"
DEV_USER = "local"
# How long a server trusts a token it has checked without asking the database
# again. Tokens are revoked by another process (``agile users revoke``), so this is
# how soon a running server refuses a revoked token; a poll costs one lookup per
# token per this many seconds.
TOKEN_RECHECK_SECONDS = 2.0


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role


@dataclass(frozen=True)
class UserSummary:
    """Who has access, for ``agile users list`` (never a token or its hash)."""
    name: str
    role: Role
    created_at: str
    active_tokens: int


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database):
        self.db = db
        # Token hash -> (user, monotonic time after which to look it up again), so
        # polls skip the database; the expiry bounds how long a revoked token works.
        self._known: dict[str, tuple[User, float]] = {}

    def add_user(self, name: str, role: Role) -> tuple[User, str]:
        """Create a user and a first token; returns (user, token)."""
        name = name.strip()
        if not name or len(name) > 64:
            raise Invalid("a user name must be 1 to 64 characters")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        try:
            with self.db.write() as conn:
                user_id = conn.execute("INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)",
                                       (name, role, now())).lastrowid
                token = _insert_token(conn, user_id)
        except sqlite3.IntegrityError:
            raise Conflict(f"a user named {name!r} already exists") from None
        return User(user_id, name, role), token

    def issue_token(self, name: str) -> tuple[User, str]:
        """A new token for an existing user (their other tokens keep working)."""
        with self.db.write() as conn:
            user = _user_named(conn, name)
            return user, _insert_token(conn, user.id)

    def revoke(self, name: str) -> int:
        """Revoke every active token of a user; their concepts and ratings stay. Returns how many."""
        with self.db.write() as conn:
            user = _user_named(conn, name)
            revoked = conn.execute("UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                                   (now(), user.id)).rowcount
        # This process forgets them now; a server (another process) within TOKEN_RECHECK_SECONDS.
        # list() copies the items in one step, so a lookup on another thread cannot break the loop.
        self._known = {h: entry for h, entry in list(self._known.items()) if entry[0].id != user.id}
        return revoked

    def list_users(self) -> list[UserSummary]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT u.name, u.role, u.created_at, COUNT(t.hash) FROM users u "
                                "LEFT JOIN tokens t ON t.user_id = u.id AND t.revoked_at IS NULL "
                                "GROUP BY u.id ORDER BY u.name").fetchall()
        return [UserSummary(*row) for row in rows]

    def known_user(self, token: str) -> User | None:
        """The user of a token this process checked recently (no database access)."""
        entry = self._known.get(hash_token(token))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def user_for_token(self, token: str) -> User | None:
        digest = hash_token(token)
        with self.db.read() as conn:
            row = conn.execute("SELECT u.id, u.name, u.role FROM tokens t JOIN users u ON u.id = t.user_id "
                               "WHERE t.hash = ? AND t.revoked_at IS NULL", (digest,)).fetchone()
        if row is None:
            self._known.pop(digest, None)
            return None
        user = User(row[0], row[1], row[2])
        self._known[digest] = (user, time.monotonic() + TOKEN_RECHECK_SECONDS)
        return user

    def dev_user(self) -> User:
        """The single local owner of --dev mode (created on first use, without a token)."""
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO users (name, role, created_at) VALUES (?, 'owner', ?)",
                         (DEV_USER, now()))
            row = conn.execute("SELECT id, name, role FROM users WHERE name = ?", (DEV_USER,)).fetchone()
        return User(row[0], row[1], row[2])


def _insert_token(conn: sqlite3.Connection, user_id: int) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn.execute("INSERT INTO tokens (hash, user_id, created_at) VALUES (?, ?, ?)",
                 (hash_token(token), user_id, now()))
    return token


def _user_named(conn: sqlite3.Connection, name: str) -> User:
    row = conn.execute("SELECT id, name, role FROM users WHERE name = ?", (name.strip(),)).fetchone()
    if row is None:
        raise NotFound(f"no user named {name!r} (see 'agile users list')")
    return User(row[0], row[1], row[2])
