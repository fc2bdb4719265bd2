"""Abuse and edge cases of the REST API on a real server: bounds, bad input, hosts, reads, timeouts."""
from __future__ import annotations

import io
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.rest_helpers import cluster_concept, wait_job
from tests.test_api import add_user, rate_batch, users_cli

pytestmark = pytest.mark.slow
INT64_OVER = 2**63


@pytest.fixture(scope="module")
def world(small_corpus_path, tmp_path_factory):
    """Reads limited to shared concepts; ann's concept has a version; vic is a viewer, bob another owner."""
    data = tmp_path_factory.mktemp("limits")
    tokens = {name: add_user(data, name, role) for name, role in
              [("ann", "owner"), ("bob", "owner"), ("vic", "viewer"), ("eve", "viewer")]}
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    args = ("--batch-size", "20", "--random-negatives", "500", "--read-access", "shared",
            "--request-read-timeout", "1", "--max-jobs-per-user", "2", "--max-image-pixels", "4000000")
    with ServerProcess(small_corpus_path, data, *args) as server:
        clients = {name: httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {tok}"})
                   for name, tok in tokens.items()}
        ann = clients["ann"]
        concept = cluster_concept(ann, target)
        rate_batch(ann, concept["id"], clusters, target)
        job = ann.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": "train"}).json()
        assert wait_job(ann, job["id"])["status"] == "done"
        yield server, clients, concept["id"], data
        for c in clients.values():
            c.close()


def test_integers_past_int64_are_422_not_500(world):
    _, clients, concept, _ = world
    ann = clients["ann"]
    for path in (f"/api/concepts/{INT64_OVER}", f"/api/jobs/{INT64_OVER}", f"/api/images/{INT64_OVER}",
                 f"/api/concepts/{concept}/versions/{INT64_OVER}", f"/api/concepts/{INT64_OVER}/batch"):
        r = ann.get(path)
        assert r.status_code == 422, (path, r.text)
        assert isinstance(r.json()["detail"], str)
    r = ann.post(f"/api/concepts/{concept}/ratings", json={"ratings": [{"id": INT64_OVER, "positive": True}]})
    assert r.status_code == 422
    r = ann.post(f"/api/concepts/{concept}/versions/1/score", json={"ids": [INT64_OVER]})
    assert r.status_code == 422


def test_nan_infinity_and_lone_surrogates_are_422_without_echo(world):
    _, clients, concept, _ = world
    ann = clients["ann"]
    raw = [("/api/concepts", '{"name": "cluster 1\\ud800"}'),
           ("/api/concepts", '{"name": "x", "positives": ["a\\udfff"]}'),
           (f"/api/concepts/{concept}/ratings", '{"ratings": [{"id": 1, "positive": true, "seconds": NaN}]}'),
           (f"/api/concepts/{concept}/ratings", '{"ratings": [{"id": 1, "positive": true, "seconds": Infinity}]}'),
           (f"/api/concepts/{concept}/versions/1/score", '{"embeddings": [[NaN, 1.0]]}')]
    for path, body in raw:
        r = ann.post(path, content=body.encode(), headers={"content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        payload = r.json()
        assert isinstance(payload["detail"], str) and isinstance(payload["errors"], list)
        assert "input" not in json.dumps(payload["errors"])
    assert ann.get(f"/api/concepts/{concept}/versions/latest", params={"wait": "nan"}).status_code == 422


def test_extreme_but_finite_embeddings_are_scored_as_their_direction(world):
    _, clients, concept, _ = world
    ann = clients["ann"]
    dim = ann.get("/api/info").json()["dim"]
    rng = np.random.default_rng(0)
    v = rng.standard_normal(dim)
    direction = ann.post(f"/api/concepts/{concept}/versions/1/score", json={"embeddings": [list(v / 10)]}).json()
    for scale in (3e38 / np.abs(v).max(), 1e-30):
        r = ann.post(f"/api/concepts/{concept}/versions/1/score", json={"embeddings": [list(v * scale)]})
        assert r.status_code == 200, (scale, r.text)
        assert r.json()["scores"] == pytest.approx(direction["scores"], abs=1e-5)
    assert ann.post(f"/api/concepts/{concept}/versions/1/score",
                    json={"embeddings": [[0.0] * dim]}).status_code == 422


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG")  # 1 bit a pixel: small to make, tiny to send
    return out.getvalue()


def test_image_declaring_huge_dimensions_is_refused_before_decoding(world):
    _, clients, concept, _ = world
    bomb = _png(13000, 13000)
    assert len(bomb) < 200_000
    started = time.monotonic()
    r = clients["vic"].post(f"/api/concepts/{concept}/versions/1/score-image", files={"image": ("b.png", bomb)})
    assert r.status_code == 404  # not shared with vic yet: reads are limited
    r = clients["ann"].post(f"/api/concepts/{concept}/versions/1/score-image", files={"image": ("b.png", bomb)})
    assert r.status_code == 413 and "13000 x 13000" in r.json()["detail"]
    assert time.monotonic() - started < 2
    ok = clients["ann"].post(f"/api/concepts/{concept}/versions/1/score-image",
                             files={"image": ("s.png", _png(64, 64))})
    # decoded, then refused by the synthetic corpus's embedder, which embeds no images
    assert ok.status_code == 422 and "synthetic" in ok.json()["detail"], ok.text


def test_bootstrap_is_bounded(world):
    _, clients, concept, _ = world
    r = clients["ann"].get(f"/api/concepts/{concept}/evaluation", params={"bootstrap": 2000})
    assert r.status_code == 422 and "limit" in r.json()["detail"]
    assert clients["ann"].get(f"/api/concepts/{concept}/evaluation", params={"bootstrap": 2001}).status_code == 422
    assert clients["ann"].get(f"/api/concepts/{concept}/evaluation", params={"bootstrap": 10}).status_code == 200


def test_reads_are_limited_to_owned_and_shared_concepts_and_show_no_paths(world, small_corpus_path):
    _, clients, concept, data = world
    ann, vic, bob, eve = clients["ann"], clients["vic"], clients["bob"], clients["eve"]
    for who in (vic, bob):
        assert who.get("/api/concepts").json() == []
        assert who.get(f"/api/concepts/{concept}").status_code == 404
        assert who.get(f"/api/concepts/{concept}/versions/1").status_code == 404
        assert who.get(f"/api/concepts/{concept}/versions/latest").status_code == 404
    job_id = ann.get(f"/api/concepts/{concept}/jobs").json()[0]["id"]
    assert vic.get(f"/api/jobs/{job_id}").status_code == 404
    assert vic.put(f"/api/concepts/{concept}/readers/vic").status_code == 403  # a viewer cannot share
    shared = ann.put(f"/api/concepts/{concept}/readers/vic")
    assert shared.status_code == 200 and shared.json()["readers"] == ["vic"]
    assert [c["id"] for c in vic.get("/api/concepts").json()] == [concept]
    assert vic.get(f"/api/jobs/{job_id}").status_code == 200
    assert eve.get(f"/api/concepts/{concept}").status_code == 404
    texts = [vic.get(f"/api/concepts/{concept}/versions").text, vic.get(f"/api/concepts/{concept}/versions/1").text,
             vic.get(f"/api/concepts/{concept}/versions/latest").text, vic.get("/api/info").text,
             ann.get("/api/images/999999").text]
    for text in texts:
        assert str(small_corpus_path) not in text and str(data) not in text and '"path"' not in text


def test_errors_have_one_shape_and_every_status_is_documented(world):
    _, clients, concept, _ = world
    ann = clients["ann"]
    spec = ann.get("/openapi.json").json()
    operation = spec["paths"]["/api/concepts/{concept_id}"]["get"]
    for code in ("401", "403", "404", "422"):
        assert operation["responses"][code]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorPublic")
    assert "409" in spec["paths"]["/api/jobs/{job_id}"]["delete"]["responses"]
    assert "304" in spec["paths"]["/api/concepts/{concept_id}/versions/latest"]["get"]["responses"]
    invalid = ann.post("/api/concepts", json={"name": ""})
    assert invalid.status_code == 422 and isinstance(invalid.json()["detail"], str)
    r = ann.put(f"/api/concepts/{concept}")
    assert r.status_code == 405 and set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "PATCH", "DELETE"}


def test_cancel_a_job(world):
    _, clients, _, _ = world
    bob = clients["bob"]
    made = bob.post("/api/concepts", json={"name": "cluster 3"}).json()
    assert wait_job(bob, made["job"]["id"])["status"] == "done"
    job = bob.post(f"/api/concepts/{made['id']}/jobs", json={"kind": "expand"}).json()
    assert clients["vic"].delete(f"/api/jobs/{job['id']}").status_code == 403
    assert clients["ann"].delete(f"/api/jobs/{job['id']}").status_code == 403
    cancelled = bob.delete(f"/api/jobs/{job['id']}")
    assert cancelled.status_code in (200, 409), cancelled.text  # 409: it was quicker than the request
    assert wait_cancelled_or_done(bob, job["id"]) in ("cancelled", "done")
    assert bob.delete(f"/api/jobs/{job['id']}").status_code == 409  # finished: nothing to cancel


def wait_cancelled_or_done(client, job_id: int, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/api/jobs/{job_id}").json()["status"]
        if status in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.05)
    raise TimeoutError(job_id)


def test_a_body_never_sent_times_out(world):
    server, _, concept, _ = world
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"POST /api/concepts/{concept}/ratings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode())
        started = time.monotonic()
        answer = s.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 408") and time.monotonic() - started < 5


def test_a_long_poll_ends_refused_once_its_token_is_revoked(world, small_corpus_path):
    server, clients, concept, data = world
    token = add_user(data, "pat", "viewer")
    clients["ann"].put(f"/api/concepts/{concept}/readers/pat")
    pat = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    tag = pat.get(f"/api/concepts/{concept}/versions/latest").headers["etag"]
    answer = {}

    def poll():
        answer["r"] = pat.get(f"/api/concepts/{concept}/versions/latest", params={"wait": 6},
                              headers={"If-None-Match": tag})
    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    assert users_cli(data, "revoke", "pat").returncode == 0
    thread.join(20)
    assert answer["r"].status_code == 401


@pytest.fixture(scope="module")
def dev_server(small_corpus_path, tmp_path_factory):
    with ServerProcess(small_corpus_path, tmp_path_factory.mktemp("dev"), "--dev") as server:
        yield server


@pytest.mark.parametrize("host,status", [("evil.example", 400), ("127.0.0.1.nip.io", 400), ("localhost", 200),
                                         ("127.0.0.1", 200), ("[::1]", 200)])
def test_dev_mode_answers_loopback_host_names_only(dev_server, host, status):
    r = httpx.get(f"{dev_server.url}/api/me", headers={"Host": f"{host}:{dev_server.port}"})
    assert r.status_code == status, r.text
