"""The API for real owners, end to end on a real server: batch-checked and skipped ratings, managing and
exporting concepts, browsing by score, polling for the first version, strict input, documented operations."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import time

import httpx
import pyarrow.parquet as pq
import pytest

from server.process import ROOT, ServerProcess
from tests.rest_helpers import wait_job
from tests.test_api import add_user

pytestmark = pytest.mark.slow
BATCH = 20


@pytest.fixture(scope="module")
def world(small_corpus_path, tmp_path_factory):
    data = tmp_path_factory.mktemp("owners")
    tokens = {name: add_user(data, name, role) for name, role in [("ann", "owner"), ("bob", "owner"),
                                                                   ("vic", "viewer")]}
    with ServerProcess(small_corpus_path, data, "--batch-size", str(BATCH), "--random-negatives", "1000") as server:
        clients = {name: httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {t}"})
                   for name, t in tokens.items()}
        yield server, clients, data
        for c in clients.values():
            c.close()


def new_concept(client, name: str) -> tuple[int, dict]:
    r = client.post("/api/concepts", json={"name": name})
    assert r.status_code == 201, r.text
    assert wait_job(client, r.json()["job"]["id"])["status"] == "done"
    return r.json()["id"], client.get(f"/api/concepts/{r.json()['id']}/batch").json()


def test_a_rating_made_on_another_concepts_batch_is_refused(world):
    """Problem 1: a key pressed while the page swaps concepts must not land on the wrong concept."""
    _, clients, _ = world
    ann = clients["ann"]
    first, b1 = new_concept(ann, "cluster 1")
    second, b2 = new_concept(ann, "cluster 2")
    image = b1["items"][0]["id"]
    r = ann.post(f"/api/concepts/{second}/ratings",
                 json={"ratings": [{"id": image, "positive": True, "batch_id": b1["id"]}]})
    assert r.status_code == 409 and f"not a batch of concept {second}" in r.json()["detail"]
    outside = next(i["id"] for i in b1["items"] if i["id"] not in {j["id"] for j in b2["items"]})
    r = ann.post(f"/api/concepts/{second}/ratings",
                 json={"ratings": [{"id": outside, "positive": True, "batch_id": b2["id"]}]})
    assert r.status_code == 422 and f"not in batch {b2['id']}" in r.json()["detail"]
    ok = ann.post(f"/api/concepts/{second}/ratings",
                  json={"ratings": [{"id": b2["items"][0]["id"], "positive": True, "batch_id": b2["id"]}]})
    assert ok.status_code == 200 and ok.json()["rated"] == 1
    assert ann.get(f"/api/concepts/{first}").json()["rated"] == 0


def test_skip_is_stored_counted_never_trained_on_and_not_offered_again(world, small_corpus_path):
    """Problem 6: a third answer, "can't tell"."""
    from agile.corpus import Corpus

    _, clients, _ = world
    ann = clients["ann"]
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    concept, batch = new_concept(ann, "cluster 4")
    ids = [it["id"] for it in batch["items"]]
    skipped = ids[:3]
    answers = [{"id": i, "skip": True} for i in skipped]
    answers += [{"id": i, "positive": bool(clusters[i] == 4), "batch_id": batch["id"]} for i in ids[3:]]
    answers[-1]["positive"], answers[-2]["positive"] = True, False  # both classes, whatever the cluster
    r = ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": answers})
    assert r.status_code == 200, r.text
    assert r.json()["rated"] == BATCH - 3
    shown = ann.get(f"/api/concepts/{concept}/batch").json()
    assert shown["rated"] == BATCH and shown["skipped"] == 3
    assert [it["skipped"] for it in shown["items"][:3]] == [True] * 3 and shown["items"][0]["rating"] is None
    assert ann.get(f"/api/concepts/{concept}").json()["skipped"] == 3
    both = ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": [{"id": ids[0], "positive": True,
                                                                             "skip": True}]})
    assert both.status_code == 422
    job = wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "round"}).json()["id"])
    assert job["status"] == "done", job
    version = ann.get(f"/api/concepts/{concept}/versions/1").json()
    assert version["labels"]["count"] == BATCH - 3  # never trained on
    assert "rated_auc_pr" in version["metrics"]
    deadline = time.monotonic() + 60  # cross-validation runs once the job is done, after the batch is out
    while "cv_auc_pr" not in version["metrics"] and time.monotonic() < deadline:
        time.sleep(0.1)
        version = ann.get(f"/api/concepts/{concept}/versions/1").json()
    assert 0 <= version["metrics"]["cv_auc_pr"] <= 1 and version["metrics"]["cv_folds"] == 3
    offered = {it["id"] for it in ann.get(f"/api/concepts/{concept}/batch").json()["items"]}
    assert not offered & set(skipped)
    labels = ann.get(f"/api/concepts/{concept}/ratings").json()
    assert [r["label"] for r in labels if r["id"] in skipped] == ["skip"] * 3


def test_manage_export_and_browse(world, small_corpus_path):
    """Problem 6: ratings, rename, delete, unique names, label files, browse by score, batch history."""
    server, clients, data = world
    ann, bob, vic = clients["ann"], clients["bob"], clients["vic"]
    concept, batch = new_concept(ann, "cluster 7")
    ids = [it["id"] for it in batch["items"]]
    ratings = [{"id": i, "positive": k % 3 == 0, "seconds": 1.25} for k, i in enumerate(ids)]
    ratings[1] = {"id": ids[1], "skip": True}
    assert ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": ratings}).status_code == 200

    listed = vic.get(f"/api/concepts/{concept}/ratings")
    assert listed.status_code == 200 and len(listed.json()) == BATCH
    row = listed.json()[0]
    assert set(row) >= {"id", "uri", "label", "round", "purpose", "seconds", "rater", "time"} and row["rater"] == "ann"
    assert len(vic.get(f"/api/concepts/{concept}/ratings", params={"offset": 5, "limit": 3}).json()) == 3

    csv_rows = list(csv.DictReader(io.StringIO(vic.get(f"/api/concepts/{concept}/labels").text)))
    jsonl = vic.get(f"/api/concepts/{concept}/labels", params={"format": "jsonl"})
    parquet = vic.get(f"/api/concepts/{concept}/labels", params={"format": "parquet"})
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    table = pq.read_table(io.BytesIO(parquet.content))
    assert [int(r["id"]) for r in csv_rows] == [json.loads(x)["id"] for x in jsonl.text.splitlines()] \
        == table.column("id").to_pylist()
    assert table.column_names == ["id", "uri", "label", "round", "purpose", "seconds", "rater", "time"]
    out = tmp = data / "exported.parquet"
    cli = subprocess.run([sys.executable, "-m", "agile_cli.main", "labels", "export", str(concept),
                          str(small_corpus_path), "--data", str(data), "--out", str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert cli.returncode == 0, cli.stderr
    assert pq.read_table(tmp).to_pylist() == table.to_pylist()

    # Names: unique per owner (ignoring case), free for another owner; rename keeps the phrases.
    assert ann.post("/api/concepts", json={"name": "Cluster 7"}).status_code == 409
    assert ann.post("/api/concepts", json={"name": "cluster 70"}).status_code == 201
    assert ann.patch(f"/api/concepts/{concept}", json={"name": "Cluster 70"}).status_code == 409
    renamed = ann.patch(f"/api/concepts/{concept}", json={"name": "cluster seven"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "cluster seven"
    assert renamed.json()["positives"][0] == "cluster seven"

    history = vic.get(f"/api/concepts/{concept}/batches").json()
    assert history[0]["id"] == batch["id"] and history[0]["rated"] == BATCH and history[0]["skipped"] == 1

    assert wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "train"}).json()["id"])["status"] == "done"
    top = vic.get(f"/api/concepts/{concept}/versions/1/browse", params={"limit": 50}).json()
    scores = [it["score"] for it in top["items"]]
    assert top["total"] == 5000 and len(scores) == 50 and scores == sorted(scores, reverse=True)
    page2 = vic.get(f"/api/concepts/{concept}/versions/1/browse", params={"limit": 50, "offset": 50}).json()
    assert page2["items"][0]["score"] <= scores[-1]
    bottom = vic.get(f"/api/concepts/{concept}/versions/1/browse", params={"where": "bottom"}).json()
    assert [it["score"] for it in bottom["items"]] == sorted(it["score"] for it in bottom["items"])
    near = vic.get(f"/api/concepts/{concept}/versions/1/browse", params={"where": "threshold"}).json()
    gaps = [abs(it["score"] - 0.5) for it in near["items"]]
    assert gaps == sorted(gaps) and gaps[-1] <= abs(scores[-1] - 0.5)

    # Delete: the owner only; the concept disappears, its name is free again.
    assert vic.delete(f"/api/concepts/{concept}").status_code == 403
    assert bob.delete(f"/api/concepts/{concept}").status_code == 403
    assert ann.delete(f"/api/concepts/{concept}").status_code == 204
    assert vic.get(f"/api/concepts/{concept}").status_code == 404
    assert concept not in [c["id"] for c in vic.get("/api/concepts").json()]
    assert vic.get(f"/api/concepts/{concept}/ratings").status_code == 404


def test_wait_answers_with_the_first_version(world):
    """Problem 8: ?wait waits for the first version and answers 200 with it, with or without If-None-Match: *."""
    _, clients, _ = world
    ann, vic = clients["ann"], clients["vic"]
    concept, batch = new_concept(ann, "cluster 9")
    assert vic.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 60}).status_code == 422
    answers: dict[str, httpx.Response] = {}

    def poll(name: str, headers: dict) -> None:
        answers[name] = vic.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 25}, headers=headers)

    pollers = [threading.Thread(target=poll, args=("plain", {})),
               threading.Thread(target=poll, args=("star", {"If-None-Match": "*"}))]
    for t in pollers:
        t.start()
    time.sleep(0.5)
    ratings = [{"id": it["id"], "positive": k % 2 == 0} for k, it in enumerate(batch["items"])]
    assert ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": ratings}).status_code == 200
    ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "train"})
    for t in pollers:
        t.join(60)
    for name in ("plain", "star"):
        assert answers[name].status_code == 200, (name, answers[name].text)
        assert answers[name].json()["version"] == 1 and answers[name].headers["etag"].endswith('-v1"')
    held = vic.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 0.3}, headers={"If-None-Match": "*"})
    assert held.status_code == 304


def test_strict_input_and_messages_without_python_reprs(world):
    """Problem 9: "yes" is not a boolean; no <_io.BytesIO ...> in a message; wait is bounded."""
    _, clients, _ = world
    ann = clients["ann"]
    concept, batch = new_concept(ann, "cluster 11")
    image = batch["items"][0]["id"]
    for value in ("yes", 1, "true"):
        r = ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": [{"id": image, "positive": value}]})
        assert r.status_code == 422, (value, r.text)
    assert ann.get(f"/api/concepts/{concept}").json()["rated"] == 0
    ratings = [{"id": it["id"], "positive": k % 2 == 0} for k, it in enumerate(batch["items"])]
    ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": ratings})
    assert wait_job(ann, ann.post(f"/api/concepts/{concept}/jobs", json={"kind": "train"}).json()["id"])["status"] == "done"
    bad = ann.post(f"/api/concepts/{concept}/versions/1/score-image", files={"image": ("x.png", b"not an image")})
    assert bad.status_code == 422 and "<" not in bad.json()["detail"] and "0x" not in bad.json()["detail"]
    too_long = ann.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 31})
    assert too_long.status_code == 422 and "at most 30 seconds" in too_long.json()["detail"]
    info = ann.get("/api/info").json()
    assert info["max_wait_seconds"] == 30 and info["eval_per_stratum"] == 20


def test_the_spec_documents_every_operation_and_the_bearer_scheme(world):
    """Problem 7: a security scheme, a description for every operation, docs pages with no CDN."""
    server, _, _ = world
    spec = httpx.get(server.url + "/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {**spec["components"]["securitySchemes"]["bearer"],
                                                              "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearer": []}]
    missing = [f"{method.upper()} {path}" for path, ops in spec["paths"].items() for method, op in ops.items()
               if not op.get("description")]
    assert not missing, missing
    for page in ("/docs", "/redoc"):
        html = httpx.get(server.url + page).text
        assert "cdn" not in html.lower() and "googleapis" not in html, page
    assert httpx.get(server.url + "/docs-assets/swagger/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(server.url + "/docs-assets/redoc/redoc.standalone.js").status_code == 200
