"""What the app holds for its lifetime, built once in the lifespan."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from server.accounts import Accounts, User
from server.evaluation import EvaluationReports
from server.jobs import JobRunner
from server.loop import Loop
from server.repository import Repository
from server.settings import ServerSettings
from server.watch import JobWatch, VersionWatch


@dataclass
class AppState:
    settings: ServerSettings
    repo: Repository
    accounts: Accounts
    loop: Loop
    watch: VersionWatch
    jobs: JobRunner
    evaluations: EvaluationReports
    dev_user: User | None = None  # --dev: the local owner requests without a token act as
    image_slots: threading.Semaphore | None = None  # bounds images decoded and embedded at once
    image_pool: ThreadPoolExecutor | None = None  # the threads that decode them
    job_watch: JobWatch | None = None  # wakes GET /api/jobs/{id}?wait=N when the job changes
