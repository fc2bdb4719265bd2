"""One labelling session, two drivers: the server (REST, SQLite) and the simulator's in-memory store.

The same owner's answers, given through the REST API and straight to a
``MemoryStore`` (what ``eval.simulate`` uses), must give identical batches and
identical versions; and the server's settings come from one source.
"""
from __future__ import annotations


import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from agile.session import Session, SessionSettings
from agile.session_store import MemoryStore
from agile.workspace import Workspace
from server.process import ServerProcess
from tests import rest_helpers

pytestmark = pytest.mark.slow
BATCH, NEGATIVES = 30, 1000
PROBE = list(range(0, 5000, 25))  # images whose scores are compared


def wait_job(client: httpx.Client, job_id: int) -> dict:
    return rest_helpers.wait_job(client, job_id, expect_done=True)


def through_the_server(corpus_path, data, name: str, negative: str, truth: np.ndarray) -> dict:
    record = {"batches": [], "scores": []}
    with ServerProcess(corpus_path, data, "--dev", "--batch-size", str(BATCH),
                       "--random-negatives", str(NEGATIVES)) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        concept = client.post("/api/concepts", json={"name": name, "negatives": [negative]}).json()
        assert concept["id"] == 1  # the session's seed, as the memory run below uses
        wait_job(client, concept["job"]["id"])
        for kind in ("round", "round", "train"):
            batch = client.get("/api/concepts/1/batch").json()
            ids = [item["id"] for item in batch["items"]]
            record["batches"].append((batch["source"], batch["round"], ids))
            ratings = [{"id": i, "positive": bool(truth[i])} for i in ids]
            assert client.post("/api/concepts/1/ratings", json={"ratings": ratings}).status_code == 200
            job = wait_job(client, client.post("/api/concepts/1/jobs", json={"kind": kind}).json()["id"])
            version = job["result"]["version"]
            scores = client.post(f"/api/concepts/1/versions/{version}/score", json={"ids": PROBE}).json()["scores"]
            record["scores"].append(np.asarray(scores, dtype=np.float32))
        wait_job(client, client.post("/api/concepts/1/jobs", json={"kind": "evaluate"}).json()["id"])
        evaluation = client.get("/api/concepts/1/batch?purpose=evaluation").json()
        record["evaluation"] = [item["id"] for item in evaluation["items"]]
    return record


def in_memory(corpus_path, work, name: str, negative: str, truth: np.ndarray) -> dict:
    record = {"batches": [], "scores": []}
    store = MemoryStore.create(name, negatives=[negative])
    session = Session(Workspace(corpus_path, work), store, seed=1,
                      settings=SessionSettings(batch_size=BATCH, random_negatives=NEGATIVES))
    batch = session.expand()
    for kind in ("round", "round", "train"):
        record["batches"].append((batch.source, batch.round, batch.ids.tolist()))
        store.rate(batch.ids, truth[batch.ids])
        if kind == "round":
            trained, batch = session.round()
        else:
            trained = session.train()
        record["scores"].append(trained.model.score_ids(session.workspace.corpus, np.asarray(PROBE)))
    record["evaluation"] = sorted(session.evaluation_set().batch.ids.tolist())
    return record


def test_server_and_simulator_drive_the_same_session(small_corpus_path, tmp_path):
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    truth = clusters == target
    phrases = f"cluster {target}", f"cluster {(target + 1) % 20}"
    served = through_the_server(small_corpus_path, tmp_path / "server", *phrases, truth)
    memory = in_memory(small_corpus_path, tmp_path / "memory", *phrases, truth)
    # Round 1's margin batch held no positives, so round 2 mixes in the model's top scores (select_batch).
    assert [b[:2] for b in served["batches"]] == [("expansion", 0), ("margin", 1), ("margin+mined", 2)]
    assert served["batches"] == memory["batches"]
    for got, want in zip(served["scores"], memory["scores"]):
        np.testing.assert_array_equal(got, want)
    assert sorted(served["evaluation"]) == memory["evaluation"] and len(memory["evaluation"]) > 0


def test_server_settings_come_from_the_environment_unless_a_flag_is_given(small_corpus_path, tmp_path):
    env = {"AGILE_SERVER_BATCH_SIZE": "7"}
    for args, size in (((), 7), (("--batch-size", "5"), 5)):
        with ServerProcess(small_corpus_path, tmp_path / f"data{size}", "--dev", *args, env=env) as server, \
                httpx.Client(base_url=server.url, timeout=60) as client:
            concept = client.post("/api/concepts", json={"name": "cluster 3"}).json()
            wait_job(client, concept["job"]["id"])
            assert client.get(f"/api/concepts/{concept['id']}/batch").json()["size"] == size
            assert client.get("/api/info").json()["batch_size"] == size


def test_a_damaged_weights_file_is_a_server_error_not_bad_input(small_corpus_path, tmp_path):
    data = tmp_path / "data"
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    with ServerProcess(small_corpus_path, data, "--dev", "--batch-size", "20",
                       "--random-negatives", "500") as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        concept = client.post("/api/concepts", json={"name": "cluster 3", "negatives": ["cluster 4"]}).json()
        wait_job(client, concept["job"]["id"])
        batch = client.get(f"/api/concepts/{concept['id']}/batch").json()
        ratings = [{"id": it["id"], "positive": bool(clusters[it["id"]] == 3)} for it in batch["items"]]
        client.post(f"/api/concepts/{concept['id']}/ratings", json={"ratings": ratings})
        wait_job(client, client.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": "train"}).json()["id"])
        weights = next((data / "models").rglob("weights.pt"))
        weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
        r = client.post(f"/api/concepts/{concept['id']}/versions/1/score", json={"ids": [1, 2]})
        assert r.status_code == 500, r.text
        assert "damaged" in r.json()["detail"] and "weights.pt" in r.json()["detail"]
        assert str(tmp_path) not in r.json()["detail"]  # no path of the server's disk
        assert client.post(f"/api/concepts/{concept['id']}/versions/9/score", json={"ids": [1]}).status_code == 404
    assert "damaged" in (data / "server.log").read_text()  # and the operator sees it in the log


def test_the_recipe_follows_the_rounds_of_the_ratings_not_the_button_presses(small_corpus_path, tmp_path):
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    truth = clusters == 3
    store = MemoryStore.create("cluster 3", negatives=["cluster 4"])
    session = Session(Workspace(small_corpus_path, tmp_path), store, seed=0,
                      settings=SessionSettings(batch_size=30, random_negatives=300, epochs=1))
    batch = session.expand()
    store.rate(batch.ids, truth[batch.ids])
    first, batch = session.round()
    again = session.train()  # retrained before the new batch is rated: still round 0's recipe
    assert (first.round, again.round) == (0, 0) and again.model.config.hidden == (16,)
    store.rate(batch.ids, truth[batch.ids])
    later = session.train()
    assert later.round == 1 and later.model.config.hidden == (128, 128, 128)
    assert store.sidecar(later.version).round == 1 and store.sidecar(later.version).parent_version == again.version


def test_without_mixing_a_sparse_batch_is_exactly_the_strategys_pick(small_corpus_path, tmp_path):
    from agile.sampling import select
    workspace = Workspace(small_corpus_path, tmp_path)
    batches = {}
    for mix in (True, False):
        store = MemoryStore.create("cluster 3", negatives=["cluster 4"])
        session = Session(workspace, store, seed=0, settings=SessionSettings(
            batch_size=30, random_negatives=300, epochs=1, mix_likely_positives=mix))
        batch = session.expand()
        store.rate(batch.ids, np.arange(len(batch.ids)) < 2)  # two positives: a rare concept
        trained, batches[mix] = session.round()
    # 2 rated positives are fewer than 30/2, so the mixing session mines; the other does not.
    assert batches[True].source == "margin+mined" and batches[False].source == "margin"
    want = select(workspace.corpus, trained.model, 30, "margin", session.not_to_offer(), seed=session.batch_seed(1),
                  scan_dir=workspace.scan_dir)
    np.testing.assert_array_equal(batches[False].ids, want)
    assert not np.array_equal(batches[True].ids, batches[False].ids)


def test_cross_validation_is_added_to_a_saved_version_not_done_in_the_round(small_corpus_path, tmp_path):
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    truth = clusters == 3
    store = MemoryStore.create("cluster 3", negatives=["cluster 4"])
    session = Session(Workspace(small_corpus_path, tmp_path), store, seed=0, settings=SessionSettings(
        batch_size=30, random_negatives=300, epochs=1, cross_validate=True))
    batch = session.expand()
    store.rate(batch.ids, truth[batch.ids])
    trained, _ = session.round()
    assert "cv_auc_pr" not in store.sidecar(trained.version).metrics  # the batch does not wait for it
    metrics = session.cross_validate(trained)
    assert metrics["cv_folds"] == 3 and store.sidecar(trained.version).metrics["cv_auc_pr"] == metrics["cv_auc_pr"]
    assert session.cross_validate(session.trained(trained.version)) is None  # no ratings kept: nothing to refit
    off = Session(session.workspace, store, seed=0, settings=SessionSettings(batch_size=30, random_negatives=300))
    assert off.cross_validate(trained) is None
