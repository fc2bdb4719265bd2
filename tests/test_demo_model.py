"""The committed demo CLIP: registered with open_clip, loadable as any open_clip checkpoint, as good as recorded."""
from __future__ import annotations

import hashlib
import json

import pytest
import torch

from agile.demo import render_batch
from agile.demo.model_eval import evaluate, pixels_to_tensor
from agile.model_configs import CONFIG_DIR, register_builtin_configs
from agile.openclip_embedder import PACKAGE_DIR

CHECKPOINT = PACKAGE_DIR / "demo" / "assets" / "agile-demo.pt"
SIDECAR = CHECKPOINT.with_suffix(".pt.json")


@pytest.fixture(scope="module")
def loaded():
    import open_clip

    register_builtin_configs()
    model, _, preprocess = open_clip.create_model_and_transforms("agile-demo", pretrained=str(CHECKPOINT))
    return model.eval(), preprocess, open_clip.get_tokenizer("agile-demo")


def test_configs_register_once_with_open_clip():
    import open_clip

    register_builtin_configs()
    register_builtin_configs()
    assert "agile-demo" in open_clip.list_models()
    assert open_clip.get_model_config("agile-demo") == json.loads((CONFIG_DIR / "agile-demo.json").read_text())


def test_checkpoint_is_small_fp16_and_matches_its_sidecar():
    sidecar = json.loads(SIDECAR.read_text())
    data = CHECKPOINT.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sidecar["sha256"]
    assert len(data) < 25 * 2**20
    state = torch.load(CHECKPOINT, map_location="cpu", weights_only=True)["state_dict"]
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    assert sidecar["config"] == json.loads((CONFIG_DIR / "agile-demo.json").read_text())


def test_preprocess_matches_the_pixel_path(loaded):
    """open_clip's own transform and the training path see the same tensor, so training and indexing agree."""
    model, preprocess, _ = loaded
    _, images = render_batch(5, 0, 4)
    from PIL import Image

    via_transform = torch.stack([preprocess(Image.fromarray(im)) for im in images])
    assert torch.allclose(via_transform, pixels_to_tensor(images), atol=1e-5)


@pytest.mark.slow
def test_heldout_figures_reproduce_on_fresh_scenes(loaded):
    """Recompute the sidecar's held-out recall and attribute accuracy on scenes never used before."""
    model, _, tokenizer = loaded
    recorded = json.loads(SIDECAR.read_text())["heldout"]
    fresh = evaluate(model, tokenizer, seed=recorded["heldout_seed"] + 17, n=recorded["heldout_scenes"])
    # Binomial standard error at n=1000 is at most 0.016; allow about four of them.
    assert abs(fresh["caption_recall_at_10"] - recorded["caption_recall_at_10"]) < 0.07
    assert fresh["caption_recall_at_10"] > 0.05  # far above chance (10/1000)
    for attribute, accuracy in recorded["zero_shot_accuracy"].items():
        assert abs(fresh["zero_shot_accuracy"][attribute] - accuracy) < 0.12, attribute
