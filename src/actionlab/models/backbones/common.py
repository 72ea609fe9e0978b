"""Pieces the 2D backbones (ResNet, TEA's Res2Net, EfficientNet-Lite0) build alike."""

from __future__ import annotations

import torch.nn as nn


def shortcut(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    """The projection shortcut of a residual stage's first block (1x1 conv + BN), None when the identity fits.

    Keys `0.weight`, `1.weight`, ... match torchvision's `downsample`, so ImageNet weights load unchanged.
    """
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))


def init_conv_bn(net: nn.Module, linear_std: float | None = None) -> None:
    """He (fan-out) init of every Conv2d, BN to identity; Linear ~ N(0, linear_std), bias 0, when given.

    The init of the reference ResNet / EfficientNet code, in one place.
    """
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif linear_std is not None and isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)
