"""The web rater in headless Chromium on a multi-category task: create it from the form, rate with the
number keys (1-9 the categories, 0 none of these), undo, train, and see the task's metrics."""
from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from agile.corpus import Corpus
from server.process import ServerProcess
from tests.rest_helpers import wait_job
from tests.test_rater_browser import CHROMIUM, page  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="needs Debian chromium (./scripts/test installs it)")]
BATCH = 12
CLUSTERS = (2, 5, 11)


def _key(clusters: np.ndarray, corpus_id: int) -> str:
    """The key of an image's class: 1-3 its cluster's category, 0 none of these."""
    where = [i for i, c in enumerate(CLUSTERS) if clusters[corpus_id] == c]
    return str(where[0] + 1) if where else "0"


def test_a_task_is_rated_with_number_keys_and_trained(page, small_corpus_path, tmp_path):  # noqa: F811
    clusters = Corpus.open(small_corpus_path).column("cluster").to_numpy()
    with ServerProcess(small_corpus_path, tmp_path / "data", "--dev", "--batch-size", str(BATCH)) as server:
        page.goto(server.url + "/")
        page.wait_for_selector("#app:not([hidden])")
        page.fill("#concept-name", "three clusters")
        page.fill("#concept-categories", "\n".join(f"cluster {c}" for c in CLUSTERS))
        page.check("#concept-none")
        page.click("#create-concept")
        page.wait_for_function(f"document.querySelectorAll('#grid .tile').length === {BATCH}")
        keys = page.text_content("#task-keys")
        assert all(f"{i + 1} cluster {c}" in keys for i, c in enumerate(CLUSTERS)) and "0 none of these" in keys

        page.locator("#grid").focus()
        pressed = {}
        for _ in range(BATCH):
            corpus_id = int(page.get_attribute(".tile.focus", "data-id"))
            pressed[corpus_id] = _key(clusters, corpus_id)
            page.keyboard.press(pressed[corpus_id])
        page.keyboard.press("p")  # a task has no positive: nothing happens
        first = next(iter(pressed))
        mark = page.text_content(f'.tile[data-id="{first}"] .mark')
        assert mark.startswith(pressed[first]) and ("none of these" in mark or "cluster" in mark)
        page.keyboard.press("u")  # undo the last answer, then give it again
        page.wait_for_function("document.querySelectorAll('#grid .tile[data-answer=\"\"]').length === 1")
        last = int(page.get_attribute(".tile.focus", "data-id"))
        page.keyboard.press(pressed[last])

        api = httpx.Client(base_url=server.url, timeout=60)
        task = api.get("/api/concepts").json()[0]
        stored = {it["id"]: it["category"] for it in api.get(f"/api/concepts/{task['id']}/batch").json()["items"]}
        classes = task["classes"]
        want = {i: (int(k) - 1 if k != "0" else classes.index("none of these")) for i, k in pressed.items()}
        assert stored == want

        page.keyboard.press("Enter")  # train and fetch the next batch
        page.wait_for_function("document.getElementById('versions').textContent.includes('version 1')",
                               timeout=120_000)
        assert "by class" in page.text_content("#versions")
        job = api.get(f"/api/concepts/{task['id']}/jobs").json()[0]
        wait_job(api, job["id"], expect_done=True)
        assert page.is_hidden("#deploy") and page.is_hidden("#scores-toggle") and page.is_hidden("#edit-phrases")
        assert "a task of 4 classes" in page.text_content("#phrases")
