"""Recipes of the two baselines every paper compares against, on the tiny demo backbone.

TSN is the reference without temporal modelling: its average consensus cannot tell a
video from its time reversal, so on the 'order' variant it stays at chance inside each
pair of classes.  TSM adds the zero-parameter temporal shift and is compared with TSN.
Both use a tiny random-init ResNet-18 (base width 16) at 32 px: on 2 CPU cores it learns
the benchmark in minutes, where EfficientNet-Lite0 with its ImageNet weights (56 px) trains
~10x fewer clips per second and stays near chance in the same budget (benchmarks/engine.md).
"""

from __future__ import annotations

from . import Recipe

# ImageNet features need more pixels than the tiny ResNet's 32; fine-tuning takes a lower lr
_LITE0 = {"model.pretrained": "imagenet", "data.scale_size": 64, "data.input_size": 56, "optim.lr": 0.01}

RECIPES = [
    Recipe("tsn", model="tsn_r18_tiny", variant="order",
           description="TSN: 2D ResNet on 8 frames, average consensus (no temporal modelling)"),
    Recipe("tsm", model="tsm_r18_tiny", baseline="tsn", variant="order",
           description="TSM: TSN + residual temporal shift of 1/8 of the channels each way"),
    Recipe("tsn_lite0", model="tsn_lite0", variant="order", overrides=_LITE0,
           description="TSN on EfficientNet-Lite0 with its shipped ImageNet weights, 56 px"),
    Recipe("tsm_lite0", model="tsm_lite0", baseline="tsn_lite0", variant="order", overrides=_LITE0,
           description="TSM on EfficientNet-Lite0 with its shipped ImageNet weights, 56 px"),
]
