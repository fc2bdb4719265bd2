"""The assistant through the REST API: advice, Ask, tips that never repeat a dismissal, the switch, and a
language model (a stub HTTP server) whose reply naming an unknown image is not shown."""
from __future__ import annotations

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.rest_helpers import cluster_concept
from tests.test_api import add_user
from tests.test_assistant import _Stub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llm():
    import threading
    from http.server import HTTPServer

    server = HTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def world(small_corpus_path, tmp_path_factory, llm):
    data = tmp_path_factory.mktemp("assistant")
    tokens = {"ann": add_user(data, "ann", "owner"), "bob": add_user(data, "bob", "owner")}
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    env = {"AGILE_SERVER_ASSISTANT_LLM_URL": f"http://127.0.0.1:{llm.server_port}/v1",
           "AGILE_SERVER_ASSISTANT_LLM_MODEL": "stub"}
    with ServerProcess(small_corpus_path, data, "--batch-size", "80", "--random-negatives", "1000",
                       env=env) as server:
        clients = {n: httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {t}"})
                   for n, t in tokens.items()}
        ann = clients["ann"]
        concept = cluster_concept(ann, target)
        batch = ann.get(f"/api/concepts/{concept['id']}/batch").json()
        ids = [it["id"] for it in batch["items"]]
        truth = {i: bool(clusters[i] == target) for i in ids}
        planted = next(i for i in ids if truth[i])
        truth[planted] = False
        r = ann.post(f"/api/concepts/{concept['id']}/ratings",
                     json={"ratings": [{"id": i, "positive": p} for i, p in truth.items()]})
        assert r.status_code == 200
        yield clients, concept["id"], planted
        for c in clients.values():
            c.close()


def test_advice_names_the_planted_mislabel_with_a_flip_action(world):
    clients, concept, planted = world
    advice = clients["ann"].get(f"/api/concepts/{concept}/advice").json()
    mislabels = [f for f in advice["findings"] if f["kind"] == "mislabel"]
    finding = next(f for f in mislabels if f["evidence"]["image_ids"][0] == planted)
    flip = finding["actions"][0]
    assert flip["method"] == "PUT" and flip["path"] == f"/api/concepts/{concept}/ratings/{planted}"
    assert flip["body"] == {"positive": True}


def test_ask_about_an_image_and_a_question_it_cannot_answer(world, llm):
    clients, concept, planted = world
    _Stub.reply = "Image 999999 is the problem."  # names an image outside the evidence: not shown
    r = clients["ann"].post(f"/api/concepts/{concept}/ask", json={"target": {"kind": "image", "image": planted}})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert len(answer["facts"]["neighbours"]) == 8 and "999999" not in answer["text"]
    assert answer["source"].startswith("findings")
    _Stub.reply = "Nothing I can add."
    r = clients["ann"].post(f"/api/concepts/{concept}/ask", json={"question": "what will the weather be?"})
    assert "cannot answer" in r.json()["text"]
    assert clients["ann"].post(f"/api/concepts/{concept}/ask",
                               json={"target": {"kind": "phrase", "phrase": "no such phrase"}}).status_code == 422
    assert clients["ann"].post("/api/concepts/999/ask", json={}).status_code == 404


def test_a_dismissed_tip_never_returns_and_the_switch_silences_tips(world):
    clients, concept, _ = world
    ann = clients["ann"]
    shown = []
    for _ in range(30):
        tip = ann.post(f"/api/concepts/{concept}/tips", json={"event": "batch"}).json()
        if tip["tip"] is None:
            break
        shown.append(tip["tip"]["key"])
        assert ann.post(f"/api/concepts/{concept}/tips/dismiss", json={"key": tip["tip"]["key"]}).status_code == 200
    assert shown and len(shown) == len(set(shown))  # one at a time, never the same twice
    for event in ("round", "evaluate", "expand", "train"):  # every job kind the rater reports
        assert ann.post(f"/api/concepts/{concept}/tips", json={"event": event}).json()["tip"] is None
    assert ann.put("/api/me/assistant", json={"tips": False}).json() == {"tips": False}
    off = ann.post(f"/api/concepts/{concept}/tips", json={"event": "round"}).json()
    assert off["tip"] is None and off["reason"] == "tips are switched off"
    assert ann.get("/api/me/assistant").json() == {"tips": False}
    ann.put("/api/me/assistant", json={"tips": True})
    assert clients["bob"].post(f"/api/concepts/{concept}/tips", json={}).status_code == 403


def test_first_phrases_for_a_name(world):
    clients, _, _ = world
    r = clients["ann"].get("/api/assistant/phrases", params={"text": "cluster 3"})
    assert r.status_code == 200 and r.json()["source"] == "synthetic"
    assert r.json()["suggestions"] and all(s["phrase"] != "cluster 3" for s in r.json()["suggestions"])
