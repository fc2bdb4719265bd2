"""The MLP and a logistic regression as one model: the mean of their logits, folded into a wider MLP.

An ensemble of the paper's MLP (trained with random negatives) and a logistic regression on the
rated images alone often ranks better than either. Kept as one ``nn.Sequential`` of the same
Linear -> ReLU -> Dropout form, it scores, quantises and exports exactly like any version: the
linear logit ``z = w.x + b`` rides through the hidden layers as two extra units ``relu(z)`` and
``relu(-z)`` (non-negative, so each later ReLU passes them unchanged, and dropout is the identity
when scoring), and the output layer adds ``(relu(z) - relu(-z)) / 2 = z / 2`` to half the MLP's
logit. Every hidden layer is two units wider than the MLP's.
"""
from __future__ import annotations

import torch
from torch import nn

EXTRA_UNITS = 2  # relu(z) and relu(-z) of the linear logit


@torch.no_grad()
def fold_ensemble(mlp: nn.Sequential, weight: torch.Tensor, bias: torch.Tensor, into: nn.Sequential) -> nn.Sequential:
    """Write the mean-logit ensemble of ``mlp`` and the linear model (``weight`` (dim,), ``bias``) into
    ``into``, an MLP of the same depth whose hidden layers are EXTRA_UNITS wider; returns ``into``."""
    src = [m for m in mlp if isinstance(m, nn.Linear)]
    dst = [m for m in into if isinstance(m, nn.Linear)]
    if len(src) != len(dst) or len(src) < 2:
        raise ValueError("the ensemble needs an MLP with hidden layers and a target of the same depth")
    for lin in dst:
        lin.weight.zero_()
        lin.bias.zero_()
    first = src[0].out_features
    dst[0].weight[:first] = src[0].weight
    dst[0].bias[:first] = src[0].bias
    dst[0].weight[first], dst[0].bias[first] = weight, bias
    dst[0].weight[first + 1], dst[0].bias[first + 1] = -weight, -bias
    for s, d in zip(src[1:-1], dst[1:-1]):
        n_out, n_in = s.weight.shape
        d.weight[:n_out, :n_in] = s.weight
        d.bias[:n_out] = s.bias
        d.weight[n_out, n_in] = d.weight[n_out + 1, n_in + 1] = 1.0  # carry relu(z), relu(-z) on
    last = src[-1].in_features
    dst[-1].weight[0, :last] = src[-1].weight[0] / 2
    dst[-1].weight[0, last], dst[-1].weight[0, last + 1] = 0.5, -0.5
    dst[-1].bias[0] = src[-1].bias[0] / 2
    return into
