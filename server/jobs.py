"""Background jobs: one worker thread per lane of work, off the event loop.

A job's state lives in SQLite (queued / running / done / failed / cancelled,
percent, message), so any client can follow it and a restart can take up
what was cut short: queued jobs run again, in order.

Lanes keep short work from waiting behind long work: expansion (a fraction
of a second) and evaluation sets never queue behind a round that trains and
scans the corpus. Training and rounds share one lane: each already uses
every core. Queues are bounded per user and overall (the repository checks
both when a job is created), and a job can be cancelled: at once while
queued, at its next progress report while running.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, Protocol

from agile.errors import AgileError
from server.errors import Conflict, ServerError
from server.repository import JobRecord, Repository

log = logging.getLogger("agile.server.jobs")

Progress = Callable[[float, str], None]
LANES = {"expand": "expand", "evaluate": "evaluate", "train": "training", "round": "training"}


class JobCancelled(Exception):
    """Raised inside a running job at its next progress report once it is cancelled."""


class JobHandler(Protocol):
    def __call__(self, job: JobRecord, progress: Progress) -> tuple:
        """Do the work; return (final message, result) or (final message, result, after).

        ``after`` (no arguments) runs in the job's lane once the job is
        recorded done, before the lane's next job: work whose result nobody
        waits for, such as a new version's cross-validation. It is lost if
        the process stops first; its failure is logged, never reported.
        """


class JobRunner:
    def __init__(self, repo: Repository, handlers: dict[str, JobHandler], start_delay: float = 0.0,
                 per_user: int | None = None, overall: int | None = None,
                 on_change: Callable[[int], None] = lambda job_id: None):
        self.repo = repo
        self.on_change = on_change  # told of every committed change of a job's record (long-polling clients)
        self.handlers = handlers
        self.start_delay = start_delay
        self.per_user, self.overall = per_user, overall
        lanes = sorted({LANES.get(kind, kind) for kind in handlers})
        self._queues: dict[str, queue.Queue[int | None]] = {lane: queue.Queue() for lane in lanes}
        self._threads = [threading.Thread(target=self._work, args=(q,), name=f"agile-jobs-{lane}", daemon=True)
                         for lane, q in self._queues.items()]
        self._cancelled: set[int] = set()
        self.resumed = 0
        self._lock = threading.Lock()

    def start(self) -> int:
        """Queue again what an earlier process left queued (or resumable), then start the workers.

        Returns how many interrupted jobs were marked failed.
        """
        resumed, failed = self.repo.recover_jobs()
        self.resumed = len(resumed)
        for job_id in resumed:
            self._enqueue(self.repo.job(job_id))
        for thread in self._threads:
            thread.start()
        return failed

    def stop(self, timeout: float = 5.0) -> None:
        for q in self._queues.values():
            q.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def submit(self, concept_id: int, kind: str, params: dict[str, Any], user_id: int) -> int:
        if kind not in self.handlers:
            raise ServerError(f"unknown job kind {kind!r}")
        job_id = self.repo.create_job(concept_id, kind, params, user_id, self.per_user, self.overall)
        self._enqueue(self.repo.job(job_id))
        return job_id

    def check_room(self, user_id: int) -> None:
        """429 now, before work that would end in a job (a new concept), rather than after it."""
        self.repo.check_job_room(user_id, self.per_user, self.overall)

    def cancel(self, job_id: int) -> JobRecord:
        """Cancel a queued or running job; 409 if it has already finished."""
        before = self.repo.cancel_job(job_id)
        self.on_change(job_id)
        if before == "running":
            with self._lock:
                self._cancelled.add(job_id)
        elif before != "queued":
            raise Conflict(f"job {job_id} is already {before}; only queued or running jobs can be cancelled")
        return self.repo.job(job_id)

    def _enqueue(self, job: JobRecord) -> None:
        self._queues[LANES.get(job.kind, job.kind)].put(job.id)

    def _work(self, jobs: queue.Queue[int | None]) -> None:
        while (job_id := jobs.get()) is not None:
            if self.repo.start_job(job_id):  # False: cancelled while queued
                self.on_change(job_id)
                self._run(self.repo.job(job_id))

    def _progress(self, job_id: int) -> Progress:
        def report(percent: float, message: str) -> None:
            with self._lock:
                if job_id in self._cancelled:
                    raise JobCancelled()
            self.repo.progress_job(job_id, percent, message)
            self.on_change(job_id)
        return report

    def _run(self, job: JobRecord) -> None:
        try:
            after = self._execute(job)
            self.on_change(job.id)  # the finished record, before the after-work nobody waits for
            for work in after:
                try:
                    work()
                except Exception:
                    log.exception("work after job %s (%s) failed", job.id, job.kind)
        finally:
            with self._lock:
                self._cancelled.discard(job.id)

    def _execute(self, job: JobRecord) -> list[Callable[[], None]]:
        """Run the handler and record how the job ended; returns its after-work if it succeeded."""
        progress = self._progress(job.id)
        try:
            if self.start_delay:
                time.sleep(self.start_delay)
            progress(0, "started")
            message, result, *after = self.handlers[job.kind](job, progress)
        except JobCancelled:
            version = self.repo.version_of_job(job.id)
            note = f" after recording model version {version}" if version else ""
            self.repo.finish_job(job.id, False, f"cancelled{note}", {"version": version} if version else None,
                                 status="cancelled")
        except (AgileError, ServerError) as e:
            self.repo.finish_job(job.id, False, str(e))
        except Exception as e:  # a bug, not bad input: keep the server up and say what happened
            log.exception("job %s (%s) crashed", job.id, job.kind)
            self.repo.finish_job(job.id, False, f"internal error: {type(e).__name__}: {e}")
        else:
            self.repo.finish_job(job.id, True, message, result)
            return after
        return []
