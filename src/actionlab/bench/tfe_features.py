"""The temporal models of `bench tfe` on features a frozen encoder computed once (sweep and factors).

`pool_encode` is the weight-free encoder (frames average-pooled to a grid); `build` makes a vanilla
attention model or TFE on cached features; `train_one` trains one with the engine's optimizer and
schedule and the model's training strategy; `evaluate` scores top-1, cue-following and temporal fidelity.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

MODELS = ("vanilla_2l", "vanilla_6l", "vanilla_1l", "tfe", "tfe_negative")


def pool_encode(frames: np.ndarray, grid: int) -> torch.Tensor:
    """The frozen, weight-free encoder: uint8 [N, F, S, S, 3] -> [N, F, 3 * grid^2], each frame
    average-pooled to grid x grid and scaled to about unit variance."""
    import torch

    x = torch.from_numpy(frames).float().permute(0, 1, 4, 2, 3)  # [N, F, 3, S, S]
    n, f = x.shape[:2]
    pooled = torch.nn.functional.adaptive_avg_pool2d(x.flatten(0, 1), grid)  # [N*F, 3, g, g]
    return ((pooled - 128.0) / 64.0).reshape(n, f, -1)


def build(kind: str, dim: int, num_classes: int, segments: int, width: int) -> torch.nn.Module:
    import torch

    from ..models.tfe import FrameEncoder, TFEModel, VanillaTemporalModel

    class CachedFeatures(torch.nn.Module):
        """Stands in for the frozen encoder whose outputs were computed once: clips are features [N, D, T, 1, 1]."""

        def __init__(self, dim: int):
            super().__init__()
            self.num_features = dim

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return x

    encoder = FrameEncoder(CachedFeatures(dim), "cnn", dim, freeze=False)
    common: dict[str, Any] = dict(num_classes=num_classes, num_segments=segments, width=width, heads=4, dropout=0.1)
    if kind.startswith("vanilla_"):
        return VanillaTemporalModel(encoder, num_layers=int(kind.split("_")[1].rstrip("l")), **common)
    if kind in ("tfe", "tfe_negative"):
        return TFEModel(encoder, num_layers=1, **common)
    raise ValueError(f"unknown model '{kind}': expected one of {', '.join(MODELS)}")


def sample_segments(num_frames: int, segments: int, train: bool, n: int) -> torch.Tensor:
    """TSN sampling, the data package's `SegmentSampler` (the one training and testing use): a random frame
    per segment (train, drawn from torch's seeded generator) or the middle frames (test) -> [n, T]."""
    import numpy as np
    import torch

    from ..data.sampling import SegmentSampler

    sampler = SegmentSampler(segments)
    if not train:
        return torch.from_numpy(sampler(num_frames, np.random.default_rng(0), train=False)).expand(n, segments)
    rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
    return torch.from_numpy(np.concatenate([sampler(num_frames, rng, train=True) for _ in range(n)]))


def _clips(feats: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    import torch

    x = torch.gather(feats, 1, idx[..., None].expand(-1, -1, feats.shape[-1]))  # [n, T, D]
    return x.transpose(1, 2)[..., None, None]  # [n, D, T, 1, 1]


def evaluate(model: torch.nn.Module, split: dict[str, torch.Tensor], segments: int) -> dict[str, float]:
    """top-1, share predicted as the cue's class, temporal fidelity (mass, uniform share, AUC)."""
    import torch

    from ..fidelity import FidelityMeter
    from ..models.recognizer import evaluating

    feats, labels = split["features"], split["labels"]
    idx = sample_segments(feats.shape[1], segments, False, len(labels))
    with evaluating(model):
        out = model(_clips(feats, idx))
    pred = out.logits.argmax(-1)
    meter = FidelityMeter()
    meter.update(out.extras["attention"], torch.gather(split["masks"], 1, idx))
    scores = meter.compute()
    return {"top1": float((pred == labels).float().mean()), "cue": float((pred == split["cues"]).float().mean()),
            "mass": scores["fidelity_mass"], "chance": scores["fidelity_chance"], "auc": scores["fidelity_auc"]}


def train_one(kind: str, data: dict[str, dict[str, torch.Tensor]], seed: int, args: argparse.Namespace
              ) -> tuple[torch.nn.Module, dict[str, Any]]:
    import torch

    from ..config import OptimConfig
    from ..engine.optim import Schedule, build_optimizer
    from ..models import tfe as tfe_mod

    torch.manual_seed(seed)
    feats, labels = data["train"]["features"], data["train"]["labels"]
    model = build(kind, feats.shape[-1], int(labels.max()) + 1, args.segments, args.width)
    strategy = (tfe_mod.TFEStrategy(adversary="negative" if kind == "tfe_negative" else "uniform")
                if kind.startswith("tfe") else tfe_mod.TrainStrategy())
    cfg = OptimConfig(name="adamw", lr=args.lr, weight_decay=0.05, schedule="cosine", warmup_epochs=1, clip_grad=5.0)
    optimizers = strategy.build_optimizers(model, lambda m: build_optimizer(m, cfg))
    steps = math.ceil(len(labels) / args.batch_size)
    schedules = [Schedule(o, cfg, steps, args.epochs) for o in optimizers.values()]
    model.train()
    last: dict[str, float] = {}
    for _epoch in range(args.epochs):
        order = torch.randperm(len(labels))
        last = {}
        for b in range(steps):
            batch = order[b * args.batch_size:(b + 1) * args.batch_size]
            idx = sample_segments(feats.shape[1], args.segments, True, len(batch))
            ctx = tfe_mod.StepContext(model, optimizers, clip_grad=cfg.clip_grad)
            logs = strategy.train_step(ctx, _clips(feats[batch], idx), labels[batch])
            for s in schedules:
                s.step()
            for k, v in logs.items():
                last[k] = last.get(k, 0.0) + float(v) / steps  # strategies may log tensors
    return model, {"val": evaluate(model, data["val"], args.segments),
                   "test": evaluate(model, data["test"], args.segments),
                   "last_epoch": {k: round(v, 4) for k, v in last.items()}}
