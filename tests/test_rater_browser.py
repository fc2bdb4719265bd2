"""The web rater in headless Chromium: create a concept, rate with the keyboard only, train, see a version,
rate an evaluation batch and see its metrics, edit the phrases."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="needs Debian chromium (./scripts/test installs it)")]
BATCH = 12
EVAL_PER_STRATUM = 2


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The page asks before long or lossy steps (an evaluation batch, a half-rated submit): say yes,
        # and keep what was asked for the tests to read.
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.accept()))
        yield page
        browser.close()
        assert not errors, errors


def test_rate_with_keyboard_train_and_see_version(page, small_corpus_path, tmp_path):
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev", "--batch-size", str(BATCH),
                       "--random-negatives", "1000", "--eval-per-stratum", str(EVAL_PER_STRATUM)) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#app:not([hidden])")
        assert "dev mode" in page.text_content("#whoami")
        page.fill("#concept-name", f"cluster {target}")
        page.fill("#concept-negatives", f"cluster {(target + 1) % 20}")
        page.click("#create-concept")
        page.wait_for_function(f"document.querySelectorAll('#grid .tile').length === {BATCH}")

        truth = {}
        page.locator("#grid").focus()
        for _ in range(BATCH):
            corpus_id = int(page.get_attribute(".tile.focus", "data-id"))
            truth[corpus_id] = bool(clusters[corpus_id] == target)
            page.keyboard.press("p" if truth[corpus_id] else "n")
        # Undo the last rating, then give it again.
        page.keyboard.press("u")
        last = int(page.get_attribute(".tile.focus", "data-id"))
        assert not page.locator(".tile.focus").evaluate("t => t.classList.contains('pos') || t.classList.contains('neg')")
        page.keyboard.press("p" if truth[last] else "n")
        page.wait_for_function(f"document.getElementById('counter').textContent.includes('rated {BATCH} / batch {BATCH}')")

        page.keyboard.press("Enter")  # train + next batch
        page.wait_for_function("document.getElementById('versions').textContent.includes('version 1')", timeout=120_000)
        page.wait_for_function("document.getElementById('counter').textContent.includes('round 1 (margin)')",
                               timeout=60_000)
        page.keyboard.press("v")  # one image at a time
        assert page.is_visible("#single-img") and not page.is_visible("#grid")
        shown = int(page.get_attribute("#single-img", "data-id"))
        page.keyboard.press("p")
        page.keyboard.press("v")
        page.wait_for_function("document.getElementById('counter').textContent.includes('rated 1 / batch')")
        assert page.is_hidden("#error")

        # Evaluate: a stratified batch in the same grid, labelled; rating all of it shows metrics per version.
        page.click("#evaluate")
        page.wait_for_selector("#eval-banner:not([hidden])", timeout=120_000)
        assert "not used for training" in page.text_content("#eval-banner")
        evaluation_size = page.locator("#grid .tile").count()
        assert 0 < evaluation_size <= 2 * 10 * EVAL_PER_STRATUM  # version 1 and zero-shot
        page.locator("#grid").focus()
        for _ in range(evaluation_size):
            corpus_id = int(page.get_attribute(".tile.focus", "data-id"))
            page.keyboard.press("p" if clusters[corpus_id] == target else "n")
        page.wait_for_function("document.getElementById('evaluation-status').textContent.startsWith('metrics on')")
        rows = page.locator("#evaluation tbody tr").all_text_contents()
        assert len(rows) == 2 and rows[0].startswith("v1") and rows[1].startswith("zero-shot")
        page.keyboard.press("Enter")  # on an evaluation batch: show the metrics, train nothing
        assert "evaluation batch" in page.text_content("#counter") and "round job" not in page.text_content("#job")
        shots = Path(os.environ.get("AGILE_TEST_ARTIFACTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "rater.png"), full_page=True)
        page.click("#back-to-training")
        page.wait_for_function("document.getElementById('counter').textContent.includes('round 1 (margin)')")
        assert page.is_hidden("#eval-banner")

        api = httpx.Client(base_url=server.url)
        concept = api.get("/api/concepts").json()[0]
        assert concept["rated"] == BATCH + 1 and concept["latest_version"] == 1
        assert concept["evaluation_rated"] == evaluation_size
        version = api.get(f"/api/concepts/{concept['id']}/versions/1").json()
        assert version["labels"]["count"] == BATCH
        assert version["labels"]["positives"] == sum(truth.values())
        first = api.get(f"/api/concepts/{concept['id']}/batch", params={"purpose": "training"}).json()
        assert {i["id"]: i["rating"] for i in first["items"]}[shown] is True

        # Edit the phrases: the API's refusal is shown in the editor; saved ones drive a fresh expansion.
        other = (target + 7) % 20
        page.click("#edit-phrases")
        page.fill("#edit-positives", f"cluster {other}")
        page.fill("#edit-negatives", f"Cluster {other}")
        page.click("#save-expand")
        page.wait_for_selector("#phrase-error:not([hidden])")
        assert "422" in page.text_content("#phrase-error") and "both positive and negative" in page.text_content("#phrase-error")
        page.fill("#edit-negatives", "")
        page.click("#save-expand")
        page.wait_for_selector("#phrase-editor", state="hidden")
        assert f"cluster {other}" in page.text_content("#phrases")
        page.wait_for_function("document.getElementById('counter').textContent.includes('round 2 (expansion)')",
                               timeout=60_000)
        offered = [int(t) for t in page.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.dataset.id)")]
        assert (clusters[offered] == other).any()
        assert api.get(f"/api/concepts/{concept['id']}").json()["positives"] == [f"cluster {target}", f"cluster {other}"]
        assert page.is_hidden("#error")

        # M on a tile: "more like this" makes the image a seed, and a new batch holds its neighbours too.
        page.locator("#grid").focus()
        page.keyboard.press("ArrowRight")
        seed = int(page.get_attribute(".tile.focus", "data-id"))
        page.keyboard.press("m")
        page.wait_for_function("document.getElementById('counter').textContent.includes('round 3 (expansion)')",
                               timeout=60_000)
        seeds = api.get(f"/api/concepts/{concept['id']}/seeds").json()
        assert [s.get("corpus_id") for s in seeds["seeds"]] == [seed], seeds
        near = [int(t) for t in page.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.dataset.id)")]
        assert (clusters[[i for i in near if i != seed]] == clusters[seed]).any()
        assert page.is_hidden("#error")


def test_tokens_roles_and_api_errors_in_the_page(page, small_corpus_path, tmp_path):
    from tests.test_api import add_user

    data = tmp_path / "data"
    owner, viewer = add_user(data, "ann", "owner"), add_user(data, "vic", "viewer")
    with ServerProcess(small_corpus_path, data) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#login:not([hidden])")
        page.fill("#token", "agt_not-a-token")
        page.click("#login-form button")
        page.wait_for_selector("#error:not([hidden])")
        assert "401" in page.text_content("#error-text") and "unknown token" in page.text_content("#error-text")

        page.fill("#token", viewer)
        page.click("#login-form button")
        page.wait_for_selector("#app:not([hidden])")
        assert "vic (viewer" in page.text_content("#whoami") and page.is_hidden("#error")
        assert page.is_disabled("#create-concept")

        page.evaluate(f"localStorage.setItem('agile-token', '{owner}')")
        page.reload()
        page.wait_for_selector("#app:not([hidden])")
        assert page.is_enabled("#create-concept")
        page.fill("#concept-name", "cluster 1")
        page.fill("#concept-negatives", "Cluster 1")
        page.click("#create-concept")
        page.wait_for_function("document.getElementById('error-text').textContent.startsWith('422: ')")
        assert page.is_visible("#error") and "cluster 1" in page.text_content("#error-text").lower()


def test_cancel_button_beside_job_progress(page, small_corpus_path, tmp_path):
    """A job that has not finished can be cancelled from the rater; the box then says so."""
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev", "--batch-size", str(BATCH),
                       env={"AGILE_SERVER_JOB_START_DELAY": "5"}) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#app:not([hidden])")
        page.fill("#concept-name", "cluster 3")
        page.click("#create-concept")
        page.wait_for_selector("#job-cancel:not([hidden])")
        page.click("#job-cancel")
        page.wait_for_function("document.querySelector('#job-text').textContent.includes('cancelled')")
        assert page.is_hidden("#job-cancel")
        job = httpx.get(server.url + "/api/concepts/1/jobs").json()[0]
        assert job["status"] == "cancelled"
