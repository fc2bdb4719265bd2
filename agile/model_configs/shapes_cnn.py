"""``agile_shapes_cnn``: the demo CLIP's image trunk, registered with timm so open_clip builds it by name.

A plain stack of 3x3 convolutions with max-pooling (VGG-style), sized for
64-pixel scenes on a CPU. Measured on the demo world, a trunk that keeps full
resolution for its first convolution and pools by maximum learns shapes
within a few hundred steps, where open_clip's ``ModifiedResNet`` (whose stem
averages the image down fourfold at once) and a ViT with 8-pixel patches
stayed at chance in the same budget. The features are the channel-wise
maximum (is a part there?) and mean (how much of it?) over positions, so
shape and count both survive the pooling. open_clip's ``TimmModel`` adds the
linear projection to the embedding.

``agile_shapes_cnn_early`` also pools the second convolution's channels. In
the plain trunk, colour had to share the last block's 128 channels with shape
and count; measured on the demo world, the model that learned colour lost
part of its shape ceiling. The early channels carry colour before the deep
layers mix it with shape, so the deep ones are left for shape.
"""
from __future__ import annotations

import torch
from torch import nn

NAME = "agile_shapes_cnn"
NAME_EARLY = "agile_shapes_cnn_early"
# (output channels, max-pool after) per 3x3 convolution.
LAYERS = ((16, True), (32, True), (64, False), (64, True), (128, False), (128, False))
EARLY_TAP = 1  # the convolution NAME_EARLY pools besides the last: 32 channels, after its max-pool


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ShapesCNN(nn.Module):
    """Convolutions, then global max and mean pooling of the tapped ones concatenated.

    ``(n, 3, H, W) -> (n, 2 * sum of tapped channels)``; the last convolution is always tapped.
    """

    def __init__(self, layers=LAYERS, taps: tuple[int, ...] = (), in_chans: int = 3):
        super().__init__()
        blocks, ends, cin = [], [], in_chans  # ends[t]: the block index where convolution t ends
        for cout, pool in layers:
            blocks.append(_conv(cin, cout))
            if pool:
                blocks.append(nn.MaxPool2d(2))
            ends.append(len(blocks) - 1)
            cin = cout
        self.features = nn.Sequential(*blocks)  # flat, so the shipped checkpoints' keys stay valid
        tapped = sorted(set(taps) | {len(layers) - 1})
        self.taps = frozenset(ends[t] for t in tapped)
        self.num_features = 2 * sum(layers[t][0] for t in tapped)
        # What timm's adapters read: no pretrained weights, pooling done here.
        self.default_cfg = self.pretrained_cfg = {"pool_size": None, "num_classes": 0}

    def reset_classifier(self, num_classes: int = 0, global_pool: str | None = None) -> None:
        if num_classes:
            raise ValueError(f"{NAME} has no classifier head; open_clip projects its features")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.taps:
                pooled += [x.amax(dim=(2, 3)), x.mean(dim=(2, 3))]
        return torch.cat(pooled, dim=1)


def _no_pretrained(name: str, pretrained: bool) -> None:
    if pretrained:
        raise ValueError(f"{name} has no pretrained weights of its own; load a checkpoint through open_clip")


def register() -> None:
    """Make ``timm.create_model`` build a ``ShapesCNN`` by ``NAME`` and by ``NAME_EARLY`` (idempotent)."""
    import timm.models

    if NAME in timm.models.list_models(NAME):
        return

    @timm.models.register_model
    def agile_shapes_cnn(pretrained: bool = False, **kwargs) -> ShapesCNN:
        _no_pretrained(NAME, pretrained)
        return ShapesCNN()

    @timm.models.register_model
    def agile_shapes_cnn_early(pretrained: bool = False, **kwargs) -> ShapesCNN:
        _no_pretrained(NAME_EARLY, pretrained)
        return ShapesCNN(taps=(EARLY_TAP,))
