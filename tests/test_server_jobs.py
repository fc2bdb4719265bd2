"""The job runner over a real SQLite file: lanes, bounds, cancel, and what a restart takes up again."""
from __future__ import annotations

import threading
import time

import pytest

from server.db import Database
from server.errors import Conflict, TooMany
from server.jobs import JobRunner
from server.repository import Repository


def make_repo(tmp_path, users: int = 2, concepts: int = 4) -> Repository:
    repo = Repository(Database(tmp_path / "db.sqlite3"))
    with repo.db.write() as conn:
        for u in range(1, users + 1):
            conn.execute("INSERT INTO users (name, role, created_at) VALUES (?, 'owner', 'now')", (f"u{u}",))
    for c in range(concepts):
        repo.create_concept(f"c{c}", [f"c{c}"], [], owner_id=1 + c % users)
    return repo


def wait_status(repo: Repository, job_id: int, statuses: tuple[str, ...], timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = repo.job(job_id).status
        if status in statuses:
            return status
        time.sleep(0.01)
    raise TimeoutError(f"job {job_id} still {repo.job(job_id).status}")


def slow(seconds: float, ran: list | None = None):
    def handler(job, progress):
        if ran is not None:
            ran.append(job.id)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            progress(50, "working")
            time.sleep(0.02)
        return "done", {}
    return handler


def test_expansion_never_waits_behind_a_round(tmp_path):
    repo = make_repo(tmp_path)
    runner = JobRunner(repo, {"round": slow(3.0), "train": slow(3.0), "expand": slow(0.1), "evaluate": slow(0.1)})
    runner.start()
    try:
        round_job = runner.submit(1, "round", {}, 1)
        wait_status(repo, round_job, ("running",))
        started = time.monotonic()
        expand_job = runner.submit(2, "expand", {}, 2)
        assert wait_status(repo, expand_job, ("done",)) == "done"
        assert time.monotonic() - started < 1.5
        assert repo.job(round_job).status == "running"
    finally:
        runner.stop()


def test_jobs_are_bounded_per_user_and_overall(tmp_path):
    repo = make_repo(tmp_path, concepts=6)
    runner = JobRunner(repo, {"expand": slow(0.1)}, per_user=2, overall=3)  # never started: jobs stay queued
    runner.submit(1, "expand", {}, 1)
    runner.submit(3, "expand", {}, 1)
    with pytest.raises(TooMany, match="at most 2"):
        runner.submit(5, "expand", {}, 1)
    runner.submit(2, "expand", {}, 2)
    with pytest.raises(TooMany, match="at most 3"):
        runner.submit(4, "expand", {}, 2)


def test_cancel_a_queued_and_a_running_job(tmp_path):
    repo = make_repo(tmp_path)
    ran: list[int] = []
    runner = JobRunner(repo, {"round": slow(30.0, ran), "train": slow(30.0, ran), "expand": slow(0.1, ran)})
    runner.start()
    try:
        running = runner.submit(1, "round", {}, 1)
        wait_status(repo, running, ("running",))
        queued = runner.submit(2, "train", {}, 2)  # same lane: waits behind the round
        assert runner.cancel(queued).status == "cancelled"
        started = time.monotonic()
        runner.cancel(running)
        assert wait_status(repo, running, ("cancelled",)) == "cancelled"
        assert time.monotonic() - started < 2
        time.sleep(0.3)
        assert ran == [running]  # the cancelled queued job never ran
        with pytest.raises(Conflict):
            runner.cancel(running)
    finally:
        runner.stop()


def test_a_restart_resumes_queued_jobs_and_a_round_whose_version_was_recorded(tmp_path):
    repo = make_repo(tmp_path)
    queued = repo.create_job(1, "expand", {}, 1)
    cut_short = repo.create_job(2, "train", {}, 2)
    recorded = repo.create_job(3, "round", {}, 1)
    for job_id in (cut_short, recorded):
        repo.start_job(job_id)
    repo.add_version(3, 1, recorded, "v1", {})  # the round got as far as recording its version
    seen: dict[int, int | None] = {}
    done = threading.Event()

    def round_handler(job, progress):
        seen[job.id] = repo.version_of_job(job.id)  # what LoopJobs.round reuses instead of training again
        done.set()
        return "round finished from its recorded version", {}

    runner = JobRunner(repo, {"expand": slow(0.05), "train": slow(0.05), "round": round_handler})
    assert runner.start() == 1 and runner.resumed == 2
    try:
        assert wait_status(repo, queued, ("done",)) == "done"
        assert done.wait(10) and seen == {recorded: 1}
        assert wait_status(repo, recorded, ("done",)) == "done"
        failed = repo.job(cut_short)
        assert failed.status == "failed" and "interrupted" in failed.message
    finally:
        runner.stop()


def test_work_after_a_job_runs_once_it_is_done_and_before_the_lanes_next_job(tmp_path):
    repo = make_repo(tmp_path)
    seen, release = [], threading.Event()

    def with_after(job, progress):
        def after():
            seen.append(("after", repo.job(job.id).status))
            release.wait(10)
            raise RuntimeError("a failure after the job is logged, not reported")
        return "done", {"n": 1}, after
    runner = JobRunner(repo, {"round": with_after, "train": slow(0.0, seen)})
    runner.start()
    try:
        first = runner.submit(1, "round", {}, 1)
        assert wait_status(repo, first, ("done",)) == "done"  # done while its after-work still runs
        second = runner.submit(1, "train", {}, 1)
        time.sleep(0.3)
        assert repo.job(second).status == "queued" and seen == [("after", "done")]
        release.set()
        assert wait_status(repo, second, ("done",)) == "done" and seen[1] == second
        assert repo.job(first).status == "done" and repo.job(first).result == {"n": 1}
    finally:
        release.set()
        runner.stop()
