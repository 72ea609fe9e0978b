"""ART's cost over its backbone: MACs, parameters, CPU latency, side by side.

    python benchmarks/art_cost.py                       # TEA-R50, TSM-R50, CLIP ViT-B/16; 16 x 224
    python benchmarks/art_cost.py --pairs tea --frames 8 --repeats 3

MACs are FLOPs / 2 as `torch.utils.flop_counter.FlopCounterMode` counts them (convolutions,
matmuls, attention; the papers' "GFLOPs" are MACs). Each backbone is the recognizer ART is built on
(the same TSN-style model with its own classifier), so the difference is exactly what ART adds:
projections, top-K selection, 4 spatial-enhancement + 4 RSSA layers at d=256, K=2 tracklets,
aggregation and the concat classifier; the text bank (18 prompts x classes) is a stored buffer.
Latency: batch 1, inference mode, the two models timed round-robin (one forward each per round)
so load changes on a shared machine hit both alike; median of the timed rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from actionlab.models.registry import create_model

PAIRS = {
    "tea": ("tea_r50", "art_tea_r50", {}),
    "tsm": ("tsm_r50", "art_tsm_r50", {}),
    "clip": (None, "art_clip_vit_b16", {}),  # the backbone alone: ART's own frame encoder + Eq. 10 classifier
}


def macs(model: torch.nn.Module, clip: torch.Tensor) -> int:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(clip)
    return counter.get_total_flops() // 2


class BackboneOnly(torch.nn.Module):
    """An ART model's frame encoder and its Eq. 10 classifier: the backbone-alone baseline."""

    def __init__(self, art: torch.nn.Module):
        super().__init__()
        self.frames = art.frames

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.frames(clip).logits


def params(model: torch.nn.Module) -> int:
    """Parameters used at inference: ART's training-only parts (the agent bank S^a and the prototype
    MLP of Eqs. 13-16) are left out; the tuned bank S is a buffer, listed separately."""
    head = getattr(model, "head", None)
    skip = set()
    if head is not None and hasattr(head, "bank"):
        skip = {id(head.bank.agent)}
        if head.prototype_mlp is not None:
            skip |= {id(q) for q in head.prototype_mlp.parameters()}
        if head.free_prototypes is not None:
            skip.add(id(head.free_prototypes))
    return sum(q.numel() for q in model.parameters() if id(q) not in skip)


def latency(models: list[torch.nn.Module], clip: torch.Tensor, warmup: int, repeats: int) -> list[float]:
    runs: list[list[float]] = [[] for _ in models]
    with torch.inference_mode():
        for r in range(warmup + repeats):
            for i, m in enumerate(models):
                start = time.perf_counter()
                m(clip)
                if r >= warmup:
                    runs[i].append((time.perf_counter() - start) * 1000)
    return [statistics.median(x) for x in runs]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--num-classes", type=int, default=99)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-latency", action="store_true")
    args = p.parse_args()
    torch.manual_seed(0)
    clip = torch.randn(1, 3, args.frames, args.size, args.size)
    print(f"{args.frames} frames x {args.size}^2, {args.num_classes} classes, batch 1, "
          f"{torch.get_num_threads()} CPU threads")
    print("| backbone | GMACs | ART GMACs | +% | params (M) | ART params (M) | +% | latency ms | ART ms | x |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in args.pairs:
        base_name, art_name, kwargs = PAIRS[key]
        art = create_model(art_name, num_classes=args.num_classes, num_segments=args.frames, **kwargs).eval()
        if base_name is None:
            base = BackboneOnly(art).eval()
            base_name = f"{art_name} backbone"
        else:
            base = create_model(base_name, num_classes=args.num_classes, num_segments=args.frames).eval()
        base_macs, art_macs = macs(base, clip), macs(art, clip)
        base_params, art_params = params(base), params(art)
        if args.no_latency:
            lat = ["-", "-", "-"]
        else:
            b, a = latency([base, art], clip, args.warmup, args.repeats)
            lat = [f"{b:.0f}", f"{a:.0f}", f"{a / b:.3f}"]
        print(f"| {base_name} | {base_macs / 1e9:.2f} | {art_macs / 1e9:.2f} | "
              f"{100 * (art_macs / base_macs - 1):+.2f} | {base_params / 1e6:.2f} | {art_params / 1e6:.2f} | "
              f"{100 * (art_params / base_params - 1):+.2f} | {' | '.join(lat)} |", flush=True)


if __name__ == "__main__":
    main()
