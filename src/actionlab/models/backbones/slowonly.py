"""SlowOnly: the Slow pathway of SlowFast (Feichtenhofer et al., ICCV 2019) as a ResNet variant.

In stages 4 and 5 (res4, res5; `layer3`, `layer4`) the first conv of every block
becomes a k_t x 1 x 1 temporal convolution (k_t = 3); everything else stays 2D
and runs on frames [N*T, C, H, W], so the network is the ResNet of
`backbones/resnet.py` with those convs swapped (the same slots, the same
parameter names: `layer3.0.conv1.weight` is now [o, i, 3, 1, 1]).  SlowFast
Table 1 (Slow pathway, "T x S^2" kernels): res2/res3 1x1^2, res4/res5 3x1^2 in
the first conv; no temporal downsampling for the 8x8 setting.

The 3D kernels are inflated from the 2D ImageNet ones (I3D): each of the k_t
slices is W / k_t ("average", so a static clip gives the 2D response), or the
middle slice is W and the others 0 ("center", so the net starts as the 2D one).
ATR puts its blocks into the same `before_add` slots as on TSN/TSM.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ModelError
from .resnet import ResNet, blocks

SLOWONLY_STAGES = (4, 5)


class TemporalConv(nn.Module):
    """A Conv3d (k_t x kh x kw) on frames: [N*T, C, H, W] -> [N, C, T, H, W] -> conv -> [N*T, C', H', W'].

    Built from a Conv2d whose weight it inflates; the state-dict names stay `weight` (and `bias`).
    """

    def __init__(self, conv: nn.Conv2d, num_segments: int, time_kernel: int = 3,
                 inflate_init: Literal["average", "center"] = "average"):
        super().__init__()
        if time_kernel % 2 == 0:
            raise ModelError(f"SlowOnly temporal kernel must be odd (centered), got {time_kernel}")
        from ..weights import inflate_2d

        self.num_segments = num_segments
        self.time_kernel = time_kernel
        self.inflate_init = inflate_init  # read again by the weights loader when it inflates a 2D file
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.stride = (1, *conv.stride)
        self.padding = (time_kernel // 2, *conv.padding)
        self.groups = conv.groups
        self.weight = nn.Parameter(inflate_2d(conv.weight.detach(), time_kernel, inflate_init))
        self.bias = nn.Parameter(conv.bias.detach().clone()) if conv.bias is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        n, t = nt // self.num_segments, self.num_segments
        x3 = x.view(n, t, c, h, w).transpose(1, 2)
        y = F.conv3d(x3, self.weight, self.bias, self.stride, self.padding, groups=self.groups)
        return y.transpose(1, 2).reshape(nt, y.shape[1], y.shape[3], y.shape[4])

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel={tuple(self.weight.shape[2:])}, "
                f"num_segments={self.num_segments}, inflate_init={self.inflate_init}")


def make_slowonly(net: ResNet, num_segments: int, stages: tuple[int, ...] = SLOWONLY_STAGES, time_kernel: int = 3,
                  inflate_init: Literal["average", "center"] = "average") -> list[str]:
    """Turn a (pretrained) 2D ResNet into SlowOnly in place; returns the names of the inflated convs."""
    if not set(stages) <= {2, 3, 4, 5}:
        raise ModelError(f"SlowOnly stages must be among 2..5, got {sorted(stages)}")
    changed = []
    for blk, loc in blocks(net):
        if loc.stage not in stages:
            continue
        if type(blk.conv1) is not nn.Conv2d:
            raise ModelError(f"{loc.name}.conv1 is already replaced by {type(blk.conv1).__name__}")
        blk.conv1 = TemporalConv(blk.conv1, num_segments, time_kernel, inflate_init)
        changed.append(f"{loc.name}.conv1")
    return changed
