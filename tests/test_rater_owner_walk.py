"""An owner's walk through the rater in headless Chromium, keyboard first: two concepts, switching mid-batch,
"can't tell", Enter, evaluation and back, the chart, one at a time, browsing by score, exporting labels,
rename and delete; and the API docs offline."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ROOT, ServerProcess

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium")]
BATCH = 12
ARGS = ("--dev", "--batch-size", str(BATCH), "--random-negatives", "1000", "--eval-per-stratum", "2")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.dialogs, page.accept_dialogs = [], True  # what the page asked, and the answer to give
    page.on("dialog", lambda d: (page.dialogs.append(d.message),
                                 d.accept() if page.accept_dialogs else d.dismiss()))
    yield page
    assert not errors, errors


def text(page, selector: str) -> str:
    return page.text_content(selector) or ""


def wait_counter(page, fragment: str, timeout: float = 120_000) -> None:
    page.wait_for_function(f"document.getElementById('counter').textContent.includes({fragment!r})",
                           timeout=timeout)


def rate_all(page, clusters, target: int, skip: set[int] = frozenset()) -> None:
    """Answer every unrated tile from the focused one on, with keys only."""
    while page.locator("#grid .tile:not(.pos):not(.neg):not(.skip)").count():
        corpus_id = int(page.get_attribute(".tile.focus", "data-id"))
        page.keyboard.press("s" if corpus_id in skip else "p" if clusters[corpus_id] == target else "n")
        page.wait_for_function(f"document.querySelector('.tile[data-id=\"{corpus_id}\"]').className.match(/pos|neg|skip/)")


def shots_dir(tmp_path) -> Path:
    out = Path(os.environ.get("AGILE_TEST_ARTIFACTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_an_owner_walks_the_rater_with_the_keyboard(page, small_corpus_path, tmp_path):
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    target, other = [int(c) for c in np.argsort(np.bincount(clusters))[::-1][:2]]
    shots = shots_dir(tmp_path)
    with ServerProcess(small_corpus_path, tmp_path / "data", *ARGS) as server:
        api = httpx.Client(base_url=server.url, timeout=60)
        page.goto(server.url + "/")
        page.wait_for_selector("#app:not([hidden])")

        # Two concepts; the first is rated halfway, with one "can't tell".
        page.fill("#concept-name", f"cluster {target}")
        page.click("#create-concept")
        page.wait_for_function(f"document.querySelectorAll('#grid .tile').length === {BATCH}")
        first = api.get("/api/concepts").json()[0]["id"]
        page.locator("#grid").focus()
        for key in "pnpn":
            page.keyboard.press(key)
        skipped = int(page.get_attribute(".tile.focus", "data-id"))
        page.keyboard.press("s")
        wait_counter(page, "rated 5 / batch 12 (1 can't tell)")
        assert "?" in text(page, f'.tile[data-id="{skipped}"] .mark')
        page.fill("#concept-name", f"cluster {other}")
        page.press("#concept-name", "Enter")
        page.wait_for_function("document.getElementById('concept-title').textContent.endsWith("
                               f"'cluster {other}') && document.querySelectorAll('#grid .tile').length === {BATCH}",
                               timeout=60_000)
        second = api.get("/api/concepts").json()[1]["id"]
        for key in "nnp":
            page.keyboard.press(key)
        wait_counter(page, "rated 3 / batch 12")
        # Duplicate names are refused.
        page.fill("#concept-name", f"Cluster {other}")
        page.click("#create-concept")
        page.wait_for_function("document.getElementById('error-text').textContent.includes('already have a concept')")

        # Problem 1 and 3: Tab reaches the concept list; a key pressed while the other concept loads is ignored.
        page.locator("#grid").focus()
        for _ in range(40):
            page.keyboard.press("Shift+Tab")
            if page.evaluate(f"document.activeElement.dataset.id === '{first}'"):
                break
        else:
            pytest.fail("the concept list cannot be reached with Tab")
        old_batch = page.get_attribute("#grid", "data-batch")
        page.keyboard.press("Enter")
        page.keyboard.press("p")  # lands while the grid swaps
        assert page.get_attribute("#grid", "data-batch") != old_batch  # the old grid is gone at once
        page.wait_for_function(f"document.querySelectorAll('#grid .tile').length === {BATCH} && "
                               "document.getElementById('concept-title').textContent.endsWith("
                               f"'cluster {target}')")
        wait_counter(page, "rated 5 / batch 12")
        assert page.is_hidden("#error"), text(page, "#error-text")
        assert api.get(f"/api/concepts/{first}").json()["rated"] == 4
        assert api.get(f"/api/concepts/{second}").json()["rated"] == 3

        # Problem 3: Enter on a half-rated batch asks first (declined: nothing starts).
        page.accept_dialogs = False
        page.keyboard.press("Enter")
        assert "7 of the 12 images are not rated yet" in page.dialogs[-1]
        page.accept_dialogs = True
        assert not api.get(f"/api/concepts/{first}/jobs").json()[0]["kind"] == "round"
        rate_all(page, clusters, target)
        wait_counter(page, "rated 12 / batch 12")
        page.screenshot(path=str(shots / "rater-grid.png"))

        # Problem 3: Enter after a mouse click on "Train only" submits, never trains a duplicate.
        page.click("#train")
        page.wait_for_function("document.getElementById('versions').textContent.includes('version 1')",
                               timeout=120_000)
        page.wait_for_function("document.getElementById('job-text').textContent.includes('done')")
        assert "cross-validated" in text(page, "#chart-title") and "in-sample" in text(page, "#versions")
        page.keyboard.press("Enter")
        wait_counter(page, "round 1 (margin)", timeout=180_000)
        kinds = [j["kind"] for j in api.get(f"/api/concepts/{first}/jobs").json()]
        assert kinds[:2] == ["round", "train"]
        offered = {int(t) for t in page.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.dataset.id)")}
        assert skipped not in offered  # "can't tell" is never offered again
        assert api.get(f"/api/concepts/{first}/versions/2").json()["labels"]["count"] == BATCH - 1
        # Version 2 was trained on version 1's ratings: it relabels nothing, one calm version of the two needed.
        page.wait_for_function("document.getElementById('settled').textContent.includes('Version 2 barely changed')")

        # Problem 5: one at a time, scrolled down: the whole image is below the sticky toolbar.
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.keyboard.press("v")
        box = page.locator("#single-img").bounding_box()
        sticky = page.locator(".sticky").bounding_box()
        assert box["y"] >= sticky["y"] + sticky["height"] - 1 and box["y"] + box["height"] <= 800 + 1, (box, sticky)
        page.keyboard.press("v")

        # Scores on the grid, then problem 9: an error banner goes after a later success.
        page.click("#scores-toggle")
        page.wait_for_function("[...document.querySelectorAll('#grid .tile .score')].every(s => s.textContent)")
        page.evaluate("showError('an earlier problem')")
        page.locator("#grid").focus()
        page.keyboard.press("p")
        page.wait_for_selector("#error", state="hidden")
        bg = page.locator(".tile .id").first.evaluate("e => getComputedStyle(e).backgroundColor")
        assert bg not in ("rgba(0, 0, 0, 0)", "transparent")  # the caption is readable on white images

        # Problem 2: evaluation, warned first; its status never says "none rated" once rated; Enter starts nothing.
        page.click("#evaluate")
        assert "up to 60 images" in page.dialogs[-1]  # 2 versions + zero-shot, 10 strata, 2 each
        page.wait_for_selector("#eval-banner:not([hidden])", timeout=120_000)
        rate_all(page, clusters, target)
        assert "none of" not in text(page, "#evaluation-status")
        page.wait_for_function("document.getElementById('evaluation-status').textContent.startsWith('metrics on')",
                               timeout=60_000)
        page.keyboard.press("Enter")
        page.wait_for_timeout(800)
        assert [j["kind"] for j in api.get(f"/api/concepts/{first}/jobs").json()].count("evaluate") == 1

        # Problem 4: evaluation AUC-PR with intervals and the zero-shot line; legend and labels clear.
        assert "rated evaluation images" in text(page, "#chart-title")
        assert page.locator("#chart .zero-shot").count() == 1 and page.locator("#chart .ci").count() == 2
        chart = page.locator("#chart").bounding_box()
        last_label = page.locator("#chart .xlabel").last.bounding_box()
        assert last_label["x"] + last_label["width"] <= chart["x"] + chart["width"]
        axis = page.locator("#chart line").first.bounding_box()
        for legend in page.locator("#chart .legend").all():
            assert legend.bounding_box()["y"] > axis["y"]
        page.locator("#chart").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "rater-evaluation.png"), full_page=True)

        # Problem 2: back to training stays there, even when an evaluate job finishes afterwards.
        page.click("#evaluate")
        page.click("#back-to-training")
        wait_counter(page, "round 1 (margin)")
        page.wait_for_function("document.getElementById('job-text').textContent.match(/evaluate job \\d+: done/)",
                               timeout=120_000)
        page.wait_for_timeout(500)
        assert page.is_hidden("#eval-banner")
        # ... and reopening the concept lands on the training batch still to rate.
        page.reload()
        page.wait_for_selector("#app:not([hidden])")
        wait_counter(page, "round 1 (margin)")
        assert page.is_hidden("#eval-banner")

        # Browse the corpus by a version's score, paged.
        page.click("#open-browse")
        page.wait_for_selector("#browse-grid .browse-tile")
        scores = [float(s) for s in page.locator(".browse-tile").evaluate_all("ts => ts.map(t => t.dataset.score)")]
        assert scores == sorted(scores, reverse=True) and len(scores) == 30
        page.select_option("#browse-where", "threshold")
        page.wait_for_function("document.getElementById('browse-status').textContent.includes('0.5 threshold')")
        page.click("#browse-next")
        page.wait_for_function("document.getElementById('browse-status').textContent.includes('images 31–60')")
        page.wait_for_function("[...document.querySelectorAll('#browse-grid img')].every(i => i.complete && i.naturalWidth)")
        page.locator("#browse-grid").screenshot(path=str(shots / "rater-browse.png"))

        # Export labels: the downloaded CSV holds every answer, "can't tell" included.
        with page.expect_download() as download:
            page.click("#export-csv")
        rows = list(csv.DictReader(open(download.value.path())))
        assert {r["label"] for r in rows} >= {"positive", "negative", "skip"}
        assert {r["purpose"] for r in rows} == {"training", "evaluation"}

        # Rename, then delete the other concept.
        page.click("#rename")
        page.fill("#rename-input", f"cluster {target} only")
        page.press("#rename-input", "Enter")
        page.wait_for_function(f"document.getElementById('concept-title').textContent === 'cluster {target} only'")
        page.click(f'#concepts button[data-id="{second}"]')
        page.wait_for_function(f"document.getElementById('concept-title').textContent.endsWith('cluster {other}')")
        page.click("#delete-concept")
        page.wait_for_function(f"!document.querySelector('#concepts button[data-id=\"{second}\"]')")
        assert api.get(f"/api/concepts/{second}").status_code == 404
        assert page.is_hidden("#error"), text(page, "#error-text")

    for name in ("rater-grid.png", "rater-evaluation.png", "rater-browse.png"):
        if os.environ.get("AGILE_DOC_SCREENSHOTS"):
            shutil.copy(shots / name, ROOT / "docs" / "img" / name)


def test_api_docs_load_offline(browser, small_corpus_path, tmp_path):
    """Problem 7: /docs and /redoc work with nothing but the server reachable."""
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev") as server:
        context = browser.new_context()
        outside: list[str] = []

        def only_the_server(route):
            if route.request.url.startswith(server.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        context.route("**/*", only_the_server)
        page = context.new_page()
        page.goto(server.url + "/docs")
        page.wait_for_selector(".opblock", timeout=60_000)
        assert page.locator(".opblock").count() >= 25
        assert "/api/concepts/{concept_id}/labels" in page.text_content("body")
        page.wait_for_selector(".btn.authorize")  # the bearer scheme
        page.goto(server.url + "/redoc")
        page.wait_for_function("document.body.innerText.includes('Download every answer as a file')",
                               timeout=60_000)
        assert not outside, outside
        context.close()
