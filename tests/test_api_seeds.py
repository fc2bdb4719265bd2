"""Image seeds and corpora without a text model through the REST API (a real server over real SQLite)."""
from __future__ import annotations

import hashlib
import io

import httpx
import numpy as np
import pytest
from PIL import Image

from agile.corpus import Corpus
from agile.demo import render_uri
from agile.embedder import embedder_for_corpus
from agile.search import ExactIndex
from indexing.demo_build import DemoBuildConfig, build_demo_corpus
from indexing.importer import ImportConfig, import_embeddings
from server.process import ServerProcess
from tests.rest_helpers import wait_job
from tests.test_text_model import write_parquet

pytestmark = pytest.mark.slow


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def rate(api: httpx.Client, cid: int, truth: np.ndarray) -> dict:
    batch = api.get(f"/api/concepts/{cid}/batch").json()
    ratings = [{"id": it["id"], "positive": bool(truth[it["id"]])} for it in batch["items"]]
    r = api.post(f"/api/concepts/{cid}/ratings", json={"ratings": ratings})
    assert r.status_code == 200, r.text
    return batch


def test_a_concept_created_from_two_uploaded_images_gets_their_neighbours(tmp_path):
    corpus_dir = tmp_path / "corpus"
    build_demo_corpus(corpus_dir, DemoBuildConfig(n=600, seed=5, batch_size=128, shard_size=300, index=False),
                      progress=False)
    corpus = Corpus.open(corpus_dir)
    uploads = [png(render_uri(corpus.uri(i))) for i in (3, 250)]
    with ServerProcess(corpus_dir, tmp_path / "data", "--dev", "--batch-size", "60") as server:
        api = httpx.Client(base_url=server.url, timeout=120)
        assert api.get("/api/info").json()["text_model"] is True
        created = api.post("/api/concepts", json={"name": "my examples", "expand": False})
        assert created.status_code == 201 and created.json()["job"] is None, created.text
        cid = created.json()["id"]
        files = [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(uploads)]
        r = api.post(f"/api/concepts/{cid}/seeds/images", files=files)
        assert r.status_code == 200, r.text
        seeds = r.json()["seeds"]
        assert [s["kind"] for s in seeds] == ["upload", "upload"]
        assert [s["sha256"] for s in seeds] == [hashlib.sha256(d).hexdigest() for d in uploads]
        again = api.post(f"/api/concepts/{cid}/seeds/images", files=files[:1]).json()["seeds"]
        assert len(again) == 2  # the same image seeds a concept once
        bad = api.post(f"/api/concepts/{cid}/seeds/images", files=[("images", ("x.png", b"not an image", "image/png"))])
        assert bad.status_code == 422 and "readable image" in bad.json()["detail"]
        assert len(api.get(f"/api/concepts/{cid}/seeds").json()["seeds"]) == 2  # the bad upload lost nothing

        job = api.post(f"/api/concepts/{cid}/jobs", json={"kind": "expand"}).json()
        assert wait_job(api, job["id"])["status"] == "done"
        batch = api.get(f"/api/concepts/{cid}/batch").json()
        ids = {it["id"] for it in batch["items"]}
        assert batch["source"] == "expansion" and len(ids) == 60

        # Every image is among the 100 nearest of a query: the name's text or an upload's embedding.
        embedder = embedder_for_corpus(corpus)
        vectors = embedder.embed_images([Image.open(io.BytesIO(d)) for d in uploads])
        index = ExactIndex(corpus)
        near_uploads = set(index.search(vectors, 100)[1].reshape(-1).tolist())
        near_name = set(index.search(embedder.embed_texts(["my examples"]), 100)[1].reshape(-1).tolist())
        assert ids <= near_uploads | near_name
        assert len(ids & (near_uploads - near_name)) >= 20  # most of the batch comes from the two images
        assert 3 in near_uploads and 250 in near_uploads   # an upload of a corpus image finds that image


@pytest.fixture(scope="module")
def no_text_corpus(small_corpus_path, tmp_path_factory):
    """The small corpus imported as embeddings of a model with no text tower."""
    root = tmp_path_factory.mktemp("notext")
    write_parquet(Corpus.open(small_corpus_path), root / "emb.parquet")
    return import_embeddings(root / "emb.parquet", root / "corpus",
                             ImportConfig(format="parquet", model="dinov2-small", workers=1), progress=False)


def test_a_corpus_without_a_text_model_runs_the_loop_from_coverage_and_image_seeds(no_text_corpus, tmp_path):
    clusters = no_text_corpus.column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    truth = clusters == target
    with ServerProcess(no_text_corpus.root, tmp_path / "data", "--dev", "--batch-size", "40",
                       "--random-negatives", "500") as server:
        api = httpx.Client(base_url=server.url, timeout=120)
        assert api.get("/api/info").json()["text_model"] is False
        assert "has no text model" in server.log.read_text()

        # Phrases are refused with a clear 4xx that does not echo them.
        refused = api.post("/api/concepts", json={"name": "boats", "positives": ["sailing boat xyzzy"]})
        assert refused.status_code == 422 and "no text model" in refused.json()["detail"]
        assert "xyzzy" not in refused.text and "Error(" not in refused.text

        created = api.post("/api/concepts", json={"name": "boats"})
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        assert wait_job(api, created.json()["job"]["id"])["status"] == "done"
        first = rate(api, cid, truth)
        assert first["source"] == "coverage" and "coverage" in first["note"] and first["size"] == 40
        assert len(set(clusters[[it["id"] for it in first["items"]]].tolist())) >= 10

        phrase_edit = api.patch(f"/api/concepts/{cid}", json={"positives": ["sailing boat xyzzy"]})
        assert phrase_edit.status_code == 422 and "xyzzy" not in phrase_edit.text
        upload = api.post(f"/api/concepts/{cid}/seeds/images",
                          files=[("images", ("a.png", png(Image.new("RGB", (8, 8))), "image/png"))])
        assert upload.status_code == 422 and "their ids" in upload.json()["detail"]

        # Seeds from the coverage batch's positives; then "more like this" on one of them.
        positives = [it["id"] for it in first["items"] if truth[it["id"]]]
        assert positives
        seeded = api.post(f"/api/concepts/{cid}/seeds", json={"ids": positives[:1]})
        assert seeded.status_code == 200 and seeded.json()["text_model"] is False
        more = api.post(f"/api/concepts/{cid}/more-like/{positives[-1]}")
        assert more.status_code == 202, more.text
        assert wait_job(api, more.json()["id"])["status"] == "done"
        second = rate(api, cid, truth)
        assert second["source"] == "expansion"
        assert np.mean([truth[it["id"]] for it in second["items"]]) > 0.5
        assert api.get(f"/api/concepts/{cid}").json()["seeds"] == len(set(positives[:1] + positives[-1:]))

        for _ in range(2):
            job = wait_job(api, api.post(f"/api/concepts/{cid}/jobs", json={"kind": "round"}).json()["id"])
            assert job["status"] == "done", job
            rate(api, cid, truth)
        evaluation = wait_job(api, api.post(f"/api/concepts/{cid}/jobs", json={"kind": "evaluate"}).json()["id"])
        assert evaluation["status"] == "done", evaluation
        assert evaluation["result"]["models"] == ["v1", "v2"]  # strata from the versions only: no zero-shot
        rate(api, cid, truth)
        report = api.get(f"/api/concepts/{cid}/evaluation", params={"bootstrap": 20}).json()
        assert report["ready"] and [m["model"] for m in report["models"]] == ["v1", "v2"]
        assert report["models"][-1]["metrics"]["auc_pr"] > 0.5

        # A coverage batch can also be asked for, and a candidate filter keeps batches inside.
        part = [target, (target + 1) % 20]
        put = api.put(f"/api/concepts/{cid}/candidates", json={"column": "cluster", "op": "in", "value": part})
        assert put.status_code == 200, put.text
        job = api.post(f"/api/concepts/{cid}/jobs", json={"kind": "expand", "coverage": True}).json()
        assert wait_job(api, job["id"])["status"] == "done"
        cover = api.get(f"/api/concepts/{cid}/batch").json()
        assert cover["source"] == "coverage"
        assert set(clusters[[it["id"] for it in cover["items"]]].tolist()) <= set(part)
        rate(api, cid, truth)
        job = wait_job(api, api.post(f"/api/concepts/{cid}/jobs", json={"kind": "round"}).json()["id"])
        assert job["status"] == "done", job
        chosen = api.get(f"/api/concepts/{cid}/batch").json()
        assert set(clusters[[it["id"] for it in chosen["items"]]].tolist()) <= set(part)
        bad = api.put(f"/api/concepts/{cid}/candidates", json={"column": "secret_col", "value": 1})
        assert bad.status_code == 422 and "secret_col" not in bad.text
