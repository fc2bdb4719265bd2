"""The synthetic embedder and the model check."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from agile.corpus import Corpus, ModelInfo
from agile.embedder import (Embedder, EmbedderError, ModelMismatchError, check_same_model, embedder_factory,
                            embedder_for_corpus, register_embedder)
from agile.embedders.synthetic import SyntheticEmbedder
from agile.synth import load_world


def test_cluster_phrases_map_to_normalised_centre_means(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    embedder = embedder_for_corpus(corpus)
    assert isinstance(embedder, Embedder) and embedder.dim == corpus.dim
    _, centers = load_world(small_corpus_path)
    got = embedder.embed_texts(["cluster 3", "Cluster 3 and cluster 11", "cluster 1, cluster 2"])
    assert got.dtype == np.float32 and got.shape == (3, corpus.dim)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(got[0], centers[3] / np.linalg.norm(centers[3]), rtol=1e-5)
    mean = centers[[3, 11]].mean(axis=0)
    np.testing.assert_allclose(got[1], mean / np.linalg.norm(mean), rtol=1e-5, atol=1e-6)


def test_synthetic_embedder_refuses_other_text_and_images(small_corpus_path):
    embedder = embedder_for_corpus(Corpus.open(small_corpus_path))
    with pytest.raises(EmbedderError, match="cluster 17"):
        embedder.embed_texts(["a red apple"])
    with pytest.raises(EmbedderError, match="does not exist"):
        embedder.embed_texts(["cluster 999"])
    with pytest.raises(EmbedderError):
        embedder.embed_images([])


def test_mismatched_model_is_refused(small_corpus_path):
    corpus = Corpus.open(small_corpus_path)
    other = SyntheticEmbedder(np.eye(corpus.dim, dtype=np.float32), ModelInfo(name="ViT-B-32", pretrained="openai"))
    with pytest.raises(ModelMismatchError, match="corpus.json"):
        check_same_model(other, corpus)
    wrong_dim = SyntheticEmbedder(np.eye(8, dtype=np.float32))
    with pytest.raises(ModelMismatchError):
        check_same_model(wrong_dim, corpus)


def test_the_core_does_not_import_the_synthetic_world():
    code = ("import sys, agile.embedder, agile.expansion, agile.training, agile.zeroshot\n"
            "assert not [m for m in sys.modules if m.startswith(('agile.synth', 'agile.embedders'))], sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_embedder_error_class():
    import agile.openclip_embedder

    assert agile.openclip_embedder.EmbedderError is EmbedderError
    assert issubclass(ModelMismatchError, EmbedderError)


def test_a_registered_family_embeds_its_corpora(small_corpus_path, monkeypatch):
    import agile.embedder

    corpus = Corpus.open(small_corpus_path)
    monkeypatch.setattr(agile.embedder, "_FACTORIES", dict(agile.embedder._FACTORIES))
    made = []

    def factory(c, device):
        made.append((c.root, device))
        return SyntheticEmbedder(np.eye(c.dim, dtype=np.float32)[:20], c.model)

    register_embedder("synthetic", factory)
    embedder = embedder_for_corpus(corpus, device="cpu")
    assert made == [(corpus.root, "cpu")] and embedder.dim == corpus.dim
    assert embedder_factory("ViT-B-32").__name__ == "_open_clip"  # names no family claims are open_clip's
