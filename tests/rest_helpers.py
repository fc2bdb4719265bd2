"""Helpers the REST tests share: following a job to its end."""
from __future__ import annotations

import time

import httpx


def wait_job(client: httpx.Client, job_id: int, timeout: float = 180, expect_done: bool = False) -> dict:
    """Poll a job until it is done or failed; with ``expect_done`` a failure fails the test with its message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            assert not expect_done or job["status"] == "done", job["message"]
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} still {job['status']}")


def cluster_concept(client: httpx.Client, target: int) -> dict:
    """A concept on the synthetic corpus's cluster ``target`` (the next cluster as its negative phrase),
    once its expansion job is done."""
    concept = client.post("/api/concepts", json={"name": f"cluster {target}",
                                                 "negatives": [f"cluster {(target + 1) % 20}"]}).json()
    wait_job(client, concept["job"]["id"], expect_done=True)
    return concept
