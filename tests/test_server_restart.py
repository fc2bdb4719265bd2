"""Crash safety: kill -9 during training loses no rating and shows no half version."""
from __future__ import annotations

import time

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from agile.registry import ModelRegistry
from server.process import ServerProcess
from tests.rest_helpers import cluster_concept, wait_job
from tests.test_api import add_user, rate_batch

pytestmark = pytest.mark.slow


def wait_status(client: httpx.Client, job_id: int, status: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] == status:
            return job
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id} never became {status}")


def test_kill_during_training_keeps_ratings_and_job_can_rerun(small_corpus_path, tmp_path):
    data = tmp_path / "data"
    token = add_user(data, "ann", "owner")
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    args = ("--batch-size", "30", "--random-negatives", "1000")
    server = ServerProcess(small_corpus_path, data, *args, env={"AGILE_SERVER_JOB_START_DELAY": "1.5"}).start()
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    concept = cluster_concept(client, target)
    rate_batch(client, concept["id"], clusters, target)
    ratings = {i["id"]: i["rating"] for i in client.get(f"/api/concepts/{concept['id']}/batch").json()["items"]}
    assert len(ratings) == 30 and None not in ratings.values()

    job = client.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": "train"}).json()
    wait_status(client, job["id"], "running")
    busy = client.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": "round"})
    assert busy.status_code == 409 and "still running" in busy.json()["detail"]
    server.kill()

    server = ServerProcess(small_corpus_path, data, *args).start()
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        after = {i["id"]: i["rating"] for i in client.get(f"/api/concepts/{concept['id']}/batch").json()["items"]}
        assert after == ratings
        failed = client.get(f"/api/jobs/{job['id']}").json()
        assert failed["status"] == "failed" and "interrupted" in failed["message"]
        assert client.get(f"/api/concepts/{concept['id']}/versions").json() == []
        assert client.get(f"/api/concepts/{concept['id']}/versions/latest").status_code == 404

        rerun = client.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": "train"}).json()
        done = wait_job(client, rerun["id"])
        assert done["status"] == "done", done
        assert [v["version"] for v in client.get(f"/api/concepts/{concept['id']}/versions").json()] == [1]
    finally:
        server.stop()

    # A crash between writing a version's files and committing its record leaves a
    # complete version on disk; the next start records it.
    registry = ModelRegistry(data / "models" / f"concept-{concept['id']}")
    registry.save(registry.load(1), {**registry.sidecar(1), "parent_version": 1})
    with ServerProcess(small_corpus_path, data, *args) as server:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        versions = client.get(f"/api/concepts/{concept['id']}/versions").json()
        assert [(v["version"], v["job_id"]) for v in versions] == [(1, rerun["id"]), (2, None)]
        assert client.get(f"/api/concepts/{concept['id']}/versions/latest").json()["version"] == 2
