"""The assistant panel in headless Chromium: phrases before the first batch, the panel's findings, Ask about
an image with the keyboard (A), and a "flip" action that changes the rating in the grid."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.test_rater_browser import CHROMIUM, page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")]
BATCH = 40


def test_panel_ask_with_the_keyboard_and_follow_a_flip(page, small_corpus_path, tmp_path):  # noqa: F811
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev", "--batch-size", str(BATCH),
                       "--random-negatives", "1000") as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#app:not([hidden])")
        # Before the first batch: "What kind of classifier would you like to create?" leads to phrases.
        page.fill("#concept-name", f"cluster {target}")
        page.click("#assistant-first")
        page.wait_for_selector("#assistant-first-list .chip")
        page.locator("#assistant-first-list .chip").first.click()
        suggested = page.input_value("#concept-positives").strip()
        assert suggested.startswith("cluster ") and suggested != f"cluster {target}"
        page.fill("#concept-positives", "")  # the test's concept keeps one positive phrase
        page.fill("#concept-negatives", f"cluster {(target + 1) % 20}")
        page.click("#create-concept")
        page.wait_for_function(f"document.querySelectorAll('#grid .tile').length === {BATCH}")
        page.wait_for_selector("#assistant-panel:not([hidden])")

        # Rate the batch with the keyboard, one planted mistake: a positive rated negative.
        page.locator("#grid").focus()
        planted = None
        for _ in range(BATCH):
            corpus_id = int(page.get_attribute(".tile.focus", "data-id"))
            positive = bool(clusters[corpus_id] == target)
            if positive and planted is None:
                planted, positive = corpus_id, False
            page.keyboard.press("p" if positive else "n")
        page.wait_for_function(f"document.getElementById('counter').textContent.includes('rated {BATCH} / batch')")
        assert planted is not None

        page.click("#assistant-refresh")
        page.wait_for_selector(f"#assistant-findings .finding[data-key='mislabel:{planted}']")

        # Ask about the planted image with the keyboard: focus its tile, press A.
        page.click(f"#grid .tile[data-id='{planted}']")
        page.keyboard.press("a")
        page.wait_for_selector("#assistant-answer:not([hidden])")
        assert f"image #{planted}" in page.text_content("#assistant-answer")
        assert page.locator("#assistant-answer .thumbs .thumb").count() >= 8  # its nearest rated images
        assert page.locator(f"#grid .tile[data-id='{planted}']").evaluate("t => t.classList.contains('neg')")

        shots = Path(os.environ.get("AGILE_TEST_ARTIFACTS", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "assistant-panel.png"), full_page=True)

        # Follow the finding's "flip" action: the rating changes on the server and in the grid.
        page.locator(f"#assistant-answer .finding[data-key='mislabel:{planted}'] button.action").first.click()
        page.wait_for_function(
            f"document.querySelector(\"#grid .tile[data-id='{planted}']\").classList.contains('pos')")
        api = httpx.Client(base_url=server.url)
        concept = api.get("/api/concepts").json()[0]
        batch = api.get(f"/api/concepts/{concept['id']}/batch").json()
        assert {i["id"]: i["rating"] for i in batch["items"]}[planted] is True

        # Train: a tip may follow the round; switching tips off leaves the tip box hidden after the next one.
        page.uncheck("#assistant-tips")
        page.locator("#grid").focus()
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('versions').textContent.includes('version 1')",
                               timeout=120_000)
        page.wait_for_function("document.getElementById('counter').textContent.includes('round 1')", timeout=60_000)
        assert page.is_hidden("#assistant-tip")
        assert api.get("/api/me/assistant").json() == {"tips": False}
        assert page.is_hidden("#error")
