"""Fuzzing the REST API from its own OpenAPI document: no 5xx, and every answer as documented.

Schemathesis generates requests for every operation (valid and invalid
bodies, paths and queries) against a real server over a real SQLite file,
with an owner's token, and checks status codes, content types, headers and
bodies against the schema.
"""
from __future__ import annotations

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.api_fuzz import fuzz
from tests.rest_helpers import cluster_concept, wait_job
from tests.test_api import add_user, rate_batch

pytestmark = pytest.mark.slow
EXAMPLES = 8  # per operation and mode (valid, invalid): a few hundred requests in all


@pytest.fixture(scope="module")
def fuzz_server(small_corpus_path, tmp_path_factory):
    """A server with one owner's concept that has a rated batch and a model version."""
    data = tmp_path_factory.mktemp("fuzz")
    token = add_user(data, "ann", "owner")
    add_user(data, "vic", "viewer")
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    with ServerProcess(small_corpus_path, data, "--batch-size", "20", "--random-negatives", "500",
                       "--max-bootstrap", "100") as server:
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        concept = cluster_concept(client, target)
        rate_batch(client, concept["id"], clusters, target)
        job = client.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": "train"}).json()
        assert wait_job(client, job["id"])["status"] == "done"
        yield server, token
        client.close()


def test_every_operation_answers_as_documented(fuzz_server):
    server, token = fuzz_server
    report = fuzz(server.url, token, EXAMPLES)
    print(report.summary())
    assert report.requests >= 200
    assert report.server_errors == 0 and report.violations == [], "\n".join(report.violations[:40])
