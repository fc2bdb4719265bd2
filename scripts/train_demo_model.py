"""Train a demo world's compact CLIP from scratch with open_clip, on CPU.

Recipe (fixed, so a re-run with the same arguments reproduces the weights up
to floating-point nondeterminism of the CPU kernels):
  - model: a config in agile/model_configs/ (``--model``, default
    ``agile-demo-cnn4``), created by ``open_clip.create_model_and_transforms``;
  - curriculum (``--curriculum-steps``): the first steps are one-object scenes
    captioned by their shape and sometimes their pattern or colour alone
    (``--curriculum-color-p``);
  - data: scenes 0..N-1 of world ``--world-seed``, rendered once; every step
    pairs each image with a freshly written random caption and, where one can
    be written, a foil (agile/demo/foils.py);
  - twins (``--twin-share``): that share of each batch is pairs of a scene and
    its twin, the same scene with one group's shape, pattern or colour changed
    (``--twin-kinds``; agile/demo/twins.py), each with its own caption written
    from the same draws;
  - loss: open_clip's contrastive ``ClipLoss``, with each batch's foils added
    as wrong captions for every image (``--no-foils``: ``ClipLoss`` as is);
  - AdamW, linear warm-up then cosine decay, no weight decay on gains/biases;
    the decay runs to whichever ends first, ``--steps`` or ``--max-minutes``
    (on a shared machine the time budget may end it; the sidecar records the
    steps done);
  - held-out figures on world ``--heldout-seed`` (never trained on).
Writes the fp16 checkpoint (loadable with ``pretrained=<path>``) and a JSON
sidecar next to it, both atomically.

    python scripts/train_demo_model.py            # agile/demo/assets/agile-demo-cnn4.pt

The shipped ``agile-demo-cnn4`` is one run of this script (in its sidecar),
then ``--evaluate-only`` for the fp16 figures:
    --model agile-demo-cnn4 --scenes 100000 --steps 12000 --max-minutes 55 --lr 2e-3 --warmup 100 \
        --twin-share 0.5 --twin-kinds shape,shape,pattern,color --curriculum-steps 600 --curriculum-color-p 0.5
Without the curriculum, shape stays at chance for the first thousand steps
while colour and background are learnt; 600 steps of one-object captions
(``object_caption``) teach it at once, and the twins keep it. Captions that
never name the colour teach the tower to ignore it: ``agile-demo-cnn2``, whose
curriculum named shape and pattern only and whose first stage had no colour
twins, ended that stage with zero-shot colour 0.70 and needed a second stage
of colour twins to reach 0.82; naming the colour in half the curriculum's
captions, with colour twins from the start, keeps it (0.99).
Colour then shares the trunk's last channels with shape: ``agile-demo-cnn3``,
this recipe on the plain trunk, lost part of its shape ceiling (crosses 0.73).
``agile-demo-cnn4`` pools an early convolution besides the last
(``agile_shapes_cnn_early``), and the same recipe keeps both (crosses 0.97).
The earlier models' recipes are in their sidecars (``agile-demo-cnn3`` the
one above, ``agile-demo-cnn2`` and ``agile-demo-cnn`` two stages each,
``agile-demo`` ``--model agile-demo --no-foils --generic-p 0``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import open_clip
import torch

from agile.atomic import atomic_path, atomic_write_json
from agile.demo.captions import object_caption, write_caption
from agile.demo.foils import aligned_captions, caption_with_foil
from agile.demo.model_eval import evaluate, pixels_to_tensor
from agile.demo.twins import TWIN_KINDS, render_with_twins
from agile.model_configs import register_builtin_configs

DEFAULT_MODEL = "agile-demo-cnn4"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=DEFAULT_MODEL, help="an open_clip config in agile/model_configs/")
    p.add_argument("--out", type=Path, default=None, help="default: agile/demo/assets/<model>.pt")
    p.add_argument("--scenes", type=int, default=60_000, help="training scenes rendered once")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--max-minutes", type=float, default=30.0,
                   help="training time budget: the schedule anneals by whichever of steps or time runs out first")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0, help="initialisation, batch order and captions")
    p.add_argument("--world-seed", type=int, default=1_000_000)
    p.add_argument("--heldout-seed", type=int, default=2_000_000)
    p.add_argument("--workers", type=int, default=2, help="processes rendering the training scenes")
    p.add_argument("--no-foils", dest="foils", action="store_false",
                   help="train on true captions only (no foil captions as extra negatives)")
    p.add_argument("--generic-p", type=float, default=0.1,
                   help="share of training caption groups whose shape is named 'shape', 'object' or 'thing'")
    p.add_argument("--twin-share", type=float, default=0.0,
                   help="share of each batch made of scenes paired with their twins (one attribute changed)")
    p.add_argument("--twin-kinds", default=",".join(TWIN_KINDS),
                   help="what a twin changes, drawn uniformly from this list (shape, pattern, color)")
    p.add_argument("--curriculum-steps", type=int, default=0,
                   help="the first steps are single-object scenes captioned by their shape (and pattern or colour) alone")
    p.add_argument("--curriculum-color-p", type=float, default=0.0,
                   help="share of curriculum captions that name the object's colour too")
    p.add_argument("--init", type=Path, default=None,
                   help="continue from this checkpoint (its sidecar's recipe is kept as an earlier stage)")
    p.add_argument("--evaluate-only", action="store_true",
                   help="load the checkpoint at --out through open_clip and refresh its sidecar's held-out figures")
    args = p.parse_args()
    args.out = args.out or Path(f"agile/demo/assets/{args.model}.pt")
    return args


def render_training_set(seed: int, n: int, workers: int,
                        twin_kinds: tuple[str, ...]) -> tuple[list, np.ndarray, list, np.ndarray]:
    """The training scenes, their pixels, and each one's twin and its pixels."""
    chunk = 5000
    starts = list(range(0, n, chunk))
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(render_with_twins, [seed] * len(starts), starts,
                              [min(chunk, n - s) for s in starts], [twin_kinds] * len(starts)))
    return ([s for p in parts for s in p[0]], np.concatenate([p[1] for p in parts]),
            [t for p in parts for t in p[2]], np.concatenate([p[3] for p in parts]))


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # As open_clip's trainer: no decay on gains, biases, embeddings' scale or the temperature.
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "logit_scale" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "logit_scale" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-6)


def contrastive_loss(img: torch.Tensor, txt: torch.Tensor, foils: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """open_clip's ClipLoss (the same value when there are no foils), the foils added as wrong captions for every image."""
    labels = torch.arange(len(img))
    per_image = scale * img @ torch.cat([txt, foils]).T
    per_text = scale * txt @ img.T
    return (torch.nn.functional.cross_entropy(per_image, labels) + torch.nn.functional.cross_entropy(per_text, labels)) / 2


def training_texts(scenes: list, rng: np.random.Generator, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """One true caption per scene and the foils that could be written for them."""
    if not args.foils:  # the caption writer's own draws, as before foils existed
        return [write_caption(s, rng, args.generic_p) for s in scenes], []
    pairs = [caption_with_foil(s, rng, args.generic_p) for s in scenes]
    return [c for c, _ in pairs], [f for _, f in pairs if f is not None]


def twin_texts(idx: np.ndarray, scenes: list, twins: list, rng: np.random.Generator,
               generic_p: float) -> tuple[list[str], list[str], np.ndarray]:
    """Captions of the scenes ``idx``, and of the twins whose caption tells them apart (those twins' indices).

    A twin whose caption would read the same as its scene's stays out of the
    batch: each would be a true caption of the other image.
    """
    captions, twin_captions, kept = [], [], []
    for i in idx:
        twin = twins[i]
        caption, other = aligned_captions(scenes[i], (twin.scene, twin.words) if twin else None, rng, generic_p)
        captions.append(caption)
        if other is not None:
            twin_captions.append(other)
            kept.append(i)
    return captions, twin_captions, np.asarray(kept, dtype=np.int64)


def curriculum_batch(data: tuple, pool: np.ndarray, rng: np.random.Generator,
                     args: argparse.Namespace) -> tuple[np.ndarray, list, list]:
    """Single-object scenes, each captioned by its shape and sometimes its pattern or colour alone."""
    idx = rng.choice(pool, size=args.batch, replace=False)
    return data[1][idx], [object_caption(data[0][i], rng, color_p=args.curriculum_color_p) for i in idx], []


def training_batch(data: tuple, rng: np.random.Generator, args: argparse.Namespace) -> tuple[np.ndarray, list, list]:
    """Pixels, true captions (one per image, in order) and foils of one step's batch."""
    scenes, images, twins, twin_images = data
    pairs = int(args.batch * args.twin_share / 2)
    idx = rng.choice(len(scenes), size=args.batch - pairs, replace=False)
    single, paired = idx[pairs:], idx[:pairs]
    captions, foils = training_texts([scenes[i] for i in single], rng, args)
    paired_captions, twin_captions, kept = twin_texts(paired, scenes, twins, rng, args.generic_p)
    pixels = np.concatenate([images[single], images[paired], twin_images[kept]])
    return pixels, captions + paired_captions + twin_captions, foils


def lr_at(step: int, progress: float, args: argparse.Namespace) -> float:
    """Linear warm-up over ``args.warmup`` steps, then cosine decay to zero as ``progress`` reaches 1."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    return 0.5 * args.lr * (1 + math.cos(math.pi * min(progress, 1.0)))


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    register_builtin_configs()
    weights = str(args.init) if args.init else None
    model, _, _ = open_clip.create_model_and_transforms(args.model, pretrained=weights, precision="fp32")
    tokenizer = open_clip.get_tokenizer(args.model)
    opt = make_optimizer(model, args.lr, args.weight_decay)

    t0 = time.time()
    twin_kinds = tuple(args.twin_kinds.split(",")) if args.twin_share else ()  # no twins wanted: none rendered
    data = render_training_set(args.world_seed, args.scenes, args.workers, twin_kinds)
    render_s = time.time() - t0
    print(f"rendered {len(data[0])} training scenes{' and their twins' if twin_kinds else ''} in {render_s:.0f}s",
          flush=True)

    rng = np.random.default_rng(args.seed)
    single_object = np.flatnonzero([s.count == 1 for s in data[0]])
    model.train()
    t1 = time.time()
    budget_s = args.max_minutes * 60
    step = 0
    # On a busy machine the time budget, not the step count, may end training; the
    # schedule follows whichever is further along, so the rate always anneals to zero.
    while (progress := max(step / args.steps, (time.time() - t1) / budget_s)) < 1.0:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, progress, args)
        if step < args.curriculum_steps:
            pixels, captions, foils = curriculum_batch(data, single_object, rng, args)
        else:
            pixels, captions, foils = training_batch(data, rng, args)
        img_f, txt_f, scale = model(pixels_to_tensor(pixels), tokenizer(captions + foils))
        loss = contrastive_loss(img_f, txt_f[:len(pixels)], txt_f[len(pixels):], scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # as in CLIP: keep the temperature below 100
            model.logit_scale.clamp_(0, math.log(100))
        if step % 25 == 0:
            print(f"step {step} loss {loss.item():.3f} scale {scale.item():.1f} progress {progress:.2f} "
                  f"{(time.time() - t1) / (step + 1):.2f}s/step", flush=True)
        step += 1
    train_s = time.time() - t1
    metrics = evaluate(model, tokenizer, args.heldout_seed)
    print(metrics, flush=True)
    return {"model": model, "metrics": metrics, "render_seconds": round(render_s, 1),
            "train_seconds": round(train_s, 1), "steps_done": step}


def save(model: torch.nn.Module, out: Path, sidecar: dict) -> None:
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    with atomic_path(out) as tmp:
        torch.save({"state_dict": state}, tmp)
    sidecar["sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    sidecar["bytes"] = out.stat().st_size
    atomic_write_json(out.with_suffix(out.suffix + ".json"), sidecar)


def evaluate_checkpoint(args: argparse.Namespace) -> None:
    """Held-out figures of the shipped (fp16) weights, loaded exactly as users load them."""
    register_builtin_configs()
    model, _, _ = open_clip.create_model_and_transforms(args.model, pretrained=str(args.out))
    sidecar_path = args.out.with_suffix(args.out.suffix + ".json")
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["heldout"] = evaluate(model, open_clip.get_tokenizer(args.model), args.heldout_seed)
    sidecar["heldout"]["weights"] = "float16 checkpoint as loaded by open_clip"
    atomic_write_json(sidecar_path, sidecar)
    print(json.dumps(sidecar["heldout"], indent=2))


def main() -> None:
    args = parse_args()
    if args.evaluate_only:
        evaluate_checkpoint(args)
        return
    result = train(args)
    model = result["model"]
    config = open_clip.get_model_config(args.model)
    sidecar = {
        "model": args.model,
        "config": config,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": "float16",
        "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "torch_threads": torch.get_num_threads(),
        "render_seconds": result["render_seconds"],
        "train_seconds": result["train_seconds"],
        "steps_done": result["steps_done"],
        "heldout": result["metrics"],
    }
    if args.init:
        earlier = json.loads(args.init.with_suffix(args.init.suffix + ".json").read_text())
        sidecar["earlier_stages"] = earlier.get("earlier_stages", []) + [
            {k: earlier[k] for k in ("recipe", "train_seconds", "steps_done", "sha256") if k in earlier}]
    save(model, args.out, sidecar)
    print(f"wrote {args.out} ({sidecar['bytes']} bytes) and its sidecar", flush=True)


if __name__ == "__main__":
    main()
