"""An int8 copy of a trained MLP for fast approximate corpus-wide scoring.

Inputs are the scan store's 8-bit vectors with one scale per dimension, which
are folded into the first layer's weights; weights are int8 with one scale
per output unit; hidden activations are uint8 (they
follow a ReLU) with scales calibrated on a sample of the corpus; the last
layer returns float32 logits. Each layer is one oneDNN quantized linear call
(`torch.ops.onednn.qlinear_pointwise`, ReLU fused).

Every layer takes *unsigned* activations. oneDNN's fast int8 kernels on
AVX-512 VNNI (and AVX2) are built on the u8 x s8 dot product; given s8 x s8
they fall back to the reference kernel, ~100x slower (only AMX takes s8 x s8
natively). So the first layer reads the store's bytes as they are, each its
int8 level plus ``ZERO_POINT`` (agile.scan_store), and its bias subtracts
``ZERO_POINT * sum(w)``, which makes the integer products exactly those of
the signed levels. Whether int8 beats
float32 at all on a given CPU is measured, not assumed (`agile.kernel_choice`).

Scores are approximate (about 1% relative error in the logits); callers use
them to narrow the corpus to candidates and re-score those exactly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from agile.scan_store import ZERO_POINT
from agile.training import TrainedModel, squeeze_logits

CALIBRATION_QUANTILE = 0.9999


@functools.lru_cache(maxsize=1)
def int8_available() -> bool:
    """True when this torch build can run oneDNN quantized linear layers."""
    try:
        w = torch.ops.onednn.qlinear_prepack(torch.ones(4, 8, dtype=torch.int8), [2, 8])
        out = torch.ops.onednn.qlinear_pointwise(
            torch.ones(2, 8, dtype=torch.int8), 1.0, 0, w, torch.ones(4), torch.zeros(4, dtype=torch.int64),
            None, 1.0, 0, torch.float32, "none", [], "")
        return bool(torch.allclose(out, torch.full((2, 4), 8.0)))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


@functools.lru_cache(maxsize=1)
def weight_levels() -> int:
    """127, or 63 where oneDNN's u8 x s8 product saturates (AVX2 without VNNI).

    Without VNNI the product is vpmaddubsw, which adds each pair of u8 x s8
    products in int16 and saturates at 32,767: 255 * 127 * 2 does not fit,
    255 * 63 * 2 does. Found by running such a pair, not by reading CPU flags
    (oneDNN may be capped below what the CPU has).
    """
    try:
        w = torch.ops.onednn.qlinear_prepack(torch.full((1, 64), 127, dtype=torch.int8), [1, 64])
        out = torch.ops.onednn.qlinear_pointwise(
            torch.full((1, 64), 255, dtype=torch.uint8), 1.0, 0, w, torch.ones(1), torch.zeros(1, dtype=torch.int64),
            None, 1.0, 0, torch.float32, "none", [], "")
        return 127 if float(out[0, 0]) == 255 * 127 * 64 else 63
    except (AttributeError, RuntimeError, NotImplementedError):
        return 127


@dataclass
class _Layer:
    packed: torch.Tensor
    w_scale: torch.Tensor
    w_zero: torch.Tensor
    bias: torch.Tensor
    x_scale: float
    x_zero: int
    out_scale: float     # scale of the uint8 output (hidden layers); 1.0 for float output
    relu: bool


class Int8MLP:
    """``logits(int8 block) -> float32`` for a TrainedModel, with calibrated scales."""

    def __init__(self, layers: list[_Layer]):
        self.layers = layers

    @classmethod
    def from_model(cls, model: TrainedModel, input_scales: np.ndarray, calibration: np.ndarray,
                   rows: int = 16_384) -> "Int8MLP":
        """Quantise ``model`` for stored inputs ``(x_u8 - ZERO_POINT) * input_scales`` (per dimension).

        ``calibration`` is a float sample of corpus vectors (n, D) that sets the
        scales of the hidden activations.
        """
        linears = model.linear_layers()
        x = torch.from_numpy(np.asarray(calibration, dtype=np.float32))
        layers, scale, zero = [], 1.0, 0
        with torch.inference_mode():
            for i, lin in enumerate(linears):
                last = i == len(linears) - 1
                w = lin.weight.detach().float()
                if i == 0:  # x @ W.T == x_int8 @ (W * scales).T
                    w = w * torch.from_numpy(np.asarray(input_scales, dtype=np.float32))[None, :]
                levels = weight_levels()
                w_scale = (w.abs().amax(dim=1) / levels).clamp_min(1e-12)
                qw = torch.round(w / w_scale[:, None]).clamp(-levels, levels).to(torch.int8)
                x = lin(x)
                if not last:
                    x = torch.relu(x)
                    # uint8 scale from a high quantile rather than the max: one outlier
                    # would otherwise coarsen every other activation. (The value at that rank,
                    # found among the largest few: a partition of every value is slow when
                    # half of them are ReLU's zeros.)
                    values = x.flatten()
                    above = len(values) - int(CALIBRATION_QUANTILE * (len(values) - 1))
                    top = float(torch.topk(values, above).values[-1])
                    out_scale = max(top, 1e-6) / 255.0
                else:
                    out_scale = 1.0
                bias = lin.bias.detach().float()
                if i == 0:  # inputs arrive as level + ZERO_POINT: take ZERO_POINT * sum(w) back off
                    bias = bias - ZERO_POINT * w_scale * qw.sum(dim=1, dtype=torch.int64).float()
                layers.append(_Layer(torch.ops.onednn.qlinear_prepack(qw, [rows, w.shape[1]]),
                                     w_scale.contiguous(), torch.zeros(len(w_scale), dtype=torch.int64),
                                     bias.contiguous(), scale, zero, out_scale, not last))
                scale, zero = out_scale, 0
        return cls(layers)

    def logits(self, block: torch.Tensor) -> torch.Tensor:
        """float32 logits of a block of the scan store (a contiguous uint8 tensor (n, D)): (n,), or (n, K)
        of a multi-category task's model."""
        h = block
        for layer in self.layers:
            h = self.layer(h, layer)
        return squeeze_logits(h)

    @staticmethod
    def layer(h: torch.Tensor, layer: _Layer) -> torch.Tensor:
        """One layer: uint8 activations out of a hidden layer, float32 logits out of the last."""
        return torch.ops.onednn.qlinear_pointwise(
            h, layer.x_scale, layer.x_zero, layer.packed, layer.w_scale, layer.w_zero, layer.bias,
            layer.out_scale, 0, torch.uint8 if layer.relu else torch.float32,
            "relu" if layer.relu else "none", [], "")
