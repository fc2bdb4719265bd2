"""A REST client's path to deployment: set a target, read its status, download the export, score without the server."""
from __future__ import annotations

import io
import zipfile

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from agile.corpus import Corpus
from agile.numpy_scorer import Scorer
from server.process import ServerProcess
from tests import rest_helpers

pytestmark = pytest.mark.slow


def wait_job(client: httpx.Client, job_id: int) -> dict:
    return rest_helpers.wait_job(client, job_id, expect_done=True)


def rate(client, concept_id, truth, purpose="training"):
    batch = client.get(f"/api/concepts/{concept_id}/batch?purpose={purpose}").json()
    ratings = [{"id": it["id"], "positive": bool(truth[it["id"]])} for it in batch["items"]]
    assert client.post(f"/api/concepts/{concept_id}/ratings", json={"ratings": ratings}).status_code == 200


@pytest.fixture(scope="module")
def served(small_corpus_path, tmp_path_factory):
    data = tmp_path_factory.mktemp("server")
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    truth = clusters == target
    with ServerProcess(small_corpus_path, data, "--dev", "--batch-size", "40", "--random-negatives", "1000",
                       "--eval-per-stratum", "6") as server, httpx.Client(base_url=server.url, timeout=120) as client:
        concept = client.post("/api/concepts", json={"name": f"cluster {target}",
                                                     "negatives": [f"cluster {(target + 1) % 20}"]}).json()
        cid = concept["id"]
        wait_job(client, concept["job"]["id"])
        for _ in range(3):
            rate(client, cid, truth)
            wait_job(client, client.post(f"/api/concepts/{cid}/jobs", json={"kind": "round"}).json()["id"])
        wait_job(client, client.post(f"/api/concepts/{cid}/jobs", json={"kind": "evaluate"}).json()["id"])
        rate(client, cid, truth, "evaluation")
        yield client, cid, Corpus.open(small_corpus_path)


def test_a_target_is_read_from_a_sentence_and_judged_on_the_evaluation_set(served):
    client, cid, _ = served
    assert client.get(f"/api/concepts/{cid}/target").status_code == 404
    r = client.put(f"/api/concepts/{cid}/target", json={"sentence": "AUC-PR of at least 0.6"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["understood"] == "AUC-PR of at least 0.6" and body["refusal"] is None
    assert body["status"]["state"] == "met" and body["status"]["version"] == 3
    low, high = body["status"]["interval"]
    assert low <= body["status"]["value"] <= high
    assert "rated evaluation images" in body["status"]["rests_on"]
    r = client.put(f"/api/concepts/{cid}/target", json={"metric": "auc_pr", "value": 0.999})
    assert r.json()["status"] is None and "above what" in r.json()["refusal"]
    assert client.put(f"/api/concepts/{cid}/target", json={"sentence": "make it good"}).status_code == 422
    assert client.put(f"/api/concepts/{cid}/target", json={"metric": "precision_at_recall",
                                                            "value": 0.9}).status_code == 422  # needs `at`
    client.put(f"/api/concepts/{cid}/target", json={"sentence": "90% precision at 50% recall"})
    assert client.get(f"/api/concepts/{cid}/target").json()["target"] == {
        "metric": "precision_at_recall", "value": 0.9, "at": 0.5}


def test_the_export_downloads_and_scores_without_the_server(served):
    client, cid, _ = served
    r = client.get(f"/api/concepts/{cid}/versions/3/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        assert {"model.onnx", "model.torchscript.pt", "model.npz", "scorer.py", "card.json", "card.md"} <= names
        npz = zf.read(f"concept-{cid}-v3/model.npz")
        card = zf.read(f"concept-{cid}-v3/card.json").decode()
    assert '"sha256"' in card and '"evaluation"' in card and "precision" in card
    ids = list(range(0, 5000, 50))
    served_scores = client.post(f"/api/concepts/{cid}/versions/3/score", json={"ids": ids}).json()["scores"]
    corpus = served[2]
    mine = Scorer.load(io.BytesIO(npz)).score(corpus.vectors(ids))  # the client's own copy of the vectors
    np.testing.assert_allclose(mine, served_scores, atol=1e-5)
    assert client.get(f"/api/concepts/{cid}/versions/9/export").status_code == 404


def test_a_score_job_writes_the_whole_corpus_as_parquet(served, tmp_path):
    client, cid, _ = served
    assert client.get(f"/api/concepts/{cid}/versions/2/scores").status_code == 404
    job = wait_job(client, client.post(f"/api/concepts/{cid}/jobs",
                                       json={"kind": "score", "version": 2, "threshold": 0.5}).json()["id"])
    assert job["result"]["rows"] == 5000
    r = client.get(f"/api/concepts/{cid}/versions/2/scores")
    assert r.status_code == 200
    (tmp_path / "s.parquet").write_bytes(r.content)
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.column_names == ["id", "uri", "score", "positive"] and table.num_rows == 5000
    some = client.post(f"/api/concepts/{cid}/versions/2/score", json={"ids": [0, 1, 2]}).json()["scores"]
    np.testing.assert_allclose(table["score"].to_numpy()[:3], some, atol=1e-6)


def test_policy_and_contradiction_refusals_name_their_reason(served):
    client, _, _ = served
    r = client.post("/api/concepts", json={"name": "asian faces"})
    assert r.status_code == 422 and "people by race or ethnicity" in r.json()["detail"]
    r = client.post("/api/concepts", json={"name": "cluster 3", "negatives": ["the Cluster 3!"]})
    assert r.status_code == 422 and "say the same thing" in r.json()["detail"]
