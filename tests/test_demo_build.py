"""`agile demo build`: a demo corpus through the normal indexing job, with ground truth as metadata."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agile.corpus import Corpus
from agile.demo import SceneTable, load_suite, render_uri, scene_at
from indexing.demo_build import (DEMO_CHECKPOINT, DEMO_CHECKPOINTS, DEMO_MODEL, DemoBuildConfig, DemoBuildError,
                                 build_demo_corpus, manifest_path, write_scene_manifest)

N = 600


@pytest.fixture(scope="module")
def demo_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "corpus"
    summary = build_demo_corpus(out, DemoBuildConfig(n=N, seed=3, batch_size=128, shard_size=250), progress=False)
    return out, summary


@pytest.mark.slow
def test_build_writes_an_indexed_corpus_of_demo_uris(demo_corpus):
    out, summary = demo_corpus
    corpus = Corpus.open(out)
    assert summary["count"] == corpus.count == N
    assert summary["model"] == corpus.model.name == DEMO_MODEL
    assert corpus.model.checkpoint == DEMO_CHECKPOINT and corpus.model.sha256
    assert corpus.uris([0, 599]) == ["demo://3/0", "demo://3/599"]
    assert (out / "index" / "index.json").exists()
    assert manifest_path(out).exists()


@pytest.mark.slow
def test_stored_vectors_are_the_rendered_images(demo_corpus):
    from agile.embedder import embedder_for_corpus

    corpus = Corpus.open(demo_corpus[0])
    ids = np.array([0, 17, 599])
    images = [render_uri(u) for u in corpus.uris(ids)]
    fresh = embedder_for_corpus(corpus).embed_images(images)
    stored = corpus.vectors(ids).astype(np.float32)
    assert np.allclose(fresh, stored, atol=2e-2)
    assert all(isinstance(im, Image.Image) for im in images)


@pytest.mark.slow
def test_suite_labels_come_from_the_stored_attributes(demo_corpus):
    corpus = Corpus.open(demo_corpus[0])
    table = SceneTable.from_scenes([scene_at(3, i) for i in range(N)])
    for concept in load_suite():
        assert np.array_equal(concept.labels(corpus), concept.labels_for(table)), concept.name


@pytest.mark.slow
def test_rebuilding_the_same_corpus_resumes_without_work(demo_corpus):
    out, _ = demo_corpus
    before = sorted(p.stat().st_mtime_ns for p in (out / "shards").iterdir())
    build_demo_corpus(out, DemoBuildConfig(n=N, seed=3, batch_size=128, shard_size=250), progress=False)
    assert sorted(p.stat().st_mtime_ns for p in (out / "shards").iterdir()) == before


@pytest.mark.slow
@pytest.mark.parametrize("earlier", sorted(set(DEMO_CHECKPOINTS) - {DEMO_MODEL}))
def test_a_corpus_begun_with_an_earlier_model_is_finished_with_it(tmp_path, earlier):
    """An interrupted build from before the current demo model resumes with the model its shards were made by."""
    from indexing.runner import index_images

    out, config = tmp_path / "corpus", DemoBuildConfig(n=300, seed=4, batch_size=128, shard_size=150, index=False)
    write_scene_manifest(manifest_path(out), config.seed, config.n)
    index_images(manifest_path(out), out, model=earlier, checkpoint=DEMO_CHECKPOINTS[earlier],
                 batch_size=128, shard_size=150, progress=False)
    first = (out / "shards" / sorted(p.name for p in (out / "shards").iterdir())[0]).read_bytes()
    (out / "corpus.json").unlink()  # as if killed before the last shard was finished
    (out / "shards" / sorted(p.name for p in (out / "shards").iterdir())[-1]).unlink()
    summary = build_demo_corpus(out, config, progress=False)
    assert summary["model"] == Corpus.open(out).model.name == earlier and summary["count"] == 300
    assert (out / "shards" / sorted(p.name for p in (out / "shards").iterdir())[0]).read_bytes() == first


def test_bad_sizes_are_rejected():
    with pytest.raises(DemoBuildError, match="n >= 2"):
        DemoBuildConfig(n=1)


@pytest.mark.slow
def test_cli_reports_prevalence_and_zero_shot(demo_corpus, capsys):
    import json

    from agile_cli.main import main

    assert main(["demo", "concepts", str(demo_corpus[0]), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    labels = {c.name: c.labels(Corpus.open(demo_corpus[0])) for c in load_suite()}
    assert set(rows) == set(labels)
    for name, r in rows.items():
        assert r["positives"] == int(labels[name].sum())
        assert r["zero_shot_auc_pr"] is None or 0.0 <= r["zero_shot_auc_pr"] <= 1.0


def test_cli_renders_a_scene(tmp_path):
    from agile_cli.main import main

    png = tmp_path / "s.png"
    assert main(["demo", "render", "demo://2/9", str(png), "--scale", "3"]) == 0
    img = Image.open(png)
    assert img.size == (192, 192)
    assert np.array_equal(np.asarray(img)[::3, ::3], np.asarray(render_uri("demo://2/9")))
    assert main(["demo", "render", "demo://x", str(png)]) == 2
