"""The FAISS index: build, measured recall, exact re-ranking, open_index, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from agile.corpus import Corpus
from agile.index import FaissIndex, IndexFormatError, SearchError, open_index, read_index_info
from agile.search import ExactIndex, exact_search
from agile_cli.main import main
from indexing.build import BuildConfig, IndexBuildError, build_index, default_key

GRID = dict(nprobe_grid=(1, 4, 16), rerank_grid=(100, 400))


@pytest.fixture(scope="module")
def indexed_corpus(tmp_path_factory, small_corpus_path):
    import shutil

    root = tmp_path_factory.mktemp("indexed") / "c"
    shutil.copytree(small_corpus_path, root)
    info = build_index(root, BuildConfig(queries=50, train_rows=3000, **GRID), progress=False)
    return root, info


def _queries(corpus: Corpus, n: int, seed: int) -> np.ndarray:
    # Noisy corpus vectors: near the data, but not corpus members.
    rng = np.random.default_rng(seed)
    base = corpus.vectors(rng.integers(0, corpus.count, n)).astype(np.float32)
    return base + 0.3 * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(corpus.dim)


def test_default_key_grows_with_the_corpus():
    assert default_key(5000, 64) == "IVF64,PQ32x4fs"
    assert default_key(10_000_000, 512) == "IVF2048,PQ256x4fs"


def test_build_writes_index_sidecar_and_manifest_summary(indexed_corpus):
    root, info = indexed_corpus
    assert (root / "index" / "index.faiss").stat().st_size == info.index_bytes
    assert read_index_info(root) == info
    corpus = Corpus.open(root)
    assert corpus.manifest.index["key"] == info.key
    assert corpus.manifest.index["recall_at_100"] == info.recall_at_100
    assert info.bytes_per_vector == pytest.approx(info.index_bytes / corpus.count, abs=0.01)
    assert {"train", "add", "exact_search", "curve"} <= set(info.phase_seconds)


def test_recall_curve_is_measured_and_the_choice_meets_the_target(indexed_corpus):
    _, info = indexed_corpus
    assert len(info.curve) == 3 * 2
    recalls = {(p.nprobe, p.rerank): p.recall_at_100 for p in info.curve}
    # Deeper re-ranking can only find more of the true neighbours.
    for nprobe in (1, 4, 16):
        assert recalls[(nprobe, 400)] >= recalls[(nprobe, 100)]
    assert len(set(recalls.values())) > 1, "recall must be measured, not a constant"
    assert info.recall_at_100 == recalls[(info.nprobe, info.rerank)]
    assert info.recall_at_100 >= info.recall_target


def test_search_returns_true_cosines_and_agrees_with_exact_search(indexed_corpus):
    root, info = indexed_corpus
    corpus = Corpus.open(root)
    index = open_index(corpus)
    assert isinstance(index, FaissIndex)
    queries = _queries(corpus, 20, seed=3)
    scores, ids = index.search(queries, 100)
    assert scores.shape == ids.shape == (20, 100) and scores.dtype == np.float32 and ids.dtype == np.int64
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    true = np.einsum("qd,qkd->qk", q, corpus.vectors(ids.reshape(-1)).astype(np.float32).reshape(20, 100, -1))
    np.testing.assert_allclose(scores, true, rtol=0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 0).all()
    exact_scores, exact_ids = exact_search(corpus, queries, 100)
    recall = np.mean([np.intersect1d(a, b).size / 100 for a, b in zip(ids, exact_ids)])
    assert recall >= info.recall_target - 0.05
    # Where both found the same top neighbour, they report the same cosine.
    same = ids[:, 0] == exact_ids[:, 0]
    np.testing.assert_allclose(scores[same, 0], exact_scores[same, 0], atol=1e-5)


def test_shallow_search_is_worse_than_the_chosen_setting(indexed_corpus):
    root, info = indexed_corpus
    corpus = Corpus.open(root)
    index = FaissIndex.open(corpus)
    queries = _queries(corpus, 30, seed=4)
    _, exact_ids = exact_search(corpus, queries, 100)
    recall = {}
    for setting in [(1, 100), (info.nprobe, info.rerank)]:
        _, ids = index.search(queries, 100, nprobe=setting[0], rerank=setting[1])
        recall[setting] = np.mean([np.intersect1d(a, b).size / 100 for a, b in zip(ids, exact_ids)])
    assert recall[(1, 100)] < recall[(info.nprobe, info.rerank)]


def test_small_k_and_bad_queries(indexed_corpus):
    root, _ = indexed_corpus
    index = FaissIndex.open(Corpus.open(root))
    scores, ids = index.search(np.ones((1, 64), np.float32), 5)
    assert ids.shape == (1, 5) and len(set(ids[0])) == 5
    with pytest.raises(SearchError, match="dimension"):
        index.search(np.ones((1, 32), np.float32), 5)
    with pytest.raises(SearchError, match="k must be"):
        index.search(np.ones((1, 64), np.float32), 0)


def test_open_index_without_an_index_is_exact(corpus_copy):
    assert isinstance(open_index(Corpus.open(corpus_copy)), ExactIndex)


def test_stale_or_damaged_index_is_a_clear_error(indexed_corpus, tmp_path, small_corpus_path):
    import shutil

    root, _ = indexed_corpus
    other = tmp_path / "other"
    shutil.copytree(small_corpus_path, other)
    # An index of a 5,000-vector corpus beside a corpus that lost a shard's worth of vectors.
    from agile.synth import SynthSpec, synth_corpus

    smaller = tmp_path / "smaller"
    synth_corpus(smaller, SynthSpec(n=3000, dim=64, clusters=20, seed=7, shard_size=2000), workers=1, progress=False)
    shutil.copytree(root / "index", smaller / "index")
    with pytest.raises(IndexFormatError, match="rebuild"):
        open_index(Corpus.open(smaller))
    (smaller / "index" / "index.json").write_text("{}")
    with pytest.raises(IndexFormatError, match="index.json"):
        open_index(Corpus.open(smaller))


def test_bad_key_is_rejected(corpus_copy):
    with pytest.raises(IndexBuildError, match="invalid index key"):
        build_index(corpus_copy, BuildConfig(key="IVF64,Nonsense"), progress=False)
    with pytest.raises(IndexBuildError, match="not an IVF index"):
        build_index(corpus_copy, BuildConfig(key="HNSW32"), progress=False)


def test_cli_build_and_bench(corpus_copy, capsys):
    assert main(["index", "build", str(corpus_copy), "--key", "IVF16,PQ16x4fs", "--nprobe", "16",
                 "--rerank", "200", "--queries", "20", "--no-progress"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["key"] == "IVF16,PQ16x4fs" and info["nprobe"] == 16 and info["rerank"] == 200
    assert 0 < info["recall_at_100"] <= 1 and len(info["curve"]) == 1
    assert main(["index", "bench", str(corpus_copy), "--queries", "5", "--repeats", "2"]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["faiss_ms"]["median"] > 0 and bench["exact_ms"]["median"] > 0
    assert 0 < bench["recall_at_k"] <= 1
    centers = corpus_copy / "synth" / "centers.npy"
    assert main(["index", "bench", str(corpus_copy), "--queries", "5", "--repeats", "1",
                 "--query-file", str(centers)]) == 0
    bench = json.loads(capsys.readouterr().out)
    assert bench["queries"] == 5 and bench["query_file"] == str(centers)


def _trained(corpus: Corpus, key: str):
    from indexing.build import _empty_index

    index, _ = _empty_index(key, corpus.dim)
    index.train(corpus.vectors(np.arange(0, corpus.count, 2)).astype(np.float32))
    return index


def test_assignment_pass_gives_the_exact_reference_and_the_nearest_lists(small_corpus_path):
    from indexing.build import _assign_all, read_blocks

    corpus = Corpus.open(small_corpus_path)
    first_ids = [first for first, _ in read_blocks(corpus, rows=700)]
    assert first_ids[0] == 0 and len(first_ids) == sum(-(-s.count // 700) for s in corpus.shards)
    index = _trained(corpus, "IVF16,PQ32x4")
    queries = corpus.vectors([3, 2500, 4999]).astype(np.float32)
    lists, truth, _ = _assign_all(index, corpus, queries, 50, progress=False)
    np.testing.assert_array_equal(truth, exact_search(corpus, queries, 50)[1])
    nearest = index.quantizer.assign(corpus.vectors(np.arange(corpus.count)).astype(np.float32), 1)[:, 0]
    assert np.mean(lists == nearest) > 0.97  # bfloat16 products may flip near-ties (1% here)


def _contents(invlists, nlist: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from faiss.contrib.inspect_tools import get_invlist

    return [tuple(np.array(a) for a in get_invlist(invlists, i)) for i in range(nlist)]


def test_lists_sized_before_adding_hold_what_growing_lists_hold(small_corpus_path):
    import faiss

    from indexing.build import _add_all, _assign_all, _to_fast_scan, read_blocks

    corpus = Corpus.open(small_corpus_path)
    trained = _trained(corpus, "IVF16,PQ32x4")
    lists, _, _ = _assign_all(trained, corpus, np.zeros((1, corpus.dim), np.float32), 1, progress=False)
    grown, reserved = faiss.clone_index(trained), faiss.clone_index(trained)
    for first, x in read_blocks(corpus, rows=700):  # the previous path: lists grow block by block
        block_lists = lists[first: first + len(x)].astype(np.int64)
        ids = np.arange(first, first + len(x), dtype=np.int64)
        grown.add_core(len(x), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(block_lists))
    _add_all(reserved, corpus, lists, progress=False)
    for (ids_a, codes_a), (ids_b, codes_b) in zip(_contents(grown.invlists, 16), _contents(reserved.invlists, 16)):
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(codes_a, codes_b)

    fast = _to_fast_scan(reserved)
    assert reserved.invlists.compute_ntotal() == 0  # the plain codes are freed
    expected = faiss.IndexIVFPQFastScan(grown)
    queries = _queries(corpus, 20, seed=3)
    params = faiss.SearchParametersIVF(nprobe=4)
    np.testing.assert_array_equal(fast.search(queries, 50, params=params)[1],
                                  expected.search(queries, 50, params=params)[1])
