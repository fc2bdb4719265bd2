"""Server pieces without a running server: images by uri, ETags, the version watch, the repository."""
from __future__ import annotations

import asyncio
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from agile.demo import demo_uri, render_uri
from server import accounts as accounts_module
from server.accounts import Accounts
from server.db import Database
from server.errors import Invalid, NotFound
from server.etags import matches, version_etag
from server.images import image_response
from server.repository import Rating, Repository
from server.watch import JobWatch, VersionWatch


def test_demo_uris_render_the_embedded_scene():
    uri = demo_uri(3, 17)
    response = image_response(17, uri)
    assert response.media_type == "image/png"
    got = np.asarray(Image.open(io.BytesIO(response.body)).convert("RGB"))
    np.testing.assert_array_equal(got, np.asarray(render_uri(uri)))


def test_other_uris(tmp_path):
    assert b"#5" in image_response(5, "synth://0/5").body
    assert image_response(1, "https://example.org/a.jpg").headers["location"] == "https://example.org/a.jpg"
    picture = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(picture)
    assert image_response(2, str(picture)).path == picture
    assert image_response(2, picture.as_uri()).path == picture
    for missing in (str(tmp_path / "gone.png"), str(tmp_path / "notes.txt"), "s3://bucket/a.png"):
        with pytest.raises(NotFound):
            image_response(3, missing)


def test_etag_matching():
    tag = version_etag(4, 2)
    assert matches(tag, tag) and matches(f'"x", W/{tag}', tag) and matches("*", tag)
    assert not matches(None, tag) and not matches(version_etag(4, 1), tag)


def test_version_watch_wakes_waiters_from_another_thread():
    async def scenario():
        watch = VersionWatch({1: 1})
        watch.bind(asyncio.get_running_loop())
        assert await watch.wait_past(1, known=1, timeout=0.05) == 1  # times out unchanged
        waiter = asyncio.create_task(watch.wait_past(1, known=1, timeout=10))
        await asyncio.sleep(0.01)
        await asyncio.to_thread(watch.publish, 1, 2)
        return await asyncio.wait_for(waiter, 1)

    assert asyncio.run(scenario()) == 2


def test_job_watch_wakes_every_poll_of_a_job_and_keeps_nothing_once_they_end():
    async def scenario():
        watch = JobWatch()
        watch.bind(asyncio.get_running_loop())

        async def poll(job_id: int, timeout: float) -> bool:
            with watch.watching(job_id) as changed:
                await watch.wait(changed, timeout)
                return changed.is_set()

        polls = [asyncio.create_task(poll(7, 10)) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert len(watch) == 1
        await asyncio.to_thread(watch.changed, 7)
        woken = await asyncio.wait_for(asyncio.gather(*polls), 1)
        unchanged = await poll(8, 0.01)  # a finished job's poll times out
        with pytest.raises(KeyError):
            with watch.watching(9):
                raise KeyError("the job is unknown")  # a 404 inside the poll
        return woken, unchanged, len(watch), len(watch._events)

    assert asyncio.run(scenario()) == ([True, True], False, 0, 0)


def test_ratings_are_all_or_nothing(tmp_path):
    repo = Repository(Database(tmp_path / "db.sqlite3"))
    with repo.db.write() as conn:
        conn.execute("INSERT INTO users (name, role, created_at) VALUES ('a', 'owner', 'now')")
    concept = repo.create_concept("c", ["c"], [], owner_id=1)
    repo.add_batch(concept, 0, "expansion", None, [5, 6, 7])
    with pytest.raises(Invalid, match="not in any batch"):
        repo.rate(concept, 1, [Rating(5, True), Rating(99, False)])
    assert repo.rating_counts(concept) == (0, 0)
    repo.rate(concept, 1, [Rating(5, True), Rating(6, False, 2.5)])
    repo.rate(concept, 1, [Rating(6, True)])  # a change keeps the recorded time
    labels = repo.labels(concept)
    assert labels.ids.tolist() == [5, 6] and labels.labels.tolist() == [1.0, 1.0]
    with repo.db.read() as conn:
        assert conn.execute("SELECT seconds FROM ratings WHERE corpus_id = 6").fetchone()[0] == 2.5
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_revoke_and_reissue_tokens(tmp_path):
    accounts = Accounts(Database(tmp_path / "db.sqlite3"))
    ann, first = accounts.add_user("ann", "owner")
    _, second = accounts.issue_token("ann")
    accounts.add_user("vic", "viewer")
    concept = Repository(accounts.db).create_concept("c", ["c"], [], owner_id=ann.id)
    assert accounts.user_for_token(first) == accounts.user_for_token(second) == ann
    assert [(u.name, u.role, u.active_tokens) for u in accounts.list_users()] == [("ann", "owner", 2), ("vic", "viewer", 1)]

    assert accounts.revoke("ann") == 2
    assert accounts.known_user(first) is None and accounts.user_for_token(first) is None
    assert accounts.user_for_token(second) is None
    assert [u.active_tokens for u in accounts.list_users()] == [0, 1]
    assert Repository(accounts.db).concept(concept).owner == "ann"  # revoking keeps what the user made

    _, third = accounts.issue_token("ann")
    assert accounts.user_for_token(third) == ann and accounts.user_for_token(first) is None


def test_unknown_user_changes_nothing(tmp_path):
    accounts = Accounts(Database(tmp_path / "db.sqlite3"))
    _, token = accounts.add_user("ann", "owner")
    for action in (accounts.revoke, accounts.issue_token):
        with pytest.raises(NotFound, match="no user named 'bob'"):
            action("bob")
    assert [(u.name, u.active_tokens) for u in accounts.list_users()] == [("ann", 1)]
    assert accounts.user_for_token(token) is not None


def test_a_server_refuses_a_token_revoked_elsewhere_within_the_recheck_bound(tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(accounts_module.time, "monotonic", lambda: clock[0])
    server = Accounts(Database(tmp_path / "db.sqlite3"))
    _, token = server.add_user("ann", "owner")
    assert server.user_for_token(token) is not None and server.known_user(token) is not None
    Accounts(Database(tmp_path / "db.sqlite3")).revoke("ann")  # as `agile users revoke` does
    clock[0] += accounts_module.TOKEN_RECHECK_SECONDS + 0.01
    assert server.known_user(token) is None and server.user_for_token(token) is None


def test_dev_mode_only_on_loopback(tmp_path):
    from pydantic import ValidationError

    from server.settings import ServerSettings

    assert ServerSettings(corpus=tmp_path, dev=True, host="127.0.0.1").dev
    assert ServerSettings(corpus=tmp_path, dev=True, host="::1").dev
    with pytest.raises(ValidationError, match="only allowed on loopback"):
        ServerSettings(corpus=tmp_path, dev=True, host="0.0.0.0")


def test_scan_store_is_built_and_warmed_at_start(corpus_copy, tmp_path):
    from agile.scoring import resolve_kernel
    from server.loop import Loop

    if resolve_kernel("auto") == "exact":
        pytest.skip("this torch build has no int8 kernels, so rounds use no scan store")
    shutil.rmtree(corpus_copy / "scan", ignore_errors=True)  # other tests may have built one in the shared corpus
    loop = Loop(corpus_copy, tmp_path / "data")
    note = loop.prepare_scan_store()
    assert "ready and warm" in note
    assert (corpus_copy / "scan" / "scan.json").is_file()
    assert loop.workspace.scan_store.nbytes == 5000 * 64


def _owner_and_concept(repo: Repository) -> int:
    with repo.db.write() as conn:
        conn.execute("INSERT INTO users (name, role, created_at) VALUES ('a', 'owner', 'now')")
    return repo.create_concept("c", ["c"], [], owner_id=1)


def test_a_database_of_an_earlier_server_is_migrated(tmp_path):
    """A file written before evaluation batches existed opens with its ratings as training data."""
    import sqlite3

    from server.accounts import hash_token
    from server.db import SCHEMA, SCHEMA_VERSION

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:  # the schema as the first server wrote it (user_version 0)
        conn.executescript(SCHEMA)
        conn.execute("INSERT INTO users (name, role, created_at) VALUES ('a', 'owner', 'now')")
        conn.execute("INSERT INTO tokens (hash, user_id, created_at) VALUES (?, 1, 'now')", (hash_token("agt_old"),))
        conn.execute("INSERT INTO concepts (name, owner_id, created_at, updated_at) VALUES ('c', 1, 'now', 'now')")
        conn.execute("INSERT INTO batches (concept_id, round, source, created_at) VALUES (1, 0, 'expansion', 'now')")
        conn.executemany("INSERT INTO batch_items VALUES (1, ?, ?)", [(0, 5), (1, 6)])
        conn.execute("INSERT INTO ratings (concept_id, corpus_id, positive, batch_id, round, source, rated_by, "
                     "rated_at) VALUES (1, 5, 1, 1, 0, 'expansion', 1, 'now')")
    repo = Repository(Database(path))
    Repository(Database(path))  # opening again applies nothing twice
    with repo.db.read() as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert repo.labels(1).ids.tolist() == [5]
    assert repo.current_batch(1).purpose == "training" and repo.batch_ids(1, "training").tolist() == [5, 6]
    assert repo.next_round(1) == 1
    assert Accounts(repo.db).user_for_token("agt_old").name == "a"  # tokens issued before revocation existed


def test_evaluation_ratings_are_kept_apart_from_training(tmp_path):
    repo = Repository(Database(tmp_path / "db.sqlite3"))
    concept = _owner_and_concept(repo)
    repo.add_batch(concept, 0, "expansion", None, [5, 6, 7])
    repo.add_batch(concept, 0, "evaluation", None, [8, 9], purpose="evaluation")
    repo.rate(concept, 1, [Rating(5, True), Rating(8, True), Rating(9, False)])
    assert repo.labels(concept).ids.tolist() == [5]
    assert repo.labels(concept, "evaluation").ids.tolist() == [8, 9]
    assert repo.rating_counts(concept) == (1, 1) and repo.rating_counts(concept, "evaluation") == (2, 1)
    assert repo.current_batch(concept).purpose == "evaluation"
    assert repo.current_batch(concept, "training").ids == [5, 6, 7]
    assert repo.next_round(concept) == 1  # an evaluation batch starts no round
    with pytest.raises(Exception):  # the purpose column refuses anything else
        repo.add_batch(concept, 0, "x", None, [1], purpose="testing")
    assert repo.batch_ids(concept, "evaluation").tolist() == [8, 9]


def test_streamed_stratified_sets_equal_the_merged_set(small_corpus_path, tmp_path):
    """Block-by-block selection gives agile.evaluation.stratified's set over whole score arrays."""
    from agile.evaluation.stratified import StrataSpec, merged_stratified_ids
    from agile.scoring import score_corpus
    from agile.training import TrainConfig
    from agile.workspace import Workspace
    from agile.zeroshot import concept_text_embedding, zero_shot_scores

    loop = Workspace(small_corpus_path, tmp_path / "data")
    clusters = loop.corpus.column("cluster").to_numpy()
    rng = np.random.default_rng(1)
    train_ids = np.sort(rng.choice(loop.corpus.count, 300, replace=False))
    model = loop.train(train_ids, (clusters[train_ids] == 3).astype(np.float32),
                       TrainConfig.for_round(0, seed=0, random_negatives=500))
    eligible = np.ones(loop.corpus.count, dtype=bool)
    eligible[train_ids] = False
    spec = StrataSpec(per_stratum=7)
    got = np.union1d(loop.stratified_by_model(model, eligible, spec),
                     loop.stratified_by_zero_shot(["cluster 3"], eligible, spec))
    ids = np.flatnonzero(eligible)
    cosines = zero_shot_scores(loop.corpus, concept_text_embedding(loop.embedder, ["cluster 3"]))
    want = merged_stratified_ids([score_corpus(loop.corpus, model)[ids], cosines[ids]], loop.uri_hashes()[ids],
                                 ids, spec)
    np.testing.assert_array_equal(got, want)
    assert not np.isin(got, train_ids).any() and len(got) <= 2 * 10 * 7
