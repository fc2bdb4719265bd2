"""Importing precomputed embeddings: LAION release layout and plain Parquet."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agile.errors import CorpusExistsError
from agile_cli.main import main
from indexing.importer import ImportConfig, ImportFormatError, import_embeddings

DIM = 16
ROWS = (300, 0, 250, 123)


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float16)


def write_laion(root, rows=ROWS, seed=0):
    """A small release: img_emb/img_emb_<i>.npy (unnormalised float16) + metadata/metadata_<i>.parquet."""
    (root / "img_emb").mkdir(parents=True)
    (root / "metadata").mkdir()
    start = 0
    for i, n in enumerate(rows):
        np.save(root / "img_emb" / f"img_emb_{i}.npy", _vectors(n, seed + i))
        pq.write_table(pa.table({
            "url": [f"https://example.com/{start + j}.jpg" for j in range(n)],
            "caption": [f"caption {start + j}" for j in range(n)],
            "similarity": np.linspace(0, 1, n),
            "key": [f"{start + j:09d}" for j in range(n)],
        }), root / "metadata" / f"metadata_{i}.parquet")
        start += n
    return root


def test_laion_import_keeps_vectors_uris_metadata_and_order(tmp_path):
    src = write_laion(tmp_path / "laion")
    # 16-d vectors cannot come from ViT-B-32's image tower: recorded under its name, without a text model.
    corpus = import_embeddings(src, tmp_path / "c", ImportConfig(model="ViT-B-32", pretrained="openai",
                                                                 text_model=False, workers=2), progress=False)
    expected = np.concatenate([_vectors(n, i) for i, n in enumerate(ROWS)]).astype(np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert corpus.count == sum(ROWS) and corpus.dim == DIM
    np.testing.assert_allclose(corpus.vectors(np.arange(corpus.count)).astype(np.float32), expected, atol=2e-3)
    assert corpus.uris([0, 299, 300, corpus.count - 1]) == [
        "https://example.com/0.jpg", "https://example.com/299.jpg", "https://example.com/300.jpg",
        f"https://example.com/{corpus.count - 1}.jpg"]
    assert corpus.manifest.metadata_columns == ["caption", "similarity", "key"]
    assert corpus.column("caption")[550].as_py() == "caption 550"
    assert corpus.model.name == "ViT-B-32" and corpus.model.pretrained == "openai"
    assert corpus.model.text_model is False
    corpus.verify()


def test_misaligned_shard_is_a_clear_error(tmp_path):
    src = write_laion(tmp_path / "laion")
    table = pq.read_table(src / "metadata" / "metadata_2.parquet")
    pq.write_table(table.slice(0, 249), src / "metadata" / "metadata_2.parquet")
    with pytest.raises(ImportFormatError, match=r"metadata_2\.parquet: has 249 rows but img_emb_2\.npy has 250"):
        import_embeddings(src, tmp_path / "c", progress=False)
    assert not (tmp_path / "c" / "corpus.json").exists()


@pytest.mark.parametrize("damage, message", [
    (lambda v: v.__setitem__((17, 3), np.nan), r"img_emb_3\.npy: row 17 holds NaN"),
    (lambda v: v.__setitem__(5, 0), r"img_emb_3\.npy: row 5 is the zero vector"),
])
def test_bad_vectors_name_file_and_row(tmp_path, damage, message):
    src = write_laion(tmp_path / "laion")
    vectors = np.load(src / "img_emb" / "img_emb_3.npy")
    damage(vectors)
    np.save(src / "img_emb" / "img_emb_3.npy", vectors)
    with pytest.raises(ImportFormatError, match=message):
        import_embeddings(src, tmp_path / "c", ImportConfig(workers=1), progress=False)


def test_dimension_mismatch_and_missing_metadata(tmp_path):
    src = write_laion(tmp_path / "laion")
    np.save(src / "img_emb" / "img_emb_2.npy", np.ones((250, DIM + 1), np.float16))
    with pytest.raises(ImportFormatError, match=r"img_emb_2\.npy: vectors have dimension 17"):
        import_embeddings(src, tmp_path / "c", progress=False)
    (src / "metadata" / "metadata_2.parquet").unlink()
    with pytest.raises(ImportFormatError, match=r"metadata_2\.parquet: missing"):
        import_embeddings(src, tmp_path / "c", progress=False)


def test_resume_after_a_lost_shard_gives_the_same_corpus(tmp_path):
    src = write_laion(tmp_path / "laion")
    out = tmp_path / "c"
    first = import_embeddings(src, out, ImportConfig(workers=1), progress=False)
    before = (first.uris(np.arange(first.count)), first.vectors(np.arange(first.count)))
    # A kill mid-shard leaves temporaries and no Parquet file for that shard.
    (out / "shards" / "part-00002.parquet").unlink()
    (out / "shards" / ".part-00002.parquet.tmp").write_bytes(b"half")
    again = import_embeddings(src, out, ImportConfig(workers=1), progress=False)
    assert again.uris(np.arange(again.count)) == before[0]
    np.testing.assert_array_equal(again.vectors(np.arange(again.count)), before[1])
    assert not list((out / "shards").glob(".*.tmp"))
    with pytest.raises(CorpusExistsError, match="differs in"):
        import_embeddings(src, out, ImportConfig(uri_column="caption"), progress=False)


def test_parquet_import_with_list_embeddings(tmp_path):
    vectors = np.random.default_rng(3).standard_normal((40, DIM)).astype(np.float32)
    path = tmp_path / "emb.parquet"
    pq.write_table(pa.table({"path": [f"/img/{i}.png" for i in range(40)],
                             "vec": pa.array(list(vectors), pa.list_(pa.float32())),
                             "label": np.arange(40) % 3}), path)
    corpus = import_embeddings(path, tmp_path / "c", ImportConfig(format="parquet", embedding_column="vec",
                                                                  uri_column="path"), progress=False)
    assert corpus.count == 40 and corpus.manifest.metadata_columns == ["label"]
    assert corpus.uri(7) == "/img/7.png"
    np.testing.assert_allclose(corpus.vectors([7]).astype(np.float32)[0],
                               vectors[7] / np.linalg.norm(vectors[7]), atol=2e-3)
    ragged = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"uri": ["a", "b"], "embedding": pa.array([[1.0] * DIM, [1.0] * 3])}), ragged)
    with pytest.raises(ImportFormatError, match="row 1: embedding has 3 values"):
        import_embeddings(ragged, tmp_path / "r", ImportConfig(format="parquet"), progress=False)


def test_cli_import(tmp_path, capsys):
    src = write_laion(tmp_path / "laion", rows=(50, 60))
    assert main(["index", "import", str(src), str(tmp_path / "c"), "--no-progress", "--workers", "1"]) == 0
    assert '"count": 110' in capsys.readouterr().out
    assert main(["index", "import", str(tmp_path / "nowhere"), str(tmp_path / "d")]) == 2
    assert "not found" in capsys.readouterr().err
