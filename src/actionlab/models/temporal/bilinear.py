"""FE: TEFE's feature enhancement module, a low-rank (Hadamard) bilinear block (Eqs. 9-11).

    Eq. 9:  y = u(w1 x * w2 x')           Hadamard low-rank approximation of bilinear pooling
    Eq. 10: Y = U(Conv1(X) * Conv2(X))    Conv1, Conv2: 3x3x3 convolutions over [N, C, T, H, W]
    Eq. 11: Conv2 weights 0, bias 1  =>  Conv1(X) * Conv2(X) = Conv1(X)

This module computes the product `BN(Conv1 X) * Conv2 X` and takes the place of
a block's 3x3 convolution and its BN; U is the block's next convolution, so
inside a ResNet block the chain reads FE -> ReLU -> U -> BN (as in the reference
BottleneckIABP of zhuxinqimac/abm-pytorch, which was read, not copied):

- Bottleneck: FE fills the `conv2` slot (the 3x3, carrying the stride), `bn2`
  becomes Identity (its parameters move into FE), U = conv3.
- BasicBlock: FE fills the `conv1` slot (the first 3x3, carrying the stride),
  `bn1` becomes Identity, U = the block's second 3x3 conv2 (+ bn2).

`from_2d` implements the paper's initialisation: Conv1's middle temporal slice
is the 2D kernel and its other slices are 0; the BN is the 2D block's BN;
Conv2 has zero weights and bias 1. A network with FE built from a 2D ResNet's
weights therefore computes exactly what that ResNet computes frame by frame.
Temporal padding is zeros, temporal stride 1 (frames are kept), the spatial
stride and padding are the 2D convolution's.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ...errors import ModelError


class FeatureEnhancement(nn.Module):
    """Y = BN(Conv1 X) * Conv2 X on frames [N*T, C_in, H, W] -> [N*T, C_out, H', W']."""

    def __init__(self, in_channels: int, out_channels: int, num_segments: int, stride: int = 1,
                 kernel_size: int = 3, temporal_kernel_size: int = 3):
        super().__init__()
        if temporal_kernel_size < 1 or temporal_kernel_size % 2 == 0:
            raise ModelError(f"model.kwargs.fe_temporal_kernel_size must be a positive odd number, "
                             f"got {temporal_kernel_size}")
        self.num_segments = num_segments
        size = (temporal_kernel_size, kernel_size, kernel_size)
        padding = (temporal_kernel_size // 2, kernel_size // 2, kernel_size // 2)
        stride3 = (1, stride, stride)
        self.conv1 = nn.Conv3d(in_channels, out_channels, size, stride3, padding, bias=False)
        self.bn1 = nn.BatchNorm3d(out_channels)
        self.conv2 = nn.Conv3d(in_channels, out_channels, size, stride3, padding, bias=True)

    @classmethod
    def from_2d(cls, conv: nn.Conv2d, bn: nn.BatchNorm2d, num_segments: int,
                temporal_kernel_size: int = 3) -> FeatureEnhancement:
        """Eq. 11 initialisation from a block's 2D 3x3 conv and its BN (weights, running stats)."""
        if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
            raise ModelError(f"FE replaces a Conv2d + BatchNorm2d pair, got {type(conv).__name__} + "
                             f"{type(bn).__name__} (is the slot already filled?)")
        kh, kw = conv.kernel_size
        if kh != kw or conv.groups != 1 or conv.dilation != (1, 1) or conv.stride[0] != conv.stride[1] \
                or conv.padding != (kh // 2, kw // 2):
            raise ModelError(f"FE expects a square, ungrouped, undilated 'same'-padded conv, got {conv}")
        fe = cls(conv.in_channels, conv.out_channels, num_segments, conv.stride[0], kh, temporal_kernel_size)
        fe.to(device=conv.weight.device, dtype=conv.weight.dtype)
        with torch.no_grad():
            fe.conv1.weight.zero_()
            fe.conv1.weight[:, :, temporal_kernel_size // 2] = conv.weight
            fe.conv2.weight.zero_()
            assert fe.conv2.bias is not None  # built with a bias
            fe.conv2.bias.fill_(1.0)
        # BatchNorm2d and BatchNorm3d hold the same tensors (weight, bias, running stats, counter).
        fe.bn1.load_state_dict(bn.state_dict())
        fe.bn1.eps, fe.bn1.momentum = bn.eps, bn.momentum
        return fe

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        t = self.num_segments
        if nt % t:
            raise ModelError(f"FE built for {t} segments got {nt} frames (not a multiple)")
        clip = x.view(nt // t, t, c, h, w).transpose(1, 2)  # [N, C, T, H, W]
        out = self.bn1(self.conv1(clip)) * self.conv2(clip)  # Eq. 10 without U (U is the block's next conv)
        n, c_out, _, h_out, w_out = out.shape
        return out.transpose(1, 2).reshape(nt, c_out, h_out, w_out)
