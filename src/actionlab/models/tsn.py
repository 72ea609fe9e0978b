"""TSN recognizer: a 2D backbone on N*T frames, dropout, fc, segment consensus.

    clip [N, C, T, H, W] -> frames [N*T, C, H, W] -> backbone -> pooled [N*T, D]
    -> dropout -> fc -> [N, T, K] -> consensus over T -> logits [N, K]

TSN paper (Wang et al., ECCV 2016) Eq. 1: TSN(T_1..T_K) = H(G(F(T_1; W), ..., F(T_K; W))),
F the shared ConvNet on one snippet, G the segmental consensus (avg here; max and a learned
softmax-weighted average as options), H the softmax applied by the loss.

TSM, TEFE and ATR are this recognizer with temporal modules in the backbone's
block slots (see `backbones/resnet.py`); the backbone needs only
`forward_features(frames) -> [N*T, D, h, w]` and `num_features`.

Partial BN (TSN paper Sec. 3.2, "cross modality pre-training ... partial BN"):
with `partial_bn=True` every BatchNorm of the backbone but the first is frozen
in training: running statistics stay those of the pretrained net (the layer is
kept in eval mode) and its affine parameters get no gradient.  Only the first BN
adapts to the new input distribution.  The norms of modules a method adds (they have
no pretrained statistics) are exempt: TEFE's TE, ATR's blocks (`partial_bn_exempt`).  The engine switches it with
`model.set_partial_bn(cfg.train.partial_bn)`.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn as nn

from .recognizer import Output, Recognizer


class TSN(Recognizer):
    backbone: Any  # ResNet / EfficientNetLite / TEA: num_features, forward_features, its own blocks

    def __init__(self, backbone: nn.Module, num_classes: int, num_segments: int, dropout: float = 0.5,
                 consensus: Literal["avg", "max", "weighted"] = "avg", init_std: float = 0.001,
                 partial_bn: bool = False):
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.consensus = consensus
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(int(self.backbone.num_features), num_classes)
        nn.init.normal_(self.fc.weight, 0.0, init_std)
        nn.init.zeros_(self.fc.bias)
        if consensus == "weighted":  # learned per-segment weights, softmax-normalised
            self.segment_weights = nn.Parameter(torch.zeros(num_segments))
        elif consensus not in ("avg", "max"):
            raise ValueError(f"unknown consensus '{consensus}', expected avg, max or weighted")
        self.partial_bn = False
        self.set_partial_bn(partial_bn)

    def frozen_norms(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """The BN layers partial BN freezes: all of the backbone's but the first, except those inside a module
        that marks itself `partial_bn_exempt` (a method's new, untrained module, e.g. an ATR block: freezing
        its zero-initialised BN would stop it from ever learning)."""
        new = {id(m) for mod in self.backbone.modules() if getattr(mod, "partial_bn_exempt", False)
               for m in mod.modules()}
        norms = [m for m in self.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        return [m for m in norms[1:] if id(m) not in new]

    def set_partial_bn(self, enabled: bool) -> None:
        """Freeze (or release) every backbone BN but the first: eval-mode statistics, no affine gradients."""
        self.partial_bn = bool(enabled)
        for bn in self.frozen_norms():
            for p in bn.parameters():
                p.requires_grad_(not self.partial_bn)
        self.train(self.training)

    def train(self, mode: bool = True) -> TSN:
        super().train(mode)
        if mode and getattr(self, "partial_bn", False):
            for bn in self.frozen_norms():
                bn.eval()
        return self

    def frame_features(self, clip: torch.Tensor) -> torch.Tensor:
        """[N, C, T, H, W] -> per-frame feature maps [N*T, D, h, w]."""
        n, c, t, h, w = clip.shape
        if t != self.num_segments:
            raise ValueError(f"model built for {self.num_segments} frames got a clip of {t}")
        frames = clip.transpose(1, 2).reshape(n * t, c, h, w)
        return self.backbone.forward_features(frames)

    def head(self, features: torch.Tensor, n: int) -> torch.Tensor:
        """Pooled per-frame features [N*T, D] -> consensus logits [N, K]."""
        scores = self.fc(self.dropout(features)).view(n, self.num_segments, -1)
        if self.consensus == "avg":
            return scores.mean(1)
        if self.consensus == "max":
            return scores.amax(1)
        weights = self.segment_weights.softmax(0).view(1, -1, 1)
        return (scores * weights).sum(1)

    def forward(self, clip: torch.Tensor) -> Output:
        maps = self.frame_features(clip)
        pooled = maps.mean((2, 3))
        return Output(self.head(pooled, clip.shape[0]), {"feature_maps": maps})


def build_tsn(backbone: nn.Module, num_classes: int, num_segments: int = 8, dropout: float = 0.5,
              consensus: Literal["avg", "max", "weighted"] = "avg", init_std: float = 0.001,
              partial_bn: bool = False) -> TSN:
    """TSN around any backbone with `forward_features` and `num_features` (temporal modules already in place)."""
    return TSN(backbone, num_classes, num_segments, dropout, consensus, init_std, partial_bn)
