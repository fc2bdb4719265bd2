"""The assistant's memory in SQLite: tips shown or dismissed per concept, and each user's tips switch."""
from __future__ import annotations

from dataclasses import dataclass

from server.db import Database, now

SHOWN, DISMISSED = "shown", "dismissed"


@dataclass
class TipStore:
    db: Database

    def seen(self, concept_id: int) -> dict[str, tuple[str, str]]:
        """key -> (status, digest of the evidence it was shown with)."""
        with self.db.read() as conn:
            rows = conn.execute("SELECT key, status, digest FROM assistant_tips WHERE concept_id = ?",
                                (concept_id,)).fetchall()
        return {r["key"]: (r["status"], r["digest"]) for r in rows}

    def mark(self, concept_id: int, key: str, digest: str, status: str, user_id: int) -> None:
        """Record a tip as shown (with its evidence) or dismissed; a dismissal is never undone by a showing."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO assistant_tips (concept_id, key, digest, status, user_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (concept_id, key) DO UPDATE SET "
                "digest = excluded.digest, user_id = excluded.user_id, updated_at = excluded.updated_at, "
                "status = CASE WHEN assistant_tips.status = 'dismissed' THEN 'dismissed' ELSE excluded.status END",
                (concept_id, key, digest, status, user_id, now()))

    def tips_on(self, user_id: int) -> bool:
        with self.db.read() as conn:
            row = conn.execute("SELECT tips FROM assistant_users WHERE user_id = ?", (user_id,)).fetchone()
        return True if row is None else bool(row["tips"])

    def set_tips(self, user_id: int, on: bool) -> None:
        with self.db.write() as conn:
            conn.execute("INSERT INTO assistant_users (user_id, tips, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (user_id) DO UPDATE SET tips = excluded.tips, updated_at = excluded.updated_at",
                         (user_id, int(on), now()))
