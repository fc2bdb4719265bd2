"""The REST API end to end: a real uvicorn server on a free port over a real SQLite file."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import datetime

import httpx
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from agile.corpus import Corpus
from server.accounts import TOKEN_RECHECK_SECONDS, hash_token
from server.process import ROOT, ServerProcess
from tests.rest_helpers import wait_job

pytestmark = pytest.mark.slow


def users_cli(data, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agile_cli.main", "users", *args, "--data", str(data)],
                          capture_output=True, text=True, cwd=ROOT)


def add_user(data, name: str, role: str) -> str:
    out = users_cli(data, "add", name, "--role", role)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture(scope="module")
def world(small_corpus_path, tmp_path_factory):
    """A running server with two owners and a viewer; the concept is the corpus's largest cluster."""
    data = tmp_path_factory.mktemp("server")
    tokens = {name: add_user(data, name, role) for name, role in
              [("ann", "owner"), ("bob", "owner"), ("vic", "viewer")]}
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    with ServerProcess(small_corpus_path, data, "--batch-size", "40", "--random-negatives", "2000") as server:
        clients = {name: httpx.Client(base_url=server.url, timeout=60,
                                      headers={"Authorization": f"Bearer {tok}"}) for name, tok in tokens.items()}
        yield server, clients, clusters, target
        for c in clients.values():
            c.close()


def rate_batch(client, concept_id: int, clusters, target: int) -> dict:
    batch = client.get(f"/api/concepts/{concept_id}/batch").json()
    ratings = [{"id": it["id"], "positive": bool(clusters[it["id"]] == target), "seconds": 1.5}
               for it in batch["items"]]
    r = client.post(f"/api/concepts/{concept_id}/ratings", json={"ratings": ratings})
    assert r.status_code == 200, r.text
    return batch


@pytest.fixture(scope="module")
def concept(world):
    """Ann's concept after its expansion batch is rated."""
    _, clients, clusters, target = world
    r = clients["ann"].post("/api/concepts", json={"name": f"cluster {target}", "negatives": [f"cluster {(target + 1) % 20}"]})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["positives"][0] == f"cluster {target}" and body["job"]["kind"] == "expand"
    assert wait_job(clients["ann"], body["job"]["id"])["status"] == "done"
    batch = rate_batch(clients["ann"], body["id"], clusters, target)
    assert batch["round"] == 0 and batch["source"] == "expansion" and batch["size"] == 40
    return body["id"]


def test_full_loop_polls_new_versions_with_etag(world, concept):
    server, clients, clusters, target = world
    ann, vic = clients["ann"], clients["vic"]
    first = vic.get(f"/api/concepts/{concept}/versions/latest")
    assert first.status_code == 404 and "no model version" in first.json()["detail"]
    tag = first.headers["etag"]
    assert vic.get(f"/api/concepts/{concept}/versions/latest", headers={"If-None-Match": tag}).status_code == 304

    for expected_version in (1, 2):
        job = ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "round"})
        assert job.status_code == 202, job.text
        while (polled := vic.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 30},
                                 headers={"If-None-Match": tag})).status_code == 304:
            assert polled.headers["etag"] == tag  # the server caps a wait at 30 s
        heard = time.time()
        assert polled.status_code == 200, polled.text
        assert polled.json()["version"] == expected_version and polled.headers["etag"] != tag
        recorded = datetime.fromisoformat(polled.json()["created_at"]).timestamp()
        assert heard - recorded < 1.0  # the long-poll answered within a second of the record
        tag = polled.headers["etag"]
        assert vic.get(f"/api/concepts/{concept}/versions/latest", headers={"If-None-Match": tag}).status_code == 304
        done = wait_job(ann, job.json()["id"])
        assert done["status"] == "done", done
        assert done["result"]["version"] == expected_version
        batch = rate_batch(ann, concept, clusters, target)
        # "margin+mined" when the last batch held almost no positives (agile.sampling.select_batch)
        assert batch["round"] == expected_version and batch["source"] in ("margin", "margin+mined")
        assert batch["model_version"] == expected_version

    versions = vic.get(f"/api/concepts/{concept}/versions").json()
    assert [v["version"] for v in versions] == [1, 2]
    v2 = versions[1]
    assert v2["parent_version"] == 1 and v2["labels"]["count"] == 80
    assert v2["training"]["config"]["hidden"] == [128, 128, 128]
    assert versions[0]["training"]["config"]["hidden"] == [16]
    assert versions[0]["stability"] is None and v2["stability"]["previous_version"] == 1
    assert 0 <= v2["stability"]["changed"] <= 1 and v2["stability"]["sample"] == 4000
    assert 0 <= v2["metrics"]["rated_auc_pr"] <= 1 and v2["embedding_model"]["name"] == "synthetic"

    # Score with the viewer: the concept's images must rank above the rest.
    rng = np.random.default_rng(0)
    ids = rng.choice(len(clusters), 400, replace=False).tolist()
    scored = vic.post(f"/api/concepts/{concept}/versions/2/score", json={"ids": ids})
    assert scored.status_code == 200, scored.text
    scores = np.array(scored.json()["scores"])
    inside = clusters[ids] == target
    assert ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc_score(inside, scores) > 0.8


def test_long_poll_times_out_with_304(world, concept):
    _, clients, _, _ = world
    vic = clients["vic"]
    current = vic.get(f"/api/concepts/{concept}/versions/latest")
    started = time.monotonic()
    r = vic.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 0.5},
                headers={"If-None-Match": current.headers["etag"]})
    assert r.status_code == 304 and 0.4 < time.monotonic() - started < 5


def test_a_job_is_followed_by_long_polling(world):
    """Each answer comes with a change of the job; the last the moment it finishes; then 304 on timeout."""
    _, clients, clusters, target = world
    bob, vic = clients["bob"], clients["vic"]
    created = bob.post("/api/concepts", json={"name": f"cluster {target}"})
    assert created.status_code == 201, created.text
    assert wait_job(bob, created.json()["job"]["id"])["status"] == "done"
    rate_batch(bob, created.json()["id"], clusters, target)
    job = bob.post(f"/api/concepts/{created.json()['id']}/jobs", json={"kind": "round"}).json()
    tag, seen = None, []
    while job["status"] in ("queued", "running") or not seen:
        r = bob.get(f"/api/jobs/{job['id']}", params={"wait": 30}, headers={"If-None-Match": tag} if tag else {})
        assert r.status_code in (200, 304), r.text
        if r.status_code == 200:
            assert r.headers["etag"] != tag
            job = r.json()
            seen.append((job["status"], job["percent"]))
        tag = r.headers["etag"]
    heard = time.time()
    assert job["status"] == "done" and seen[-1][0] == "done", job
    assert heard - datetime.fromisoformat(job["finished_at"]).timestamp() < 1.0
    started = time.monotonic()
    r = vic.get(f"/api/jobs/{job['id']}", params={"wait": 0.5}, headers={"If-None-Match": tag})
    assert r.status_code == 304 and r.headers["etag"] == tag and 0.4 < time.monotonic() - started < 5
    assert vic.get(f"/api/jobs/{job['id']}", params={"wait": 31}).status_code == 422


def test_rating_change_and_undo(world, concept):
    _, clients, _, _ = world
    ann = clients["ann"]
    item = ann.get(f"/api/concepts/{concept}/batch").json()["items"][0]["id"]
    before = ann.get(f"/api/concepts/{concept}").json()["rated"]
    assert ann.delete(f"/api/concepts/{concept}/ratings/{item}").json()["rated"] == before - 1
    assert ann.delete(f"/api/concepts/{concept}/ratings/{item}").status_code == 404
    assert ann.put(f"/api/concepts/{concept}/ratings/{item}", json={"positive": True}).json()["rated"] == before
    assert ann.put(f"/api/concepts/{concept}/ratings/{item}", json={"positive": False}).json()["rated"] == before
    rows = {i["id"]: i["rating"] for i in ann.get(f"/api/concepts/{concept}/batch").json()["items"]}
    assert rows[item] is False


def test_tokens_and_roles(world, concept):
    server, clients, _, _ = world
    anon = httpx.Client(base_url=server.url)
    assert anon.get("/api/concepts").status_code == 401
    assert anon.get("/api/concepts", headers={"Authorization": "Bearer agt_wrong"}).status_code == 401
    assert anon.get("/api/concepts", headers={"Authorization": "Basic abc"}).status_code == 401
    vic, bob = clients["vic"], clients["bob"]
    assert vic.get("/api/concepts").status_code == 200
    item = vic.get(f"/api/concepts/{concept}/batch").json()["items"][0]["id"]
    for who in (vic, bob):
        assert who.post(f"/api/concepts/{concept}/ratings",
                        json={"ratings": [{"id": item, "positive": True}]}).status_code == 403
        assert who.post(f"/api/concepts/{concept}/jobs", json={"kind": "train"}).status_code == 403
        assert who.patch(f"/api/concepts/{concept}", json={"positives": ["x"]}).status_code == 403
    forbidden = vic.post("/api/concepts", json={"name": "cluster 1"})
    assert forbidden.status_code == 403 and "viewer" in forbidden.json()["detail"]
    assert vic.get("/api/me").json() == {"name": "vic", "role": "viewer", "dev": False}


def test_revoked_token_is_refused_by_a_running_server_and_a_new_one_works(world):
    server, _, clusters, target = world
    old = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {add_user(server.data, 'dee', 'owner')}"})
    created = old.post("/api/concepts", json={"name": f"cluster {target}"})
    assert created.status_code == 201, created.text
    concept_id = created.json()["id"]
    assert wait_job(old, created.json()["job"]["id"])["status"] == "done"
    rate_batch(old, concept_id, clusters, target)  # the server now remembers the token

    revoked = users_cli(server.data, "revoke", "dee")
    assert revoked.returncode == 0 and "revoked 1 token " in revoked.stdout
    time.sleep(TOKEN_RECHECK_SECONDS + 0.2)
    refused = old.get(f"/api/concepts/{concept_id}")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]

    issued = users_cli(server.data, "token", "dee")
    assert issued.returncode == 0
    new = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {issued.stdout.strip()}"})
    kept = new.get(f"/api/concepts/{concept_id}").json()
    assert kept["owner"] == "dee" and kept["rated"] == 40
    assert new.post(f"/api/concepts/{concept_id}/jobs", json={"kind": "train"}).status_code == 202
    assert old.get("/api/concepts").status_code == 401

    listed = users_cli(server.data, "list").stdout
    assert "dee" in listed and issued.stdout.strip() not in listed
    unknown = users_cli(server.data, "revoke", "nobody")
    assert unknown.returncode == 2 and "no user named 'nobody'" in unknown.stderr


def test_bad_input_is_refused_and_changes_nothing(world, concept):
    server, clients, _, _ = world
    ann = clients["ann"]
    batch = ann.get(f"/api/concepts/{concept}/batch").json()
    unrated = [batch["items"][-1]["id"]]
    ann.delete(f"/api/concepts/{concept}/ratings/{unrated[0]}")
    before = ann.get(f"/api/concepts/{concept}").json()
    outside = next(i for i in range(5000) if i not in {x["id"] for x in batch["items"]})
    cases = [
        ann.post(f"/api/concepts/{concept}/ratings", content=b"{not json", headers={"content-type": "application/json"}),
        ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": []}),
        ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": [{"id": -1, "positive": True}]}),
        ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": [{"id": unrated[0], "positive": "maybe"}]}),
        # one valid rating and one outside every batch: all or nothing
        ann.post(f"/api/concepts/{concept}/ratings",
                 json={"ratings": [{"id": unrated[0], "positive": True}, {"id": outside, "positive": True}]}),
        ann.post("/api/concepts", json={"name": "a", "positives": ["b", " B "]}),
        ann.post("/api/concepts", json={"name": "a", "negatives": ["A"]}),
        ann.post("/api/concepts", json={"name": "x" * 500}),
        ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "explode"}),
        ann.post(f"/api/concepts/{concept}/versions/1/score", json={"embeddings": [[0.1, 0.2]]}),
        ann.post(f"/api/concepts/{concept}/versions/1/score", json={"ids": [1], "embeddings": [[0.1]]}),
        ann.post(f"/api/concepts/{concept}/versions/1/score", json={"ids": [10**9]}),
        ann.post(f"/api/concepts/{concept}/versions/1/score-image", files={"image": ("x.png", b"not an image")}),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500 and r.json()["detail"], (r.request.content[:80], r.status_code, r.text)
    assert "not in any batch" in cases[4].json()["detail"]
    huge = ann.post(f"/api/concepts/{concept}/ratings", content=b" " * (9 << 20),
                    headers={"content-type": "application/json"})
    assert huge.status_code == 413
    big_image = ann.post(f"/api/concepts/{concept}/versions/1/score-image",
                         files={"image": ("x.png", b"\0" * ((8 << 20) + 1))})
    assert big_image.status_code == 413
    assert ann.get("/api/images/999999").status_code == 404
    assert ann.get("/api/concepts/999/batch").status_code == 404
    assert ann.get(f"/api/concepts/{concept}/versions/latest", params={"wait": -1}).status_code == 422
    after = ann.get(f"/api/concepts/{concept}").json()
    assert (after["rated"], after["rated_positive"], after["positives"]) == \
        (before["rated"], before["rated_positive"], before["positives"])
    assert len(ann.get("/api/concepts").json()) == len(clients["vic"].get("/api/concepts").json())


def test_images_of_a_synthetic_corpus_are_placeholders(world):
    _, clients, _, _ = world
    r = clients["vic"].get("/api/images/12")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml") and b"#12" in r.content


def test_tokens_are_stored_hashed(world):
    server, _, _, _ = world
    token = add_user(server.data, "dan", "viewer")
    assert token.startswith("agt_")
    with sqlite3.connect(server.data / "agile.sqlite3") as conn:
        stored = [row[0] for row in conn.execute("SELECT hash FROM tokens")]
    assert hash_token(token) in stored and not any(t.startswith("agt_") for t in stored)
    assert httpx.get(server.url + "/api/me", headers={"Authorization": f"Bearer {token}"}).json()["name"] == "dan"
    again = subprocess.run([sys.executable, "-m", "agile_cli.main", "users", "add", "dan", "--role", "owner",
                            "--data", str(server.data)], capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 2 and "already exists" in again.stderr


def _training_batch_ids(server, concept_id: int) -> set[int]:
    with sqlite3.connect(server.data / "agile.sqlite3") as conn:
        return {r[0] for r in conn.execute(
            "SELECT i.corpus_id FROM batch_items i JOIN batches b ON b.id = i.batch_id "
            "WHERE b.concept_id = ? AND b.purpose = 'training'", (concept_id,))}


def _lowest_hashes_per_stratum(scores: np.ndarray, hashes: np.ndarray, ids: np.ndarray, per_stratum: int) -> set[int]:
    strata = np.clip(np.floor(scores * 10).astype(int), 0, 9)
    out: set[int] = set()
    for s in range(10):
        inside = np.flatnonzero(strata == s)
        out |= set(ids[inside[np.argsort(hashes[inside], kind="stable")[:per_stratum]]].tolist())
    return out


def test_evaluation_batch_is_kept_apart_from_training(world, concept, small_corpus_path):
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score

    from agile.embedder import embedder_for_corpus
    from agile.evaluation.hashing import uri_hashes

    server, clients, clusters, target = world
    ann, vic = clients["ann"], clients["vic"]
    while len(ann.get(f"/api/concepts/{concept}/versions").json()) < 2:  # when run on its own
        assert wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "round"}).json()["id"])["status"] == "done"
        rate_batch(ann, concept, clusters, target)
    before = ann.get(f"/api/concepts/{concept}").json()
    training = _training_batch_ids(server, concept)
    assert vic.post(f"/api/concepts/{concept}/jobs", json={"kind": "evaluate"}).status_code == 403
    empty = vic.get(f"/api/concepts/{concept}/evaluation").json()
    assert empty["total"] == 0 and not empty["ready"] and "evaluate" in empty["message"]

    job = wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "evaluate"}).json()["id"])
    assert job["status"] == "done", job
    versions = [v["version"] for v in vic.get(f"/api/concepts/{concept}/versions").json()]
    assert job["result"]["models"] == [f"v{v}" for v in versions[-3:]] + ["zero-shot"]
    batch = vic.get(f"/api/concepts/{concept}/batch").json()
    assert batch["purpose"] == "evaluation" and batch["source"] == "evaluation"
    assert vic.get(f"/api/concepts/{concept}/batch", params={"purpose": "training"}).json()["purpose"] == "training"
    ids = np.array([it["id"] for it in batch["items"]])
    assert len(set(ids.tolist())) == len(ids) == batch["size"] == job["result"]["size"]
    assert not set(ids.tolist()) & training
    assert len(ids) <= len(job["result"]["models"]) * 10 * 20

    # Each version's part of the set: in every score stratum, the 20 eligible images of lowest URI hash.
    corpus = Corpus.open(small_corpus_path)
    eligible = np.setdiff1d(np.arange(corpus.count), np.fromiter(training, dtype=np.int64))
    hashes = uri_hashes(corpus.uris(eligible))
    from_versions: set[int] = set()
    for v in versions[-3:]:
        scores = np.array(vic.post(f"/api/concepts/{concept}/versions/{v}/score",
                                   json={"ids": eligible.tolist()}).json()["scores"])
        from_versions |= _lowest_hashes_per_stratum(scores, hashes, eligible, 20)
    assert from_versions <= set(ids.tolist()) and len(set(ids.tolist()) - from_versions) <= 200

    # Rating the set: only negatives first, so one class; then all of it. Training counts never move.
    truth = clusters[ids] == target
    assert truth.any() and not truth.all()
    first = [{"id": int(i), "positive": False} for i in ids[~truth][:5]]
    counts = ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": first}).json()
    assert counts["rated"] == before["rated"] and counts["evaluation_rated"] == 5
    one_class = vic.get(f"/api/concepts/{concept}/evaluation").json()
    assert not one_class["ready"] and "both classes" in one_class["message"]
    assert all(m["metrics"] is None for m in one_class["models"])
    everything = [{"id": int(i), "positive": bool(t)} for i, t in zip(ids, truth)]
    counts = ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": everything}).json()
    assert (counts["rated"], counts["rated_positive"]) == (before["rated"], before["rated_positive"])
    assert counts["evaluation_rated"] == len(ids)

    report = vic.get(f"/api/concepts/{concept}/evaluation", params={"bootstrap": 50}).json()
    assert report["ready"] and (report["total"], report["rated"]) == (len(ids), len(ids))
    assert report["rated_positive"] == int(truth.sum()) and report["batch_id"] == batch["id"]
    assert [m["model"] for m in report["models"]] == [f"v{v}" for v in versions] + ["zero-shot"]
    embedder = embedder_for_corpus(corpus)
    text = embedder.embed_texts(before["positives"]).mean(axis=0)
    for m in report["models"]:
        if m["version"] is None:
            scores, threshold = corpus.vectors(ids).astype(np.float32) @ (text / np.linalg.norm(text)), 0.28
        else:
            scores = np.array(vic.post(f"/api/concepts/{concept}/versions/{m['version']}/score",
                                       json={"ids": ids.tolist()}).json()["scores"])
            threshold = 0.5
        assert m["threshold"] == pytest.approx(threshold)
        got = m["metrics"]
        assert got["auc_pr"] == pytest.approx(average_precision_score(truth, scores), abs=1e-6)
        assert got["auc_roc"] == pytest.approx(roc_auc_score(truth, scores), abs=1e-6)
        assert got["f1"] == pytest.approx(f1_score(truth, scores >= threshold), abs=1e-6)
        assert got["accuracy"] == pytest.approx(accuracy_score(truth, scores >= threshold), abs=1e-6)
        assert set(got["ci"]) == {"auc_pr", "auc_roc", "f1", "accuracy"}
        assert all(0 <= lo <= hi <= 1 for lo, hi in got["ci"].values())

    # The next version learns from training ratings only; its batch holds no evaluation image.
    job = wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "round"}).json()["id"])
    assert job["status"] == "done", job
    sidecar = vic.get(f"/api/concepts/{concept}/versions/{job['result']['version']}").json()
    assert sidecar["labels"]["count"] == before["rated"]
    after = vic.get(f"/api/concepts/{concept}/batch").json()
    assert after["purpose"] == "training" and not {it["id"] for it in after["items"]} & set(ids.tolist())


def test_edited_phrases_drive_the_next_expansion(world, concept):
    server, clients, clusters, target = world
    ann = clients["ann"]
    other = (target + 7) % 20
    before = ann.get(f"/api/concepts/{concept}").json()
    bad = ann.patch(f"/api/concepts/{concept}", json={"positives": [f"cluster {other}"],
                                                      "negatives": [f"Cluster {other}"]})
    assert bad.status_code == 422 and "both positive and negative" in bad.json()["detail"]
    assert ann.get(f"/api/concepts/{concept}").json()["positives"] == before["positives"]

    edited = ann.patch(f"/api/concepts/{concept}", json={"positives": [f"cluster {other}"], "negatives": []})
    assert edited.status_code == 200, edited.text
    assert edited.json()["positives"] == [f"cluster {target}", f"cluster {other}"] and edited.json()["negatives"] == []
    job = wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "expand"}).json()["id"])
    assert job["status"] == "done", job
    batch = ann.get(f"/api/concepts/{concept}/batch").json()
    assert batch["source"] == "expansion" and batch["purpose"] == "training"
    got = np.array([it["id"] for it in batch["items"]])
    assert (clusters[got] == other).sum() >= 5  # the new phrase's neighbours are offered
    with sqlite3.connect(server.data / "agile.sqlite3") as conn:
        kept = {r[0] for r in conn.execute(
            "SELECT i.corpus_id FROM batch_items i JOIN batches b ON b.id = i.batch_id "
            "WHERE b.concept_id = ? AND b.purpose = 'evaluation'", (concept,))}
        rated = {r[0] for r in conn.execute("SELECT corpus_id FROM ratings WHERE concept_id = ? "
                                            "AND purpose = 'training'", (concept,))}
    assert not set(got.tolist()) & (kept | rated)
