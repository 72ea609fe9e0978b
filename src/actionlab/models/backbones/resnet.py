"""ResNet-18/34/50/101 with torchvision-compatible parameter names and insertion slots.

State-dict keys match torchvision's (`conv1.weight`, `layer1.0.bn2.running_mean`,
`layer3.0.downsample.0.weight`, `fc.weight`), so official ImageNet files load
unchanged.  Every block also carries parameter-free slots that temporal modules
fill in without editing this file:

    x ──► before_conv1 ─► conv1 ─ bn1 ─ relu ─► after_conv1 ─► conv2 ─ bn2 ─ relu ─►
          conv3 ─ bn3 ─► before_add ─► (+ residual) ─ relu            (Bottleneck)

- `before_conv1`: sees the residual branch's input only (TSM's residual shift).
- `after_conv1`: after conv1-bn1-relu (TEFE's TE / TANet's TAM).
- `conv2` / `bn2`: replaceable (TEFE's FE swaps the 3x3 conv; SlowOnly swaps conv1).
- `before_add`: after the last BN, before the residual addition (ATR).

In BasicBlock the chain is conv1-bn1-relu-after_conv1-conv2-bn2-before_add.
Slots are `nn.Identity` until filled, so they add no parameters and no keys.
Use `blocks(net)` to visit every block with its `BlockLocation`.

Related: `actionlab.models.weights.build_resnet(arch, base_width, pretrained)` builds one
with its weights loaded; `backbones/slowonly.py` turns it into SlowOnly;
`temporal/shift.py` (`insert_shift`) into TSM.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from .common import init_conv_bn, shortcut


def conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False)


if TYPE_CHECKING:
    from ..weights import LoadReport

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.in_channels, self.width, self.out_channels = in_ch, width, width * self.expansion
        self.before_conv1: nn.Module = nn.Identity()
        self.conv1: nn.Module = conv3x3(in_ch, width, stride)
        self.bn1: nn.Module = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.after_conv1: nn.Module = nn.Identity()
        self.conv2: nn.Module = conv3x3(width, width)
        self.bn2: nn.Module = nn.BatchNorm2d(width)
        self.before_add: nn.Module = nn.Identity()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.after_conv1(self.relu(self.bn1(self.conv1(self.before_conv1(x)))))
        out = self.before_add(self.bn2(self.conv2(out)))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.in_channels, self.width, self.out_channels = in_ch, width, width * self.expansion
        self.before_conv1: nn.Module = nn.Identity()
        self.conv1: nn.Module = conv1x1(in_ch, width)
        self.bn1: nn.Module = nn.BatchNorm2d(width)
        self.after_conv1: nn.Module = nn.Identity()
        self.conv2: nn.Module = conv3x3(width, width, stride)  # torchvision v1.5: stride on the 3x3
        self.bn2: nn.Module = nn.BatchNorm2d(width)
        self.conv3: nn.Module = conv1x1(width, width * self.expansion)
        self.bn3: nn.Module = nn.BatchNorm2d(width * self.expansion)
        self.before_add: nn.Module = nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.after_conv1(self.relu(self.bn1(self.conv1(self.before_conv1(x)))))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.before_add(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


ARCHS: dict[str, tuple[type[BasicBlock] | type[Bottleneck], list[int]]] = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
}


@dataclass(frozen=True)
class BlockLocation:
    """Where a block sits. `stage` counts as the papers do: 2..5 for layer1..layer4."""

    stage: int
    index: int  # position inside the stage, from 0
    num_blocks: int  # blocks in this stage
    in_channels: int
    width: int  # channels inside the block (conv1/conv2 outputs)
    out_channels: int
    name: str  # e.g. "layer2.0"


class ResNet(nn.Module):
    """2D ResNet on frames [N*T, 3, H, W].

    base_width scales every stage (64 for the real nets; 8 or 16 for tiny test
    and demo models). num_classes=0 leaves out the ImageNet fc.
    """

    pretrained_report: LoadReport | None = None  # what the weights file gave (models/weights.py)

    def __init__(self, arch: str = "resnet50", base_width: int = 64, num_classes: int = 0):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown ResNet arch '{arch}', expected one of {sorted(ARCHS)}")
        block, layers = ARCHS[arch]
        self.arch = arch
        self.block_type = block
        self.base_width = base_width
        self.conv1 = nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = base_width
        for i, n in enumerate(layers):
            width = base_width * 2**i
            stride = 1 if i == 0 else 2
            out_ch = width * block.expansion
            first = block(in_ch, width, stride, shortcut(in_ch, out_ch, stride))
            stage = [first] + [block(out_ch, width) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            in_ch = out_ch
        self.num_features = in_ch
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc: nn.Module = nn.Linear(in_ch, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        init_conv_bn(self)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[N*T, 3, H, W] -> feature maps [N*T, C, h, w] of the last stage."""
        x = self.stem(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


def blocks(net: ResNet) -> Iterator[tuple[nn.Module, BlockLocation]]:
    """Every residual block with its location, stage by stage."""
    for i in range(1, 5):
        stage: nn.Sequential = getattr(net, f"layer{i}")
        for j, blk in enumerate(stage):
            assert isinstance(blk, (BasicBlock, Bottleneck))
            loc = BlockLocation(i + 1, j, len(stage), blk.in_channels, blk.width, blk.out_channels, f"layer{i}.{j}")
            yield blk, loc
