"""The owner's answers and concepts without a running server: "can't tell", the batch a rating names,
names, archiving, label files, and the cross-validated estimate."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from agile.crossval import cross_validated_auc_pr, fold_of
from agile.session import Session
from agile.session_store import SKIP, MemoryStore
from agile.training import TrainConfig
from agile.workspace import Workspace
from server.db import Database
from server.errors import Conflict, Invalid, NotFound
from server.exports import COLUMNS, encode, label_records
from server.repository import Rating, Repository


def _repo_with_owner(tmp_path, *names: str) -> Repository:
    repo = Repository(Database(tmp_path / "db.sqlite3"))
    with repo.db.write() as conn:
        for name in names:
            conn.execute("INSERT INTO users (name, role, created_at) VALUES (?, 'owner', 'now')", (name,))
    return repo


def test_a_skipped_image_is_stored_counted_never_a_label_and_never_offered_again(tmp_path):
    repo = _repo_with_owner(tmp_path, "a")
    concept = repo.create_concept("c", ["c"], [], owner_id=1)
    batch = repo.add_batch(concept, 0, "expansion", None, [5, 6, 7])
    repo.rate(concept, 1, [Rating(5, True), Rating(6, None), Rating(7, False)])
    assert repo.labels(concept).ids.tolist() == [5, 7]
    assert repo.skipped_ids(concept).tolist() == [6]
    assert repo.rating_counts(concept) == (2, 1) and repo.skipped_count(concept) == 1
    assert repo.ratings_of(concept, [5, 6, 7]) == {5: True, 6: None, 7: False}
    summary = repo.batches(concept)[0]
    assert (summary.id, summary.size, summary.rated, summary.positive, summary.skipped) == (batch, 3, 3, 1, 1)
    assert [r.label for r in repo.rating_rows(concept)] == ["positive", "skip", "negative"]
    repo.rate(concept, 1, [Rating(6, True)])  # a later answer replaces "can't tell"
    assert repo.skipped_ids(concept).tolist() == [] and repo.labels(concept).ids.tolist() == [5, 6, 7]


def test_the_memory_store_keeps_skips_like_the_server(small_corpus_path, tmp_path):
    store = MemoryStore.create("cluster 3")
    store.add_batch(0, "expansion", None, [1, 2, 3])
    store.rate([1, 2, 3], [True, SKIP, False])
    assert store.labels().ids.tolist() == [1, 3] and store.skipped_ids().tolist() == [2]
    assert store.counts() == (2, 1)
    session = Session(Workspace(small_corpus_path, tmp_path / "ws"), store, seed=1)
    assert session.not_to_offer().tolist() == [1, 2, 3]


def test_a_rating_naming_a_batch_not_shown_is_refused(tmp_path):
    repo = _repo_with_owner(tmp_path, "a")
    first, second = repo.create_concept("one", ["one"], [], 1), repo.create_concept("two", ["two"], [], 1)
    b1 = repo.add_batch(first, 0, "expansion", None, [5, 6])
    b2 = repo.add_batch(second, 0, "expansion", None, [5, 8])
    with pytest.raises(Conflict, match="not a batch of concept"):  # a key pressed on the other concept's grid
        repo.rate(second, 1, [Rating(5, True, batch_id=b1)])
    with pytest.raises(Invalid, match="not in batch"):
        repo.rate(second, 1, [Rating(6, True, batch_id=b2)])
    repo.rate(second, 1, [Rating(5, True, batch_id=b2)])
    b3 = repo.add_batch(second, 1, "margin", 1, [9])
    with pytest.raises(Conflict, match=f"replaced by batch {b3}"):
        repo.rate(second, 1, [Rating(8, True, batch_id=b2)])
    assert repo.labels(first).ids.tolist() == [] and repo.labels(second).ids.tolist() == [5]


def test_names_are_unique_per_owner_and_an_archived_concept_disappears(tmp_path):
    repo = _repo_with_owner(tmp_path, "a", "b")
    concept = repo.create_concept("Stars", ["Stars"], [], 1)
    with pytest.raises(Conflict, match="already have a concept named"):
        repo.create_concept("stars", ["stars"], [], 1)
    repo.create_concept("stars", ["stars"], [], 2)  # another owner may
    other = repo.create_concept("moons", ["moons"], [], 1)
    with pytest.raises(Conflict):
        repo.rename(other, "STARS", ["STARS"], [])
    repo.rename(concept, "bright stars", ["bright stars", "sun"], ["moon"])
    assert repo.concept(concept).positives == ["bright stars", "sun"] and repo.concept(concept).name == "bright stars"
    repo.archive(concept)
    with pytest.raises(NotFound):
        repo.concept(concept)
    assert [c.name for c in repo.concepts()] == ["stars", "moons"]
    repo.create_concept("bright stars", ["bright stars"], [], 1)  # the name is free again
    with repo.db.read() as conn:  # archived, not erased
        assert conn.execute("SELECT archived_at FROM concepts WHERE id = ?", (concept,)).fetchone()[0]


def test_label_files_hold_the_same_rows_in_every_format(tmp_path):
    repo = _repo_with_owner(tmp_path, "ann")
    concept = repo.create_concept("c", ["c"], [], 1)
    repo.add_batch(concept, 0, "expansion", None, [5, 6, 7])
    repo.add_batch(concept, 0, "evaluation", None, [9], purpose="evaluation")
    repo.rate(concept, 1, [Rating(5, True, 1.5), Rating(6, None), Rating(7, False), Rating(9, True)])
    records = label_records(repo.rating_rows(concept), lambda ids: [f"demo://{i}" for i in ids])
    rows_csv = list(csv.DictReader(io.StringIO(encode(records, "csv").decode())))
    rows_jsonl = [json.loads(line) for line in encode(records, "jsonl").decode().splitlines()]
    table = pq.read_table(io.BytesIO(encode(records, "parquet")))
    assert tuple(rows_csv[0]) == COLUMNS and tuple(rows_jsonl[0]) == COLUMNS and tuple(table.column_names) == COLUMNS
    assert [r["label"] for r in rows_jsonl] == ["positive", "skip", "negative", "positive"]
    assert [r["purpose"] for r in rows_jsonl] == ["training"] * 3 + ["evaluation"]
    assert table.column("id").to_pylist() == [5, 6, 7, 9] == [int(r["id"]) for r in rows_csv]
    assert rows_jsonl[0]["uri"] == "demo://5" and rows_jsonl[0]["seconds"] == 1.5 and rows_jsonl[0]["rater"] == "ann"
    assert rows_csv[1]["seconds"] == "" and table.column("seconds").to_pylist()[1] is None


def test_cross_validated_auc_pr_is_out_of_sample(small_corpus_path, tmp_path):
    workspace = Workspace(small_corpus_path, tmp_path / "ws")
    clusters = workspace.corpus.column("cluster").to_numpy()
    rng = np.random.default_rng(0)
    ids = rng.choice(len(clusters), 120, replace=False)
    truth = (clusters[ids] == clusters[ids[0]]) | (rng.random(120) < 0.2)
    labels = truth.astype(np.float32)
    sizes = np.bincount(fold_of(truth, 3, 0))
    assert sizes.sum() == 120 and sizes.max() - sizes.min() <= 2  # each class dealt round-robin
    config = TrainConfig.for_round(0, seed=0, random_negatives=500)
    cv = cross_validated_auc_pr(workspace, ids, labels, config)
    in_sample = workspace.train(ids, labels, config)
    from agile.evaluation import compute_metrics
    fit = compute_metrics(truth, workspace.score_ids(in_sample, ids), 0.5).auc_pr
    assert cv.folds == 3 and cv.n == 120 and cv.low <= cv.auc_pr <= cv.high
    assert cv.auc_pr < fit  # random labels cannot be predicted out of sample, only memorised
    assert cross_validated_auc_pr(workspace, ids[:4], np.array([1, 0, 0, 0], np.float32), config) is None


def test_skipped_evaluation_images_are_not_called_unrated():
    from agile.session import _evaluation_status

    message, ready = _evaluation_status(20, 18, 5, skipped=2)
    assert ready and "2 answered can't tell" in message and "unrated" not in message
    assert "1 still unrated" in _evaluation_status(20, 17, 5, skipped=2)[0]
