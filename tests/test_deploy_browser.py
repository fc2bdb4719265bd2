"""The rater's deployment panel in headless Chromium: set a target from a sentence, read its status, export."""
from __future__ import annotations

import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.rest_helpers import cluster_concept, wait_job

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")]


def test_target_status_and_export_from_the_rater(small_corpus_path, tmp_path):
    from playwright.sync_api import sync_playwright

    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    truth = clusters == target
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev", "--batch-size", "40",
                       "--random-negatives", "1000", "--eval-per-stratum", "6") as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        concept = cluster_concept(client, target)
        for kind, purpose in (("round", "training"), ("evaluate", "training"), (None, "evaluation")):
            batch = client.get(f"/api/concepts/{concept['id']}/batch?purpose={purpose}").json()
            client.post(f"/api/concepts/{concept['id']}/ratings",
                        json={"ratings": [{"id": i["id"], "positive": bool(truth[i["id"]])} for i in batch["items"]]})
            if kind:
                wait_job(client, client.post(f"/api/concepts/{concept['id']}/jobs", json={"kind": kind}).json()["id"],
                         expect_done=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1280, "height": 1400}, accept_downloads=True)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.click(f"#concepts li >> text=cluster {target}")
            page.wait_for_function("document.querySelector('#target-understood').textContent.includes('No target')")
            page.fill("#target-input", "AUC-PR of at least 0.6")
            with page.expect_response(lambda r: r.url.endswith("/target") and r.request.method == "PUT") as put:
                page.click("#target-set")
            assert put.value.status == 200, put.value.text()
            page.wait_for_function("document.querySelector('#target-status').textContent.length > 0")
            assert page.text_content("#target-understood") == "Target: AUC-PR of at least 0.6"
            assert page.get_attribute("#target-status", "data-state") == "met"
            assert "met by version 1" in page.text_content("#target-status")
            assert "evaluation images" in page.text_content("#target-basis")
            with page.expect_download() as download:
                page.click("#export")
            path = tmp_path / "export.zip"
            download.value.save_as(path)
            with zipfile.ZipFile(path) as zf:
                assert any(n.endswith("model.onnx") for n in zf.namelist())
            page.wait_for_function("document.querySelector('#export-note').textContent.startsWith('downloaded')")
            page.screenshot(path=str(tmp_path / "deploy-panel.png"), full_page=True)
            browser.close()
        assert not errors, errors
