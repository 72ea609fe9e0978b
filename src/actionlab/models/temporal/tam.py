"""TE: TEFE's temporal extraction module (Jiang & Zhang, IEEE Access 2022, Eqs. 1-6) = TANet's TAM.

Input and output are frame tensors [N*T, C, H, W] (how ResNet block slots see them):

    X [N, C, T, H, W] --spatial mean (Eq. 1)--> X^S [N, C, T]
    short-term (Eqs. 2-4): M = sigmoid(Conv_exp(ReLU(BN(Conv_r(X^S)))))   Conv_r: C -> C/r, k=3
                           X^0 = M (.) X                                  per channel and frame
    long-term  (Eqs. 5-6): q_c = softmax(FC_2(ReLU(BN(FC_1(X^S_c)))))     FC_1: T -> 2T, FC_2: 2T -> K
                           Y = q (x) X^0                                  depthwise temporal conv, kernel q_c

The long-term branch learns one K-tap temporal kernel per (video, channel) from
that channel's whole pooled time series, so it is built for a fixed number of
segments T (any T >= 1). K must be odd so the convolution keeps T ("same"
zero padding, as in TANet). The paper fixes r = 4 and K = 3; both are options.

Reading: like TANet, the module is not identity at initialisation (the sigmoid
gate and the softmax kernel start near 0.5 and 1/K), so only FE carries the
"equals the 2D network before training" property (see `bilinear.py`).
Reference read: liu-zhy/temporal-adaptive-module, MMAction2 `models/common/tam.py`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ModelError


class TemporalExtraction(nn.Module):
    """TE module (= TAM). `channels` C, `num_segments` T, temporal kernel size K, channel reduction r."""

    def __init__(self, channels: int, num_segments: int, kernel_size: int = 3, reduction: int = 4,
                 long_term_expansion: int = 2):
        super().__init__()
        if num_segments < 1:
            raise ModelError(f"TE needs num_segments >= 1, got {num_segments}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ModelError(f"model.kwargs.te_kernel_size must be a positive odd number (K), got {kernel_size}")
        if reduction < 1:
            raise ModelError(f"model.kwargs.te_reduction must be >= 1 (r), got {reduction}")
        self.channels = channels
        self.num_segments = num_segments
        self.kernel_size = kernel_size
        reduced = max(1, channels // reduction)
        hidden = long_term_expansion * num_segments
        # Eqs. 2-3: Conv_r (k=3 over time, C -> C/r) then Conv_exp (k=1, C/r -> C); sigmoid in forward.
        self.short_term = nn.Sequential(
            nn.Conv1d(channels, reduced, 3, padding=1, bias=False),
            nn.BatchNorm1d(reduced),
            nn.ReLU(inplace=True),
            nn.Conv1d(reduced, channels, 1, bias=False),
        )
        # Eq. 5: two FC layers over the T pooled values of one channel; softmax over K in forward.
        self.long_term = nn.Sequential(
            nn.Linear(num_segments, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, kernel_size, bias=False),
        )

    def branches(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [N*T, C, H, W] -> motion weights M [N, C, T] (Eq. 3) and kernels q [N, C, K] (Eq. 5)."""
        nt, c, h, w = x.shape
        t = self.num_segments
        if nt % t:
            raise ModelError(f"TE built for {t} segments got {nt} frames (not a multiple)")
        n = nt // t
        pooled = x.mean((2, 3)).view(n, t, c).transpose(1, 2)  # Eq. 1: X^S [N, C, T]
        motion = torch.sigmoid(self.short_term(pooled))  # Eqs. 2-3
        kernels = F.softmax(self.long_term(pooled.reshape(n * c, t)), dim=-1).view(n, c, self.kernel_size)
        return motion, kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        t = self.num_segments
        motion, kernels = self.branches(x)
        n = nt // t
        x0 = x.view(n, t, c, h, w) * motion.transpose(1, 2).reshape(n, t, c, 1, 1)  # Eq. 4
        return temporal_depthwise_conv(x0, kernels).reshape(nt, c, h, w)  # Eq. 6


def temporal_depthwise_conv(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Eq. 6: Y[n, t, c] = sum_k q[n, c, k] X[n, t + k - K//2, c], zero-padded in time.

    x [N, T, C, H, W], kernels [N, C, K]. Written as K shifted multiply-adds (not a grouped conv with
    N*C groups) because K is tiny: cheaper on CPU, and it exports to ONNX as plain elementwise ops.
    """
    n, t, c, h, w = x.shape
    k = kernels.shape[-1]
    pad = k // 2
    padded = F.pad(x, (0, 0, 0, 0, 0, 0, pad, pad))  # zero frames before and after
    out = torch.zeros_like(x)
    for i in range(k):
        out = out + padded[:, i:i + t] * kernels[:, :, i].reshape(n, 1, c, 1, 1)
    return out


# TANet's name for the same module.
TAM = TemporalExtraction
