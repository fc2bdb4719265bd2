"""Users and bearer tokens. Only a token's SHA-256 is stored; the token is shown once.

Tokens carry 256 random bits, so a plain SHA-256 (not a slow password hash)
is enough to make a stolen database useless for logging in.
"""
from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Literal

from server.db import Database, now
from server.errors import Conflict, Invalid

Role = Literal["owner", "viewer"]
ROLES = ("owner", "viewer")
TOKEN_PREFIX = "agt_"
DEV_USER = "local"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Accounts:
    def __init__(self, db: Database):
        self.db = db
        # Token hash -> user, filled on first use so polls skip the database. Tokens
        # cannot be revoked or change role yet; a revoke would have to clear this.
        self._known: dict[str, User] = {}

    def add_user(self, name: str, role: Role) -> tuple[User, str]:
        """Create a user and a first token; returns (user, token)."""
        name = name.strip()
        if not name or len(name) > 64:
            raise Invalid("a user name must be 1 to 64 characters")
        if role not in ROLES:
            raise Invalid(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with self.db.write() as conn:
                user_id = conn.execute("INSERT INTO users (name, role, created_at) VALUES (?, ?, ?)",
                                       (name, role, now())).lastrowid
                conn.execute("INSERT INTO tokens (hash, user_id, created_at) VALUES (?, ?, ?)",
                             (hash_token(token), user_id, now()))
        except sqlite3.IntegrityError:
            raise Conflict(f"a user named {name!r} already exists") from None
        return User(user_id, name, role), token

    def known_user(self, token: str) -> User | None:
        """The user of a token already seen by this process (no database access)."""
        return self._known.get(hash_token(token))

    def user_for_token(self, token: str) -> User | None:
        digest = hash_token(token)
        with self.db.read() as conn:
            row = conn.execute("SELECT u.id, u.name, u.role FROM tokens t JOIN users u ON u.id = t.user_id "
                               "WHERE t.hash = ?", (digest,)).fetchone()
        if row is None:
            return None
        self._known[digest] = User(row[0], row[1], row[2])
        return self._known[digest]

    def dev_user(self) -> User:
        """The single local owner of --dev mode (created on first use, without a token)."""
        with self.db.write() as conn:
            conn.execute("INSERT OR IGNORE INTO users (name, role, created_at) VALUES (?, 'owner', ?)",
                         (DEV_USER, now()))
            row = conn.execute("SELECT id, name, role FROM users WHERE name = ?", (DEV_USER,)).fetchone()
        return User(row[0], row[1], row[2])
