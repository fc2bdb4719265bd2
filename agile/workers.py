"""Worker processes that die with the process that started them.

A job killed with SIGKILL runs no cleanup, so a plain process pool's workers
would outlive it, keep writing shards and race the job's re-run. Each worker
asks the kernel for SIGKILL when its parent dies (Linux ``PR_SET_PDEATHSIG``)
and, where that is unavailable, watches its parent id instead.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
_WATCH_SECONDS = 0.5


def _set_parent_death_signal() -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


def die_with_parent(parent: int) -> None:
    """Process-pool initializer: end this process as soon as ``parent`` is gone."""
    if not _set_parent_death_signal():
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    # The parent may have died before the signal was armed: then we were re-parented already.
    if os.getppid() != parent:
        os._exit(1)


def worker_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers never outlive this process."""
    return ProcessPoolExecutor(max_workers=max_workers, initializer=die_with_parent, initargs=(os.getpid(),))
