"""A multi-category task through the REST API (a real server over real SQLite): create, rate by class,
train, select, evaluate, score; what works on binary concepts only says so."""
from __future__ import annotations

import io

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.rest_helpers import wait_job

pytestmark = pytest.mark.slow

CLUSTERS = (2, 5, 11)  # categories; every other cluster is "none of these" (class 3)


def _truth(corpus_path) -> np.ndarray:
    clusters = Corpus.open(corpus_path).column("cluster").to_numpy()
    truth = np.full(len(clusters), len(CLUSTERS))
    for i, c in enumerate(CLUSTERS):
        truth[clusters == c] = i
    return truth


def _rate(api: httpx.Client, cid: int, truth: np.ndarray, purpose: str = "training") -> dict:
    batch = api.get(f"/api/concepts/{cid}/batch", params={"purpose": purpose}).json()
    ratings = [{"id": it["id"], "category": int(truth[it["id"]]), "batch_id": batch["id"]} for it in batch["items"]]
    r = api.post(f"/api/concepts/{cid}/ratings", json={"ratings": ratings})
    assert r.status_code == 200, r.text
    return batch


def test_a_four_class_task_trains_selects_evaluates_and_scores(small_corpus_path, tmp_path):
    truth = _truth(small_corpus_path)
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev", "--batch-size", "60") as server:
        api = httpx.Client(base_url=server.url, timeout=120)
        body = {"name": "three clusters", "none_of_these": True,
                "categories": [{"name": f"cluster {c}", "seed_ids": [int(np.flatnonzero(truth == i)[0])]}
                               for i, c in enumerate(CLUSTERS)]}
        created = api.post("/api/concepts", json=body)
        assert created.status_code == 201, created.text
        task = created.json()
        cid = task["id"]
        assert task["classes"] == [f"cluster {c}" for c in CLUSTERS] + ["none of these"]
        assert [c["seed_ids"] for c in task["categories"]] == [[int(np.flatnonzero(truth == i)[0])] for i in range(3)]
        wait_job(api, task["job"]["id"], expect_done=True)
        batch = api.get(f"/api/concepts/{cid}/batch").json()
        assert {int(truth[it["id"]]) for it in batch["items"]} >= {0, 1, 2}  # every category's neighbours

        # answers of the wrong kind are refused, and nothing is stored
        first = batch["items"][0]["id"]
        for bad, words in (({"positive": True}, "is a task"), ({"category": 4}, "0..3"),
                           ({"category": 1, "skip": True}, "exactly one answer")):
            r = api.post(f"/api/concepts/{cid}/ratings", json={"ratings": [{"id": first, **bad}]})
            assert r.status_code == 422 and words in r.json()["detail"], r.text
        assert api.get(f"/api/concepts/{cid}").json()["rated"] == 0

        _rate(api, cid, truth)
        shown = api.get(f"/api/concepts/{cid}/batch").json()["items"]
        assert [it["category"] for it in shown] == [int(truth[it["id"]]) for it in shown]
        assert all(it["rating"] is None for it in shown)
        for strategy in ("margin", "entropy"):
            job = api.post(f"/api/concepts/{cid}/jobs", json={"kind": "round", "strategy": strategy}).json()
            wait_job(api, job["id"], expect_done=True)
            assert api.get(f"/api/concepts/{cid}/batch").json()["source"].split("+")[0] == strategy
            _rate(api, cid, truth)
        refused = api.post(f"/api/concepts/{cid}/jobs", json={"kind": "round", "strategy": "margin-pm"}).json()
        assert "margin-pm" in wait_job(api, refused["id"])["message"]

        latest = api.get(f"/api/concepts/{cid}/versions/latest").json()
        assert latest["classes"] == task["classes"] and sum(latest["labels"]["classes"]) == 180
        ids = list(range(0, 5000, 50))
        scored = api.post(f"/api/concepts/{cid}/versions/{latest['version']}/score", json={"ids": ids}).json()
        probabilities = np.array(scored["probabilities"])
        assert scored["scores"] is None and scored["classes"] == task["classes"] and probabilities.shape == (100, 4)
        assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
        assert (probabilities.argmax(axis=1) == truth[ids]).mean() > 0.8

        job = api.post(f"/api/concepts/{cid}/jobs", json={"kind": "evaluate"}).json()
        assert "zero-shot" not in wait_job(api, job["id"], expect_done=True)["result"]["models"]
        _rate(api, cid, truth, "evaluation")
        report = api.get(f"/api/concepts/{cid}/evaluation", params={"bootstrap": 20}).json()
        assert report["ready"], report["message"]
        metrics = report["models"][-1]["metrics"]
        assert report["models"][-1]["threshold"] is None and metrics["classes"] == task["classes"]
        assert metrics["macro_auc_pr"] > 0.8 and len(metrics["confusion"]) == 4 and "macro_auc_pr" in metrics["ci"]

        labels = api.get(f"/api/concepts/{cid}/labels", params={"format": "csv"}).text.splitlines()
        assert {line.split(",")[2] for line in labels[1:]} <= set(task["classes"])
        for method, path, body in (("put", "/target", {"sentence": "AUC-PR 0.9"}),
                                   ("get", f"/versions/{latest['version']}/export", None),
                                   ("get", f"/versions/{latest['version']}/browse", None),
                                   ("post", "/jobs", {"kind": "score", "top": 10})):
            r = api.request(method, f"/api/concepts/{cid}{path}", json=body)
            assert r.status_code == 422 and "binary concepts" in r.json()["detail"], (path, r.text)
        assert api.get(f"/api/concepts/{cid}/advice").status_code == 200

        job = api.post(f"/api/concepts/{cid}/jobs", json={"kind": "score", "version": latest["version"]}).json()
        wait_job(api, job["id"], expect_done=True)
        table = pq.read_table(io.BytesIO(api.get(f"/api/concepts/{cid}/versions/{latest['version']}/scores").content))
        assert table.column_names == ["id", "uri", "class", "probabilities"] and table.num_rows == 5000
        every = np.stack(table["probabilities"].to_numpy(zero_copy_only=False))
        assert np.array_equal(table["class"].to_numpy(), every.argmax(axis=1))
        assert (every.argmax(axis=1) == truth).mean() > 0.8
