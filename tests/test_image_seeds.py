"""Image seeds, all-positive first batches and candidate filters, through the one labelling session."""
from __future__ import annotations

import numpy as np
import pytest

from agile.candidates import CandidateError, CandidateFilter
from agile.expansion import nearest_among
from agile.search import ExactIndex
from agile.session import Session, SessionSettings
from agile.session_store import MemoryStore
from agile.training import OneClassError, TrainConfig, train

SETTINGS = SessionSettings(batch_size=40, random_negatives=500)


def nearest(workspace, vectors: np.ndarray, k: int) -> set[int]:
    _, ids = ExactIndex(workspace.corpus).search(vectors.astype(np.float32), k)
    return set(ids.reshape(-1).tolist())


def test_image_seeds_add_their_neighbours_to_the_phrases(workspace, clusters):
    # The name names one cluster; the seeds are images of another: the batch holds both neighbourhoods.
    named, seeded = 0, 5
    seeds = np.flatnonzero(clusters == seeded)[:2]
    store = MemoryStore.create(f"cluster {named}", seed_ids=seeds)
    batch = Session(workspace, store, seed=1, settings=SETTINGS).expand()
    text = workspace.embed_texts([f"cluster {named}"])
    near_text = nearest(workspace, text, 100)
    near_seeds = nearest(workspace, workspace.corpus.vectors(seeds), 100)
    assert set(batch.ids.tolist()) <= near_text | near_seeds
    # The seeds were searched with: about half the batch is near them and not near the name.
    assert len(set(batch.ids.tolist()) & (near_seeds - near_text)) >= 10


def test_an_all_positive_first_batch_trains_on_random_negatives_and_the_next_batch_says_so(workspace, clusters):
    target = int(np.bincount(clusters).argmax())
    seeds = np.flatnonzero(clusters == target)[:5]
    store = MemoryStore.create("seeded only", seed_ids=seeds)
    store.concept_.positives.clear()  # a concept searched by its seeds alone (its name is no phrase here)
    # Enough steps for a 40-image set to be learnt (the paper's 10 epochs at 1e-4 are ~20 steps here).
    session = Session(workspace, store, seed=2, settings=SessionSettings(batch_size=40, random_negatives=500,
                                                                         epochs=40, lr=1e-3))
    first = session.expand()
    store.rate(first.ids, [True] * len(first.ids))  # the owner finds every image positive
    trained, second = session.round()
    assert trained.model.stats.negatives == 0 and trained.model.stats.random_negatives == 500
    scores = workspace.score_ids(trained.model, np.arange(workspace.corpus.count))
    # The random negatives taught it something: the target cluster scores above the rest.
    assert scores[clusters == target].mean() > scores[clusters != target].mean() + 0.05
    assert len(second.ids) == 40 and not set(second.ids.tolist()) & set(first.ids.tolist())
    assert "no rated negatives" in second.note and "random unrated images stood in" in second.note
    # Without random negatives there is nothing to stand in: still refused, with what to rate.
    with pytest.raises(OneClassError, match="no negative ratings"):
        train(workspace.corpus, first.ids, np.ones(len(first.ids)), TrainConfig.for_round(0, random_negatives=0))


def test_a_candidate_filter_limits_expansion_and_active_learning(workspace, clusters):
    target = int(np.bincount(clusters).argmax())
    allowed = [target, (target + 1) % 20, (target + 2) % 20]
    candidates = CandidateFilter(column="cluster", op="in", value=allowed)
    store = MemoryStore.create(f"cluster {target}", negatives=[f"cluster {(target + 7) % 20}"],
                               candidates=candidates)
    session = Session(workspace, store, seed=4, settings=SETTINGS)
    first = session.expand()
    assert set(clusters[first.ids].tolist()) <= set(allowed)  # the negative phrase's cluster is outside
    store.rate(first.ids, (clusters[first.ids] == target).tolist())
    _, second = session.round()
    assert len(second.ids) == 40 and set(clusters[second.ids].tolist()) <= set(allowed)
    evaluation = session.evaluation_set()  # measured where the concept is to be used
    assert len(evaluation.batch.ids) and set(clusters[evaluation.batch.ids].tolist()) <= set(allowed)
    # An id set works the same way, and the coverage batch stays inside too.
    ids = np.flatnonzero(clusters == (target + 3) % 20)[:60]
    store.candidates = CandidateFilter(ids=ids.tolist())
    cover = session.coverage_batch()
    assert set(cover.ids.tolist()) <= set(ids.tolist()) and len(cover.ids) == 40


def test_nearest_among_is_exact_search_restricted_to_the_allowed_ids(workspace):
    rng = np.random.default_rng(0)
    allowed = np.sort(rng.choice(workspace.corpus.count, 900, replace=False))
    queries = workspace.corpus.vectors([1, 2]).astype(np.float32)
    got = nearest_among(workspace.corpus, queries, allowed, 25, rows=128)  # several blocks
    scores = queries @ workspace.corpus.vectors(allowed).astype(np.float32).T
    expected = set(allowed[np.argsort(-scores, axis=1)[:, :25]].reshape(-1).tolist())
    assert set(got.tolist()) == expected


@pytest.mark.parametrize("spec, message", [
    (dict(column="no_such_column", value=1), "no such metadata column"),
    (dict(column="cluster", op="==", value=999), "matches no image"),
    (dict(ids=[10**9]), "not in the corpus"),
])
def test_bad_candidate_filters_are_refused_clearly(workspace, spec, message):
    with pytest.raises(CandidateError, match=message):
        CandidateFilter(**spec).mask(workspace.corpus)
    with pytest.raises(ValueError):
        CandidateFilter(column="cluster", op="in", value=3)  # 'in' takes a list
