"""Background jobs: one worker thread runs queued jobs in order, off the event loop.

A job's state lives in SQLite (queued / running / done / failed, percent,
message), so any client can follow it and a restart can see what was cut
short. Jobs run one at a time: training and corpus-wide scoring already use
every core.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Protocol

from agile.errors import AgileError
from server.errors import ServerError
from server.repository import JobRecord, Repository

log = logging.getLogger("agile.server.jobs")

Progress = Callable[[float, str], None]


class JobHandler(Protocol):
    def __call__(self, job: JobRecord, progress: Progress) -> tuple[str, dict[str, Any]]:
        """Do the work; return (final message, result)."""


class JobRunner:
    def __init__(self, repo: Repository, handlers: dict[str, JobHandler], start_delay: float = 0.0):
        self.repo = repo
        self.handlers = handlers
        self.start_delay = start_delay
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="agile-jobs", daemon=True)

    def start(self) -> int:
        """Mark jobs an earlier process left unfinished as failed, then start the worker."""
        interrupted = self.repo.fail_interrupted_jobs()
        self._thread.start()
        return interrupted

    def stop(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def submit(self, concept_id: int, kind: str, params: dict[str, Any], user_id: int) -> int:
        if kind not in self.handlers:
            raise ServerError(f"unknown job kind {kind!r}")
        job_id = self.repo.create_job(concept_id, kind, params, user_id)
        self._queue.put(job_id)
        return job_id

    def _work(self) -> None:
        while (job_id := self._queue.get()) is not None:
            self._run(self.repo.job(job_id))

    def _run(self, job: JobRecord) -> None:
        self.repo.start_job(job.id)
        if self.start_delay:
            time.sleep(self.start_delay)
        try:
            message, result = self.handlers[job.kind](job, lambda p, m: self.repo.progress_job(job.id, p, m))
        except (AgileError, ServerError) as e:
            self.repo.finish_job(job.id, False, str(e))
        except Exception as e:  # a bug, not bad input: keep the server up and say what happened
            log.exception("job %s (%s) crashed", job.id, job.kind)
            self.repo.finish_job(job.id, False, f"internal error: {type(e).__name__}: {e}")
        else:
            self.repo.finish_job(job.id, True, message, result)
