"""Export a model version as a self-contained folder: ONNX, TorchScript, numpy weights, a scorer, a model card.

    <out>/model.onnx            probabilities from embeddings (onnxruntime, any language)
    <out>/model.torchscript.pt  the same as TorchScript (torch.jit.load)
    <out>/model.npz             the linear layers as arrays, for scorer.py
    <out>/scorer.py             numpy-only scorer (a copy of agile/numpy_scorer.py)
    <out>/card.json, card.md    what the model is, how it was measured, what it must be fed

The folder is written under a temporary name and renamed when complete, so
a half export never looks like one. Every file's sha256 is in the card.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from agile.atomic import _fsync_dir
from agile.corpus import ModelInfo
from agile.errors import AgileError
from agile.formats import FormatModel
from agile.training import TrainedModel

CARD_FORMAT = 1
FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "npz": "model.npz", "scorer": "scorer.py"}
SCORER_SOURCE = Path(__file__).with_name("numpy_scorer.py")


class ExportError(AgileError):
    """An export folder is missing, damaged, or made for another embedding model."""


class ModelCard(FormatModel):
    format: int = CARD_FORMAT
    concept: dict[str, Any]
    version: int
    threshold: float = Field(description="scores at or above it are positive")
    threshold_reason: str
    embedding_model: ModelInfo
    dim: int
    labels: dict[str, Any] = Field(description="training label counts and the snapshot sha256")
    evaluation: dict[str, Any] | None = Field(None, description="metrics on the owner-rated evaluation set")
    target: dict[str, Any] | None = None
    training: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="file name -> sha256")
    resources: dict[str, Any] | None = None
    intended_use: str
    limits: list[str]

    @classmethod
    def load(cls, folder: str | Path) -> "ModelCard":
        path = Path(folder) / "card.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ExportError(f"{path}: not a readable model card: {e}") from None
        return cls.parse(data, str(path), ExportError)


def _probabilities(model: TrainedModel) -> torch.nn.Module:
    return torch.nn.Sequential(model.module, torch.nn.Sigmoid()).eval()


def write_model_files(model: TrainedModel, folder: Path) -> None:
    """The model as ONNX, TorchScript and numpy arrays, plus the numpy scorer."""
    module = _probabilities(model)
    example = torch.zeros(2, model.dim)
    with warnings.catch_warnings():  # the TorchScript-based exporters warn of their deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), folder / FILES["onnx"], input_names=["embedding"],
                          output_names=["score"], dynamic_axes={"embedding": {0: "n"}, "score": {0: "n"}},
                          dynamo=False)
        torch.jit.save(torch.jit.trace(module, example), folder / FILES["torchscript"])
    layers = model.linear_layers()
    arrays = {f"w{i}": layer.weight.detach().numpy() for i, layer in enumerate(layers)}
    arrays |= {f"b{i}": layer.bias.detach().numpy() for i, layer in enumerate(layers)}
    np.savez(folder / FILES["npz"], layers=len(layers), **arrays)
    shutil.copyfile(SCORER_SOURCE, folder / FILES["scorer"])


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_folder(model: TrainedModel, card: ModelCard, out: str | Path) -> Path:
    """Write the export to ``out`` (which must not exist yet); returns it."""
    out = Path(out)
    if out.exists():
        raise ExportError(f"{out}: already exists; export into a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        write_model_files(model, tmp)
        card = card.model_copy(update={"files": {name: _sha256(tmp / name) for name in FILES.values()}})
        (tmp / "card.json").write_text(json.dumps(card.to_json(), indent=2))
        (tmp / "card.md").write_text(card_markdown(card))
        for path in tmp.iterdir():
            with open(path, "rb+") as f:
                os.fsync(f.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, out)
        _fsync_dir(out.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def check_export(folder: str | Path) -> ModelCard:
    """The card of a complete, undamaged export (every file's sha256 as the card says)."""
    folder = Path(folder)
    card = ModelCard.load(folder)
    for name, digest in card.files.items():
        path = folder / name
        if not path.is_file() or _sha256(path) != digest:
            raise ExportError(f"{path}: missing or damaged (sha256 differs from card.json)")
    return card


def check_embedding_model(card: ModelCard, corpus_model: ModelInfo, corpus_dim: int, where: str) -> None:
    """Refuse to score vectors of another embedding model than the one the classifier was trained on."""
    if not card.embedding_model.same_model(corpus_model) or card.dim != corpus_dim:
        raise ExportError(f"{where}: the vectors come from {corpus_model.name} "
                          f"({corpus_model.sha256 or corpus_model.pretrained or 'no weights'}, dim {corpus_dim}) but "
                          f"the classifier was trained on {card.embedding_model.name} "
                          f"({card.embedding_model.sha256 or card.embedding_model.pretrained or 'no weights'}, "
                          f"dim {card.dim}); its scores would mean nothing")


def card_markdown(card: ModelCard) -> str:
    """The card for people: what it is, how good it is, how to use it, where it breaks."""
    concept = card.concept
    lines = [f"# {concept.get('name')} — model version {card.version}", "",
             f"A classifier of **{concept.get('name')}** on {card.embedding_model.name} image embeddings "
             f"(dim {card.dim}).", "",
             f"- Positive phrases: {', '.join(concept.get('positives', [])) or '—'}",
             f"- Negative phrases: {', '.join(concept.get('negatives', [])) or '—'}",
             f"- Training labels: {card.labels.get('count')} ({card.labels.get('positives')} positive, "
             f"{card.labels.get('negatives')} negative); label snapshot sha256 `{card.labels.get('sha256')}`",
             f"- Embedding model: `{card.embedding_model.name}`, weights "
             f"`{card.embedding_model.pretrained or card.embedding_model.checkpoint or '—'}`, sha256 "
             f"`{card.embedding_model.sha256 or '—'}`",
             f"- Threshold: **{card.threshold:.4f}** ({card.threshold_reason})", ""]
    lines += ["## Evaluation", ""]
    if card.evaluation and card.evaluation.get("metrics"):
        m = card.evaluation["metrics"]
        ci = m.get("ci", {})
        lines.append(f"On {card.evaluation.get('rated')} owner-rated evaluation images "
                     f"({card.evaluation.get('positives')} positive), never trained on:")
        lines.append("")
        lines += ["| metric | value | 95% interval |", "| --- | --- | --- |"]
        for name in ("auc_pr", "auc_roc", "f1", "accuracy"):
            low_high = ci.get(name)
            interval = f"{low_high[0]:.3f}-{low_high[1]:.3f}" if low_high else "—"
            lines.append(f"| {name} | {m[name]:.3f} | {interval} |")
    else:
        lines.append("No rated evaluation set: this version's quality is unmeasured (only its fit to the "
                     "images it was trained on, which is optimistic).")
    if card.target:
        lines += ["", "## Target", "", f"{card.target.get('description')}: **{card.target.get('state')}** — "
                  f"{card.target.get('message')}"]
    if card.resources:
        lines += ["", "## Resources (measured on the exporting machine)", "", "```",
                  json.dumps(card.resources, indent=2), "```"]
    lines += ["", "## Use", "", "```python", "from scorer import Scorer", "scores = Scorer.load('model.npz')"
              ".score(vectors)   # L2-normalised embeddings of the model above",
              f"positive = scores >= {card.threshold:.4f}", "```", "",
              "Or `onnxruntime.InferenceSession('model.onnx').run(None, {'embedding': vectors})`, or "
              "`torch.jit.load('model.torchscript.pt')(torch.from_numpy(vectors))`.", "",
              "## Intended use", "", card.intended_use, "", "## Known limits", ""]
    lines += [f"- {limit}" for limit in card.limits]
    lines += ["", "## Files", ""] + [f"- `{name}` sha256 `{digest}`" for name, digest in card.files.items()]
    return "\n".join(lines) + "\n"
