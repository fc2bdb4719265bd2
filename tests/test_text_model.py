"""Which corpora can embed phrases: no open_clip model without weights, and corpora without a text model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agile.corpus import Corpus, ModelInfo
from agile.embedder import (ImageVectorsOnly, NoTextModelError, NoWeightsError, check_weights,
                            embedder_for_corpus, has_text_model)
from agile.session import ZERO_SHOT, Session, SessionSettings
from agile.session_store import MemoryStore
from agile.workspace import Workspace
from indexing.importer import ImportConfig, import_embeddings
from server.process import ROOT


def write_parquet(corpus: Corpus, path) -> None:
    """The corpus's vectors, uris and clusters as a Parquet a user would import (float32 lists)."""
    ids = np.arange(corpus.count)
    vectors = corpus.vectors(ids).astype(np.float32)
    table = pa.table({"uri": corpus.uris(ids), "cluster": corpus.column("cluster"),
                      "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), corpus.dim)})
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def parquet_64(small_corpus_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("emb") / "emb.parquet"
    write_parquet(Corpus.open(small_corpus_path), path)
    return path


def agile(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agile_cli.main", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def test_an_unknown_model_name_imports_without_a_text_model_and_says_so(parquet_64, tmp_path):
    out = agile("index", "import", str(parquet_64), str(tmp_path / "c"), "--format", "parquet",
                "--model", "efficientnet-lite0", "--no-progress", "--workers", "1")
    assert out.returncode == 0, out.stderr
    assert "has no text model" in out.stderr and json.loads(out.stdout)["text_model"] is False
    corpus = Corpus.open(tmp_path / "c")
    assert corpus.model.text_model is False and not has_text_model(corpus.model)
    embedder = embedder_for_corpus(corpus)
    assert isinstance(embedder, ImageVectorsOnly)
    with pytest.raises(NoTextModelError, match="no text model"):
        embedder.embed_texts(["a dog"])


def test_an_open_clip_model_without_weights_is_refused_at_import(parquet_64, tmp_path):
    out = agile("index", "import", str(parquet_64), str(tmp_path / "c"), "--format", "parquet",
                "--model", "ViT-B-32", "--no-progress", "--workers", "1")
    assert out.returncode == 2 and "random weights" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "c").exists()  # refused before anything was written
    with pytest.raises(NoWeightsError):
        import_embeddings(parquet_64, tmp_path / "d", ImportConfig(format="parquet", model="ViT-B-32"), progress=False)
    # With the name and its weights, a width that is not the vectors' is refused too.
    with pytest.raises(Exception, match="512"):
        import_embeddings(parquet_64, tmp_path / "e", ImportConfig(format="parquet", model="ViT-B-32",
                                                                   pretrained="openai"), progress=False)


def _with_model(corpus_path, tmp_path, model: dict) -> Corpus:
    """A copy of the corpus whose corpus.json names ``model`` (as an older import wrote it)."""
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(corpus_path, dst)
    manifest = json.loads((dst / "corpus.json").read_text())
    manifest["model"] = model
    (dst / "corpus.json").write_text(json.dumps(manifest))
    return dst


def test_a_corpus_naming_an_open_clip_model_without_weights_is_refused_at_serve(small_corpus_path, tmp_path):
    # An old corpus.json (no text_model field): open_clip's ViT-B-32 with neither tag nor checkpoint.
    path = _with_model(small_corpus_path, tmp_path, {"name": "ViT-B-32", "pretrained": None, "checkpoint": None,
                                                     "sha256": None})
    out = agile("serve", str(path), "--data", str(tmp_path / "data"), "--port", "0")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "random weights" in out.stderr and "Traceback" not in out.stderr
    with pytest.raises(NoWeightsError):
        Workspace(path, tmp_path / "ws")
    simulate = agile("eval", "simulate", str(path), "--concepts", "suite", "--out", str(tmp_path / "sim"))
    assert simulate.returncode == 2 and "random weights" in simulate.stderr and "Traceback" not in simulate.stderr
    # The explicit opt-in for benchmarks lets it through the check.
    check_weights(Corpus.open(path).model, allow_random_weights=True)


def test_an_old_corpus_with_a_non_clip_name_opens_without_text(small_corpus_path, tmp_path):
    path = _with_model(small_corpus_path, tmp_path, {"name": "efficientnet-lite0"})
    assert Corpus.open(path).model == ModelInfo(name="efficientnet-lite0")  # old corpus.json stays readable
    workspace = Workspace(path, tmp_path / "ws")
    assert not workspace.has_text


def test_without_a_text_model_the_loop_runs_from_coverage_and_seeds_without_zero_shot(small_corpus_path, tmp_path):
    path = _with_model(small_corpus_path, tmp_path, {"name": "dinov2-small", "text_model": False})
    workspace = Workspace(path, tmp_path / "ws")
    clusters = workspace.corpus.column("cluster").to_numpy()
    target = int(np.bincount(clusters).argmax())
    store = MemoryStore.create("my concept")
    session = Session(workspace, store, seed=3, settings=SessionSettings(batch_size=40, random_negatives=500,
                                                                          eval_per_stratum=5))
    first = session.expand()  # nothing to search with: a coverage batch
    assert first.source == "coverage" and len(first.ids) == 40 and "coverage" in first.note
    # Coverage: the batch spans more clusters than 40 random images do on average.
    rng = np.random.default_rng(0)
    at_random = np.mean([len(set(clusters[rng.choice(len(clusters), 40, replace=False)].tolist()))
                         for _ in range(50)])
    assert len(set(clusters[first.ids].tolist())) > at_random
    store.rate(first.ids, (clusters[first.ids] == target).tolist())
    seeds = first.ids[clusters[first.ids] == target]
    assert len(seeds) >= 1
    store.add_seeds(ids=seeds)
    second = session.expand()
    assert second.source == "expansion"
    assert (clusters[second.ids] == target).mean() > 0.5  # near the seeds, not spread out
    store.rate(second.ids, (clusters[second.ids] == target).tolist())
    trained, third = session.round()
    assert trained.version == 1 and len(third.ids) == 40
    store.rate(third.ids, (clusters[third.ids] == target).tolist())
    session.round()
    evaluation = session.evaluation_set()
    assert ZERO_SHOT not in evaluation.models and evaluation.models == ["v1", "v2"]
    store.rate(evaluation.batch.ids, (clusters[evaluation.batch.ids] == target).tolist())
    report = session.evaluate(bootstrap=0)
    assert report.ready and [m.model for m in report.models] == ["v1", "v2"]


def test_an_open_clip_model_with_weights_of_the_vectors_width_keeps_text(tmp_path):
    import open_clip

    from agile.openclip_embedder import _register_builtin_configs, file_sha256, resolve_checkpoint

    _register_builtin_configs()
    width = int(open_clip.get_model_config("agile-demo")["embed_dim"])
    vectors = np.random.default_rng(0).normal(size=(50, width)).astype(np.float32)
    embedding = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), width)
    pq.write_table(pa.table({"uri": [f"synth://0/{i}" for i in range(50)], "embedding": embedding}),
                   tmp_path / "emb.parquet")
    checkpoint = "demo/assets/agile-demo.pt"
    corpus = import_embeddings(tmp_path / "emb.parquet", tmp_path / "c",
                               ImportConfig(format="parquet", model="agile-demo", checkpoint=checkpoint, workers=1),
                               progress=False)
    assert corpus.model.text_model is True and corpus.model.sha256 == file_sha256(resolve_checkpoint(checkpoint))
    assert Workspace(corpus, tmp_path / "ws").has_text
