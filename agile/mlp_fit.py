"""A fast training loop for the concept MLP: the same maths as autograd, less overhead.

The MLP (Linear -> ReLU -> Dropout)* -> Linear with a mean binary
cross-entropy loss is small enough that autograd's bookkeeping, torch's
Bernoulli sampler (nearly half of a step with ``nn.Dropout``) and per-step
allocations dominate its cost. This loop writes the forward and backward
passes out by hand:

- dropout is a multiplicative mask ``keep / (1 - p)`` made from numpy's PCG64
  raw bytes (one byte per unit, so the drop probability is rounded to a
  multiple of 1/256; 0.5 is exact), used again in the backward pass;
- batches are contiguous slices of a block of rows gathered once per
  ``GATHER_BATCHES`` batches instead of one gather per step;
- gradients go into torch's own Adam (``fused`` where available), so the
  optimiser is exactly the reference one;
- where bfloat16 matrix products measure faster than float32 on this machine
  (AMX or AVX512-BF16 units, and no oneDNN ISA cap that hides them) they run
  in bfloat16 against float32 master weights (mixed precision, as torch's
  autocast does), 4-6x faster per product there; elsewhere in float32.

`tests/test_training.py` checks it against the autograd loop (dropout off, float32).
"""
from __future__ import annotations

import functools
import statistics
import time

import numpy as np
import torch
from torch import nn

from agile.cpu import cpu_flags, torch_threads

GATHER_BATCHES = 32
BF16_FLAGS = {"amx_bf16", "avx512_bf16"}
BF16_MIN_SPEEDUP = 1.3  # below this, float32's exactness is worth more than the time


def resolve_precision(precision: str) -> torch.dtype:
    """``auto``: bfloat16 products where they measure faster here (`bfloat16_speedup`)."""
    if precision == "auto":
        return torch.bfloat16 if bfloat16_speedup() >= BF16_MIN_SPEEDUP else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[precision]


@functools.lru_cache(maxsize=1)
def bfloat16_speedup(rows: int = 1024, dim: int = 512, units: int = 128, repeats: int = 15) -> float:
    """float32 / bfloat16 median time of a training step's first-layer product, on one thread.

    Measured once per process (~0.1 s) rather than read from the CPU flags: a
    oneDNN ISA cap (``ONEDNN_MAX_CPU_ISA``) or a torch build without bfloat16
    kernels makes bfloat16 emulated and many times slower although the flags
    say the units are there. 0 where the CPU has no bfloat16 matrix units.
    """
    if not cpu_flags() & BF16_FLAGS:
        return 0.0
    gen = torch.Generator().manual_seed(0)
    x, w = torch.randn(rows, dim, generator=gen), torch.randn(units, dim, generator=gen)

    def median_seconds(dtype: torch.dtype) -> float:
        a, b = x.to(dtype), w.to(dtype)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a.mm(b.t())
            times.append(time.perf_counter() - start)
        return statistics.median(times[2:])  # the first calls pick and build the kernel
    with torch_threads(1):
        return median_seconds(torch.float32) / median_seconds(torch.bfloat16)


class DropoutBits:
    """Dropout keep-masks scaled by 1/(1-p), built from raw generator bytes.

    A unit is kept when its random byte is >= round(256 p); the mask is made
    directly as the bit pattern of 0 or the scale in the compute dtype, so no
    torch comparison or conversion (slow for bfloat16) is needed.
    """

    def __init__(self, p: float, rng: np.random.Generator, dtype: torch.dtype = torch.float32):
        self.threshold = int(round(p * 256))
        self.scale = 256.0 / (256 - self.threshold)
        self.rng = rng
        self.dtype = dtype
        unsigned, signed = {torch.float32: (np.uint32, torch.int32),
                            torch.bfloat16: (np.uint16, torch.int16)}[dtype]
        pattern = torch.tensor(self.scale, dtype=dtype).view(signed).item() & ((1 << torch.finfo(dtype).bits) - 1)
        self._unsigned, self._scale_bits = unsigned, unsigned(pattern)

    def keep(self, shape: tuple[int, int]) -> torch.Tensor | None:
        if self.threshold == 0:
            return None
        n = shape[0] * shape[1]
        raw = self.rng.bit_generator.random_raw(-(-n // 8)).view(np.uint8)[:n]
        bits = (raw >= self.threshold).astype(self._unsigned) * self._scale_bits
        return torch.from_numpy(bits.reshape(shape)).view(self.dtype)


class ManualMLP:
    """Forward/backward of an ``agile.training.build_mlp`` module's parameters."""

    def __init__(self, module: nn.Sequential, dropout: DropoutBits, dtype: torch.dtype = torch.float32):
        linears = [m for m in module if isinstance(m, nn.Linear)]
        self.weights = [lin.weight for lin in linears]
        self.biases = [lin.bias for lin in linears]
        self.dropout = dropout
        self.dtype = dtype
        for p in self.parameters():
            p.requires_grad_(False)  # gradients are computed here, not by autograd

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def step_grads(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Set ``.grad`` of every parameter for one batch; returns the batch loss.

        ``x`` is in the compute dtype; ``y`` float32 0/1 for one output unit (binary cross-entropy),
        int64 class indices for several (softmax cross-entropy).
        """
        weights = [w.to(self.dtype) for w in self.weights]
        biases = [b.to(self.dtype) for b in self.biases]
        acts, pre, keeps = [x], [], []
        for w, b in zip(weights[:-1], biases[:-1]):
            z = torch.addmm(b, acts[-1], w.t())
            keep = self.dropout.keep(tuple(z.shape))
            a = torch.relu(z)
            if keep is not None:
                a.mul_(keep)
            pre.append(z)
            keeps.append(keep)
            acts.append(a)
        out = torch.addmm(biases[-1], acts[-1], weights[-1].t()).float()
        if out.shape[1] == 1:
            loss = nn.functional.binary_cross_entropy_with_logits(out[:, 0], y)
            g = torch.sigmoid(out).sub_(y[:, None])  # d loss / d logit, times the batch size
        else:
            loss = nn.functional.cross_entropy(out, y)
            g = torch.softmax(out, dim=1)
            g[torch.arange(len(y)), y] -= 1
        g = g.div_(len(y)).to(self.dtype)
        for i in range(len(weights) - 1, -1, -1):
            self.weights[i].grad = g.t().mm(acts[i]).float()
            self.biases[i].grad = g.sum(0, dtype=torch.float32)
            if i:
                g = g.mm(weights[i])
                if keeps[i - 1] is not None:
                    g.mul_(keeps[i - 1])
                g = torch.ops.aten.threshold_backward(g, pre[i - 1], 0)  # ReLU's gradient
        return float(loss)


def fit_fast(module: nn.Sequential, x: torch.Tensor, y: torch.Tensor, epochs_order, config,
             rng: np.random.Generator) -> tuple[int, float]:
    """Train ``module`` in place over the row orders ``epochs_order`` yields."""
    dtype = resolve_precision(config.precision)
    mlp = ManualMLP(module, DropoutBits(config.dropout, rng, dtype), dtype)
    x = x.to(dtype)
    optimizer = _adam(mlp.parameters(), config)
    steps, loss = 0, float("nan")
    span = config.batch_size * GATHER_BATCHES
    with torch.no_grad():
        for order in epochs_order:
            order = torch.from_numpy(order)
            for start in range(0, len(order), span):
                rows = order[start:start + span]
                xs, ys = x.index_select(0, rows), y.index_select(0, rows)
                for b in range(0, len(rows), config.batch_size):
                    loss = mlp.step_grads(xs[b:b + config.batch_size], ys[b:b + config.batch_size])
                    optimizer.step()
                    steps += 1
    for p in mlp.parameters():
        p.grad = None
        p.requires_grad_(True)
    return steps, loss


def _adam(params: list[torch.Tensor], config) -> torch.optim.Adam:
    try:
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # builds without a fused CPU Adam
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
