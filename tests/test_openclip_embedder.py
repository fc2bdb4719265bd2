"""OpenClipEmbedder on a small open_clip model with a local checkpoint (no downloads)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

from agile.corpus import ModelInfo
from agile.openclip_embedder import EmbedderError, OpenClipEmbedder, resolve_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """An untrained agile-demo model's weights, saved like a trained checkpoint."""
    import open_clip

    from agile.model_configs import register_builtin_configs

    register_builtin_configs()
    torch.manual_seed(0)
    model = open_clip.create_model("agile-demo")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_embedder(tiny_checkpoint):
    return OpenClipEmbedder("agile-demo", checkpoint=str(tiny_checkpoint))


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8)) for i in range(n)]


def test_embeds_images_and_texts_as_unit_vectors(tiny_embedder):
    images = tiny_embedder.embed_images(_images(3))
    texts = tiny_embedder.embed_texts(["a red star", "two blue circles"])
    assert images.shape == (3, tiny_embedder.dim) and texts.shape == (2, tiny_embedder.dim)
    assert images.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert not np.allclose(images[0], images[1])
    assert tiny_embedder.embed_texts([]).shape == (0, tiny_embedder.dim)


def test_embed_pixels_matches_embed_images(tiny_embedder):
    images = _images(2, seed=1)
    pixels = torch.stack([tiny_embedder.preprocess(im) for im in images])
    np.testing.assert_allclose(tiny_embedder.embed_pixels(pixels), tiny_embedder.embed_images(images), atol=1e-6)


def test_checkpoint_is_loaded_and_recorded(tiny_checkpoint, tiny_embedder):
    info = tiny_embedder.model_info
    assert info.name == "agile-demo" and info.checkpoint == str(tiny_checkpoint)
    assert info.sha256 == hashlib.sha256(tiny_checkpoint.read_bytes()).hexdigest()
    # A differently initialised model embeds differently: the checkpoint's weights were used.
    torch.manual_seed(1)
    other = OpenClipEmbedder("agile-demo", allow_random_weights=True)
    assert not np.allclose(other.embed_texts(["x"]), tiny_embedder.embed_texts(["x"]), atol=1e-3)
    again = OpenClipEmbedder.from_model_info(info)
    np.testing.assert_allclose(again.embed_texts(["x"]), tiny_embedder.embed_texts(["x"]), atol=1e-6)


def test_errors_are_typed(tiny_checkpoint, tmp_path):
    with pytest.raises(EmbedderError, match="unknown open_clip model"):
        OpenClipEmbedder("no-such-model")
    with pytest.raises(EmbedderError, match="not found"):
        OpenClipEmbedder("agile-demo", checkpoint=str(tmp_path / "missing.pt"))
    with pytest.raises(EmbedderError, match="not both"):
        OpenClipEmbedder("agile-demo", pretrained="openai", checkpoint=str(tiny_checkpoint))
    with pytest.raises(EmbedderError, match="sha256"):
        OpenClipEmbedder.from_model_info(ModelInfo(name="agile-demo", checkpoint=str(tiny_checkpoint), sha256="0" * 64))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(EmbedderError, match="cannot load"):
        OpenClipEmbedder("agile-demo", checkpoint=str(garbage))


def test_relative_checkpoints_resolve_inside_the_package():
    import agile

    assert resolve_checkpoint("model_configs/x.pt").parent.parent.samefile(agile.__path__[0])
    assert str(resolve_checkpoint("/abs/x.pt")) == "/abs/x.pt"
