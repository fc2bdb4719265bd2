"""Held-out measurements of a demo CLIP: caption retrieval and zero-shot attribute accuracy.

Used by the training script (numbers go into the checkpoint's sidecar) and by
the tests, which recompute them on fresh scenes from the committed checkpoint.
Works on any open_clip model and tokenizer; scenes come from ``render_batch``.
"""
from __future__ import annotations

import numpy as np
import torch

from agile.demo.attributes import BACKGROUNDS, COLOR_NAMES, PATTERNS, SHAPES, SIZES, Scene
from agile.demo.captions import write_caption
from agile.demo.world import render_batch

DEFAULT_MEAN = (0.48145466, 0.4578275, 0.40821073)
DEFAULT_STD = (0.26862954, 0.26130258, 0.27577711)
COUNT_PROMPTS = ("one object", "two objects", "three objects", "four objects")


def pixels_to_tensor(images: np.ndarray, mean=DEFAULT_MEAN, std=DEFAULT_STD) -> torch.Tensor:
    """uint8 (n, H, W, 3) -> normalised float (n, 3, H, W), what open_clip's transform gives at native size."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


@torch.no_grad()
def image_features(model, images: np.ndarray, batch: int = 512) -> torch.Tensor:
    parts = [model.encode_image(pixels_to_tensor(images[i:i + batch]), normalize=True)
             for i in range(0, len(images), batch)]
    return torch.cat(parts)


@torch.no_grad()
def text_features(model, tokenizer, texts: list[str], batch: int = 512) -> torch.Tensor:
    parts = [model.encode_text(tokenizer(texts[i:i + batch]), normalize=True) for i in range(0, len(texts), batch)]
    return torch.cat(parts)


def caption_recall(model, tokenizer, scenes: list[Scene], images: np.ndarray, seed: int, k: int = 10) -> float:
    """Share of captions whose own image ranks in the top ``k`` of all images (text -> image)."""
    rng = np.random.default_rng(seed)
    captions = [write_caption(s, rng) for s in scenes]
    sims = text_features(model, tokenizer, captions) @ image_features(model, images).T
    own = sims.diagonal().unsqueeze(1)
    rank = (sims > own).sum(dim=1)
    return float((rank < k).float().mean())


def _classify(model, tokenizer, images: np.ndarray, prompts: list[str], truth: np.ndarray) -> float:
    if len(truth) == 0:
        return float("nan")
    pred = (image_features(model, images) @ text_features(model, tokenizer, prompts).T).argmax(dim=1).numpy()
    return float((pred == truth).mean())


def attribute_accuracy(model, tokenizer, scenes: list[Scene], images: np.ndarray) -> dict[str, float]:
    """Zero-shot accuracy per attribute, prompting with the attribute's words.

    Object attributes are measured on single-object scenes (where the answer is
    unambiguous); background and count on all scenes (backgrounds of a named
    colour excluded, since their prompt would name the colour).
    """
    single = np.array([s.count == 1 for s in scenes])
    objs = [s.objects[0] for s, one in zip(scenes, single) if one]
    out = {}
    for name, values, prompt in (("shape", SHAPES, "a {}"), ("color", COLOR_NAMES, "a {} shape"),
                                 ("pattern", PATTERNS, "a {} shape"), ("size", SIZES, "a {} shape")):
        truth = np.array([values.index(getattr(o, name)) for o in objs])
        out[name] = _classify(model, tokenizer, images[single], [prompt.format(v) for v in values], truth)
    kinds = [b for b in BACKGROUNDS if b != "color"]
    keep = np.array([s.background != "color" for s in scenes])
    bg_prompts = ["something on a white background", "something on a gradient background",
                  "something on a striped background", "something on grass", "something in the sky",
                  "something on water", "something on a cluttered background"]
    truth = np.array([kinds.index(s.background) for s, k in zip(scenes, keep) if k])
    out["background"] = _classify(model, tokenizer, images[keep], bg_prompts, truth)
    out["count"] = _classify(model, tokenizer, images, list(COUNT_PROMPTS), np.array([s.count - 1 for s in scenes]))
    return out


def attribute_precision(model, tokenizer, scenes: list[Scene], images: np.ndarray, k: int = 10) -> dict[str, float]:
    """Mean precision@k of one-attribute text queries ("a star", "a red shape", ...) over the images.

    A retrieved image counts as correct if any of its objects has the attribute.
    """
    img = image_features(model, images)
    out = {}
    for name, values, prompt in (("shape", SHAPES, "a {}"), ("color", COLOR_NAMES, "a {} shape"),
                                 ("pattern", PATTERNS, "a {} shape")):
        sims = text_features(model, tokenizer, [prompt.format(v) for v in values]) @ img.T
        top = sims.topk(k, dim=1).indices.numpy()
        hits = [[v in {getattr(o, name) for o in scenes[i].objects} for i in row] for v, row in zip(values, top)]
        out[name] = float(np.mean(hits))
    return out


def evaluate(model, tokenizer, seed: int, n: int = 1000, k: int = 10) -> dict:
    """All held-out figures on scenes ``0..n-1`` of world ``seed``."""
    model.eval()
    scenes, images = render_batch(seed, 0, n)
    return {
        "heldout_seed": seed,
        "heldout_scenes": n,
        f"caption_recall_at_{k}": caption_recall(model, tokenizer, scenes, images, seed, k),
        f"attribute_precision_at_{k}": attribute_precision(model, tokenizer, scenes, images, k),
        "zero_shot_accuracy": attribute_accuracy(model, tokenizer, scenes, images),
    }
