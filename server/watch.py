"""Wakes long-polling clients the moment a concept gets a new model version.

Versions are recorded by job threads; waiters live on the event loop. The
latest number per concept is kept in memory (one server process owns the
database), so a poll costs no database query.
"""
from __future__ import annotations

import asyncio
import contextlib
from typing import Iterator


class VersionWatch:
    def __init__(self, latest: dict[int, int]):
        self._latest = dict(latest)
        self._events: dict[int, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._concepts: set[int] = set(latest)  # seen to exist (concepts are never deleted)

    def knows(self, concept_id: int) -> bool:
        return concept_id in self._concepts

    def remember(self, concept_id: int) -> None:
        self._concepts.add(concept_id)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def latest(self, concept_id: int) -> int:
        """0 when the concept has no version yet."""
        return self._latest.get(concept_id, 0)

    def publish(self, concept_id: int, version: int) -> None:
        """Called from any thread after the version's record is committed."""
        if self._loop is None:
            self._set(concept_id, version)
        else:
            self._loop.call_soon_threadsafe(self._set, concept_id, version)

    def _set(self, concept_id: int, version: int) -> None:
        self._concepts.add(concept_id)
        self._latest[concept_id] = max(version, self._latest.get(concept_id, 0))
        event = self._events.pop(concept_id, None)
        if event is not None:
            event.set()

    async def wait_past(self, concept_id: int, known: int, timeout: float) -> int:
        """Return the latest version as soon as it differs from ``known``, or after ``timeout``."""
        if self.latest(concept_id) != known or timeout <= 0:
            return self.latest(concept_id)
        event = self._events.setdefault(concept_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return self.latest(concept_id)


class JobWatch:
    """Wakes long-polling clients the moment a job's record changes (started, progress, finished, cancelled).

    Job threads call ``changed``; a waiter takes its event *before* reading
    the record, so a change between the read and the wait still wakes it. An
    event lives only while some poll holds it: polls of finished (or unknown)
    jobs leave nothing behind.
    """

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self._holders: dict[int, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        """Jobs some poll is watching now."""
        return len(self._holders)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def changed(self, job_id: int) -> None:
        """Called from any thread after the job's record is committed."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._set, job_id)

    def _set(self, job_id: int) -> None:
        event = self._events.pop(job_id, None)
        if event is not None:
            event.set()

    @contextlib.contextmanager
    def watching(self, job_id: int) -> Iterator[asyncio.Event]:
        """The event the next change of ``job_id`` sets, held while the caller reads and waits (on the
        event loop)."""
        event = self._events.setdefault(job_id, asyncio.Event())
        self._holders[job_id] = self._holders.get(job_id, 0) + 1
        try:
            yield event
        finally:
            self._holders[job_id] -= 1
            if not self._holders[job_id]:
                del self._holders[job_id]
                self._events.pop(job_id, None)

    @staticmethod
    async def wait(event: asyncio.Event, timeout: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass
