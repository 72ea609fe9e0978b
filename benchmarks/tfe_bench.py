"""TFE benchmarks (results in benchmarks/tfe.md).

    python benchmarks/tfe_bench.py flops                   # GMACs / parameters: vanilla vs TFE (Table 4)
    python benchmarks/tfe_bench.py distractor [--epochs N] # vanilla attention vs TFE on the built-in
                                                           # 'distractor' variant: accuracy + temporal fidelity
    python benchmarks/tfe_bench.py adversary [--steps N]   # -L_N plain vs bounded surrogates (divergence)

FLOPs come from torch.utils.flop_counter.FlopCounterMode on the meta device (shapes only,
nothing is downloaded or computed); MACs = FLOPs / 2, as the papers count.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------- FLOPs / parameters


def _temporal_forward(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Segment embeddings x [N, T, d] -> logits through everything after the frame encoder."""
    from actionlab.models.tfe import TFEModel

    x = model.pos(model.embed_proj(x))
    for block in model.blocks:
        x, _ = block(x)
    if isinstance(model, TFEModel):
        parts = model.disentangler(x, nonsalient=not model.salient_only_at_inference)
        return model.approximate(parts)[0]
    return model.head(x)[0]


def _count(fn, *args) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def flops_table(pairs: list[tuple[str, str, dict[str, Any]]], num_classes: int) -> list[dict[str, Any]]:
    from actionlab.models.registry import create_model, model_info
    from actionlab.models.tfe import TFEModel

    rows = []
    for label, name, kwargs in pairs:
        with torch.device("meta"):
            model = create_model(name, num_classes=num_classes, **kwargs).eval()
        info = model_info(name)
        t = model.num_segments
        clip = torch.empty(1, 3, t, info.input_size, info.input_size, device="meta")
        x = torch.empty(1, t, model.encoder.out_dim, device="meta")
        for salient_only in ([False, True] if isinstance(model, TFEModel) else [False]):
            if isinstance(model, TFEModel):
                model.salient_only_at_inference = salient_only
            total = _count(model, clip)
            temporal = _count(_temporal_forward, model, x)
            head_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
            if salient_only:
                head_params -= sum(p.numel() for n, p in model.named_parameters()
                                   if n.startswith("approx_n.") or ".f_n." in n or ".f_dn." in n)
            layers = len(model.blocks) + (1 if isinstance(model, TFEModel) else 0)
            rows.append({
                "model": label + (" (salient path only)" if salient_only else ""),
                "layers": layers,
                "gmacs_total": total / 2e9,
                "gmacs_temporal": temporal / 2e6,  # MMACs
                "params_total_m": sum(p.numel() for p in model.parameters()) / 1e6,
                "params_temporal_m": head_params / 1e6,
            })
    return rows


def run_flops(args: argparse.Namespace) -> None:
    pairs = [
        ("vanilla_temporal_clip_vit_b16 (6 layers)", "vanilla_temporal_clip_vit_b16", {}),
        ("tfe_clip_vit_b16 (1 layer + TD)", "tfe_clip_vit_b16", {}),
        ("tfe_clip_vit_b16 (5 layers + TD, last layer replaced)", "tfe_clip_vit_b16", {"num_layers": 5}),
        ("vanilla_temporal_clip_vit_l14 (6 layers)", "vanilla_temporal_clip_vit_l14", {}),
        ("tfe_clip_vit_l14 (1 layer + TD)", "tfe_clip_vit_l14", {}),
        ("vanilla_temporal_tiny (2 layers)", "vanilla_temporal_tiny", {}),
        ("tfe_tiny (1 layer + TD)", "tfe_tiny", {}),
    ]
    rows = flops_table(pairs, args.num_classes)
    print(f"| model ({args.num_classes} classes) | temporal layers | GMACs total | temporal MMACs "
          "| params total (M) | params temporal (M) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['layers']} | {r['gmacs_total']:.2f} | {r['gmacs_temporal']:.1f} "
              f"| {r['params_total_m']:.2f} | {r['params_temporal_m']:.2f} |")


# ---------------------------------------------------------------------------- distractor benchmark


def _config(data_yaml: Path, overrides: list[str], epochs: int, work_dir: Path):
    """configs/demo.yaml (the demo's budget and data pipeline) + the generated data + a recipe's overrides."""
    from actionlab.config import _deep_merge, apply_overrides, from_dict, read_yaml

    base = _deep_merge(read_yaml(REPO / "configs" / "demo.yaml"), read_yaml(data_yaml))
    base = apply_overrides(base, overrides + [
        f"train.epochs={epochs}", f"train.work_dir={work_dir}", "train.device=cpu", "data.num_workers=0",
        "train.log_every=1000"])
    return from_dict(base)


@torch.no_grad()
def evaluate_split(model: torch.nn.Module, cfg, split: str) -> dict[str, float]:
    """Top-1 and temporal fidelity of `model` on one split (one view per video)."""
    from torch.utils.data import DataLoader

    from actionlab.data import build_dataset, collate
    from actionlab.engine.runtime import model_mean_std, prepare_clip
    from actionlab.fidelity import FidelityMeter

    dataset = build_dataset(cfg, split)
    loader = DataLoader(dataset, batch_size=8, shuffle=False, collate_fn=collate, num_workers=0)
    mean, std = model_mean_std(model)
    model.eval()
    meter, correct, total = FidelityMeter(), 0, 0
    for batch in loader:
        if batch is None:
            continue
        clip = prepare_clip(batch["clip"], torch.device("cpu"), mean, std).flatten(0, 1)  # [B*V, C, T, H, W]
        out = model(clip)
        correct += int((out.logits.argmax(-1) == batch["label"]).sum())
        total += len(batch["label"])
        if "action_mask" in batch:
            meter.update(out.extras["attention"], batch["action_mask"].flatten(0, 1))
    scores = meter.compute()
    return {"top1": correct / max(total, 1), "mass": scores["fidelity_mass"], "chance": scores["fidelity_chance"],
            "auc": scores["fidelity_auc"], "videos": total}


def _runs() -> dict[str, list[str]]:
    """The recipes of actionlab/recipes/tfe.py as config overrides, plus TFE with the plain -L_N."""
    from actionlab.recipes import get_recipe

    vanilla, tfe = get_recipe("vanilla_attention"), get_recipe("tfe")
    return {"vanilla": vanilla.config_overrides(), "tfe": tfe.config_overrides(),
            "tfe_negative": tfe.config_overrides() + ["train.strategy_kwargs.adversary=negative",
                                                      "name=tfe_negative"]}


def run_distractor(args: argparse.Namespace) -> None:
    from actionlab.data.synthetic import generate
    from actionlab.engine.build import build_model
    from actionlab.engine.checkpoint import load_checkpoint, load_model_state
    from actionlab.engine.trainer import train

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    root = Path(args.out)
    data_dir = root / "distractor"
    if not (data_dir / "data.yaml").is_file():
        generate(data_dir, variant="distractor", videos_per_class=args.videos_per_class, size=64,
                 frames=args.frames, seed=args.data_seed, eval_per_class=args.eval_per_class, workers=2)
    runs = _runs()
    results = {}
    for key in args.runs.split(","):
        overrides = runs[key] + [f"train.seed={args.seed}"] + list(args.set)
        cfg = _config(data_dir / "data.yaml", overrides, args.epochs, root / "runs")
        start = time.perf_counter()
        result = train(cfg, run_dir=root / "runs" / f"{key}_s{args.seed}")
        seconds = time.perf_counter() - start
        model = build_model(cfg, len(cfg_classes(data_dir)))
        load_model_state(model, load_checkpoint(result.last_checkpoint), result.last_checkpoint)
        row = {"train_s": round(seconds), "val": evaluate_split(model, cfg, "val"),
               "test": evaluate_split(model, cfg, "test")}
        results[key] = row
        print(key, json.dumps(row), flush=True)
    print(json.dumps(results, indent=1))


def cfg_classes(data_dir: Path) -> list[str]:
    return (data_dir / "classes.txt").read_text(encoding="utf-8").split()


# ---------------------------------------------------------------------------- adversary divergence


def run_adversary(args: argparse.Namespace) -> None:
    """Train tfe_tiny's TD + approximators on fixed random segment embeddings with class-dependent
    signal, comparing the plain -L_N with the bounded surrogates: the plain form drives L_N (and the
    disentangler's objective) without bound."""
    from actionlab.engine.strategies import NonFiniteLossError, StepContext
    from actionlab.models.tfe import TFEModel, TFEStrategy, build_frame_encoder

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    for adversary in ("negative", "uniform", "flipped"):
        torch.manual_seed(0)
        model = TFEModel(build_frame_encoder("resnet18", base_width=8), num_classes=8, num_segments=8, heads=4)
        # skip the encoder: segment embeddings are given directly, class signal on 3 of 8 segments
        x_all = torch.randn(256, 8, model.width)
        y_all = torch.randint(0, 8, (256,))
        x_all[:, 2:5, :8] += 2.0 * torch.nn.functional.one_hot(y_all, 8).float()[:, None]
        model.segment_embeddings = lambda x, m=model: m.pos(x)  # type: ignore[method-assign]
        strategy = TFEStrategy(adversary=adversary)
        opts = strategy.build_optimizers(model, lambda m: torch.optim.AdamW(
            [p for p in m.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.05))
        ctx = StepContext(model, opts)
        history = []
        try:
            for step in range(args.steps):
                idx = torch.randint(0, 256, (32,))
                logs = strategy.train_step(ctx, x_all[idx], y_all[idx])
                if step % max(1, args.steps // 8) == 0 or step == args.steps - 1:
                    history.append((step, logs["cls"], logs["nonsalient"], logs["adversary"]))
                    print(f"  [{adversary}] step {step}: {logs}", file=sys.stderr, flush=True)
        except NonFiniteLossError as e:
            history.append((step, math.nan, math.nan, f"stopped: {e}"))
        print(f"adversary={adversary}: (step, L_S, L_N, phase-2 adversarial term)")
        for row in history:
            print("   ", ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("flops")
    f.add_argument("--num-classes", type=int, default=157)
    d = sub.add_parser("distractor")
    d.add_argument("--out", default="/tmp/tfe_bench")
    d.add_argument("--epochs", type=int, default=8)
    d.add_argument("--videos-per-class", type=int, default=48)
    d.add_argument("--eval-per-class", type=int, default=24)
    d.add_argument("--frames", type=int, default=16)
    d.add_argument("--data-seed", type=int, default=0)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--runs", default="vanilla,tfe,tfe_negative")
    d.add_argument("--threads", type=int, default=2)
    d.add_argument("--set", nargs="*", default=[], help="extra config overrides for every run")
    a = sub.add_parser("adversary")
    a.add_argument("--steps", type=int, default=400)
    a.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    {"flops": run_flops, "distractor": run_distractor, "adversary": run_adversary}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
