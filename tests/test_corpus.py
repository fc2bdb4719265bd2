"""The corpus format: writing, reading, and clear errors for every kind of damage."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agile.corpus import Corpus, UnknownIdError
from agile.corpus.writer import embedding_array
from agile.errors import CorpusError


def test_open_gives_count_dim_model_and_dense_ids(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    assert (corpus.count, corpus.dim, corpus.model.name) == (5000, 64, "synthetic")
    assert [s.count for s in corpus.shards] == [2000, 2000, 1000]
    ids = pa.chunked_array([pq.read_table(s.parquet_path(corpus.root), columns=["id"]).column(0)
                            for s in corpus.shards]).to_numpy()
    np.testing.assert_array_equal(ids, np.arange(5000))


def test_vectors_by_id_match_the_parquet_copy(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    ids = np.array([4999, 0, 2000, 1999, 3500])
    table = pa.concat_tables(pq.read_table(s.parquet_path(corpus.root)) for s in corpus.shards)
    from_parquet = table.column("embedding").combine_chunks().values.to_numpy().reshape(-1, 64)
    np.testing.assert_array_equal(corpus.vectors(ids), from_parquet[ids])
    assert corpus.uris(ids) == [table.column("uri")[int(i)].as_py() for i in ids]
    norms = np.linalg.norm(corpus.vectors(np.arange(5000)).astype(np.float32), axis=1)
    assert np.abs(norms - 1).max() < 1e-2


def test_iter_chunks_covers_every_vector_once_in_order(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    starts, total = [], 0
    for first, block in corpus.iter_chunks(rows=700):
        assert first == total
        starts.append(first)
        total += len(block)
        assert block.dtype == np.float16 and block.shape[1] == 64
    assert total == 5000
    stacked = np.concatenate([b for _, b in corpus.iter_chunks(rows=700)])
    np.testing.assert_array_equal(stacked, corpus.vectors(np.arange(5000)))


def test_metadata_column_and_unknown_ids(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    clusters = corpus.column("cluster").to_numpy()
    assert clusters.shape == (5000,) and set(np.unique(clusters)) <= set(range(20))
    assert len(np.unique(clusters)) > 10
    with pytest.raises(UnknownIdError, match="id 5000 is not in this corpus"):
        corpus.vectors([1, 5000])


def _rewrite_shard(path, mutate):
    table = pq.read_table(path)
    pq.write_table(mutate(table), path)


def test_missing_shard_is_named(corpus_copy):
    (corpus_copy / "shards" / "part-00001.parquet").unlink()
    with pytest.raises(CorpusError, match=r"part-00001\.parquet: shard part-00001 listed in corpus.json is missing"):
        Corpus.open(corpus_copy)


def test_manifest_with_broken_json_names_file_and_line(corpus_copy):
    manifest = corpus_copy / "corpus.json"
    manifest.write_text(manifest.read_text().replace('"dim": 64,', '"dim": 64'))
    with pytest.raises(CorpusError, match=r"corpus\.json: invalid JSON at line \d+"):
        Corpus.open(corpus_copy)


def test_manifest_with_bad_fields_names_the_field(corpus_copy):
    manifest = corpus_copy / "corpus.json"
    raw = json.loads(manifest.read_text())
    raw["count"] = 4999
    manifest.write_text(json.dumps(raw))
    with pytest.raises(CorpusError, match=r"corpus\.json: invalid manifest: .*shards hold 5000 vectors but count is 4999"):
        Corpus.open(corpus_copy)
    raw["count"], raw["format_version"] = 5000, 99
    manifest.write_text(json.dumps(raw))
    with pytest.raises(CorpusError, match=r"corpus\.json: invalid manifest: format_version"):
        Corpus.open(corpus_copy)


def test_wrong_dimension_in_a_shard_is_named(corpus_copy):
    path = corpus_copy / "shards" / "part-00002.parquet"

    def shrink(table):
        emb = table.column("embedding").combine_chunks().values.to_numpy().reshape(-1, 64)[:, :32]
        return table.set_column(2, "embedding", embedding_array(emb))

    _rewrite_shard(path, shrink)
    with pytest.raises(CorpusError, match=r"part-00002\.parquet: column 'embedding' has type .*\[32\].*wrong dimension"):
        Corpus.open(corpus_copy)


@pytest.mark.parametrize("damage,message", [
    (lambda ids: np.where(ids == 2005, 2004, ids), "duplicate id 2004"),
    (lambda ids: np.where(ids == 2005, 9999, ids), "missing id 2005"),
])
def test_duplicate_or_missing_id_is_named(corpus_copy, damage, message):
    path = corpus_copy / "shards" / "part-00001.parquet"
    _rewrite_shard(path, lambda t: t.set_column(0, "id", pa.array(damage(t.column("id").to_numpy()))))
    with pytest.raises(CorpusError, match=rf"part-00001\.parquet: {message}"):
        Corpus.open(corpus_copy)


def test_nan_vector_in_parquet_is_named(corpus_copy):
    path = corpus_copy / "shards" / "part-00000.parquet"

    def poison(table):
        emb = table.column("embedding").combine_chunks().values.to_numpy().reshape(-1, 64).copy()
        emb[123, 5] = np.nan
        return table.set_column(2, "embedding", embedding_array(emb))

    _rewrite_shard(path, poison)
    with pytest.raises(CorpusError, match=r"part-00000\.parquet: vector of id 123 holds NaN"):
        Corpus.open(corpus_copy)


def test_unnormalised_vector_in_raw_copy_is_named(corpus_copy):
    path = corpus_copy / "vectors" / "part-00002.f16"
    raw = np.memmap(path, dtype=np.float16, mode="r+", shape=(1000, 64))
    raw[10] *= 3
    raw.flush()
    del raw
    with pytest.raises(CorpusError, match=r"part-00002\.f16: vector of id 4010 has norm 3\.0"):
        Corpus.open(corpus_copy)


def test_quick_check_reads_its_sample_and_names_the_bad_id(corpus_copy):
    path = corpus_copy / "vectors" / "part-00002.f16"
    raw = np.memmap(path, dtype=np.float16, mode="r+", shape=(1000, 64))
    raw[999] *= 3  # a shard's last row is always in the sample
    raw.flush()
    del raw
    with pytest.raises(CorpusError, match=r"part-00002\.f16: vector of id 4999 has norm 3\.0"):
        Corpus.open(corpus_copy, verify="quick")


def test_read_rows_matches_the_memory_mapped_vectors(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    ids = np.array([0, 1, 1999, 2000, 2001, 4999])
    np.testing.assert_array_equal(corpus.read_rows(ids), corpus.vectors(ids))


def test_raw_copy_that_disagrees_with_parquet_is_named(corpus_copy):
    path = corpus_copy / "vectors" / "part-00001.f16"
    raw = np.memmap(path, dtype=np.float16, mode="r+", shape=(2000, 64))
    raw[[7, 8]] = raw[[8, 7]]
    raw.flush()
    del raw
    with pytest.raises(CorpusError, match=r"part-00001\.f16: vector of id 2007 differs from part-00001\.parquet"):
        Corpus.open(corpus_copy)


def test_truncated_vector_file_is_named_even_in_quick_mode(corpus_copy):
    path = corpus_copy / "vectors" / "part-00000.f16"
    with open(path, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(CorpusError, match=r"part-00000\.f16: holds 1000 bytes"):
        Corpus.open(corpus_copy, verify="quick")


def test_not_a_corpus(tmp_path):
    with pytest.raises(CorpusError, match="no corpus.json"):
        Corpus.open(tmp_path)
