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


# ---------------------------------------------------------------------------- distractor, frozen encoder


class CachedFeatures(torch.nn.Module):
    """A frozen frame encoder whose outputs were computed once: clips are features [N, D, T, 1, 1]."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x


@torch.no_grad()
def encode_videos(data_dir: Path, threads: int, pool: str = "mean") -> dict[str, Any]:
    """Every frame of every video through the frozen EfficientNet-Lite0 (shipped ImageNet weights).

    pool="mean": global average of the last feature map (position is lost); "grid": the 2 x 2 map
    of a 64-px frame flattened, which keeps where the moving object is."""
    cache = data_dir / f"lite0_{pool}.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    from actionlab.data import read
    from actionlab.data.transforms import normalize
    from actionlab.models.registry import IMAGENET_MEAN, IMAGENET_STD
    from actionlab.models.weights import build_efficientnet_lite0

    torch.set_num_threads(threads)
    net = build_efficientnet_lite0("lite0").eval()
    meta = json.loads((data_dir / "annotations.json").read_text(encoding="utf-8"))
    frames = meta["frames"]
    out: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        paths = [p for p, v in meta["videos"].items() if v["split"] == split]
        feats, labels, masks = [], [], []
        for path in paths:
            video = read(data_dir / path, list(range(frames)))  # uint8 [F, H, W, 3]
            clip = normalize(video.permute(3, 0, 1, 2).unsqueeze(0), IMAGENET_MEAN, IMAGENET_STD)[0]
            maps = net.forward_features(clip.transpose(0, 1))  # [F, D, h, w]
            feats.append(maps.mean((2, 3)) if pool == "mean" else maps.flatten(1))
            info = meta["videos"][path]
            labels.append(info["label"])
            mask = torch.zeros(frames, dtype=torch.bool)
            for start, end in info["action_frames"]:
                mask[start:end] = True
            masks.append(mask)
        out[split] = {"features": torch.stack(feats), "labels": torch.tensor(labels), "masks": torch.stack(masks)}
    torch.save(out, cache)
    return out


def _sample(num_frames: int, segments: int, train: bool, n: int) -> torch.Tensor:
    """TSN segment sampling: a random frame per segment (train) or its middle frame (test) -> [n, T]."""
    edges = torch.linspace(0, num_frames, segments + 1)
    start, length = edges[:-1].floor().long(), (edges[1:] - edges[:-1]).floor().long().clamp_min(1)
    if train:
        offset = (torch.rand(n, segments) * length).long()
    else:
        offset = (length // 2).expand(n, segments)
    return start + offset


def _temporal_model(kind: str, dim: int, num_classes: int, segments: int, width: int) -> torch.nn.Module:
    from actionlab.models.tfe import FrameEncoder, TFEModel, VanillaTemporalModel

    encoder = FrameEncoder(CachedFeatures(dim), "cnn", dim, freeze=False)
    common = dict(num_classes=num_classes, num_segments=segments, width=width, heads=4, dropout=0.1)
    if kind == "vanilla":
        return VanillaTemporalModel(encoder, num_layers=2, **common)
    return TFEModel(encoder, num_layers=1, **common)


@torch.no_grad()
def _evaluate_features(model: torch.nn.Module, split: dict[str, torch.Tensor], segments: int) -> dict[str, float]:
    from actionlab.fidelity import FidelityMeter

    model.eval()
    feats, labels, masks = split["features"], split["labels"], split["masks"]
    idx = _sample(feats.shape[1], segments, False, len(labels))
    x = torch.gather(feats, 1, idx[..., None].expand(-1, -1, feats.shape[-1]))
    out = model(x.transpose(1, 2)[..., None, None])
    meter = FidelityMeter()
    meter.update(out.extras["attention"], torch.gather(masks, 1, idx))
    scores = meter.compute()
    model.train()
    return {"top1": float((out.logits.argmax(-1) == labels).float().mean()), "mass": scores["fidelity_mass"],
            "chance": scores["fidelity_chance"], "auc": scores["fidelity_auc"]}


def train_on_features(kind: str, data: dict[str, Any], seed: int, epochs: int, adversary: str = "uniform",
                      segments: int = 8, width: int = 128, batch_size: int = 16) -> dict[str, Any]:
    from actionlab.config import OptimConfig
    from actionlab.engine.optim import Schedule, build_optimizer
    from actionlab.engine.strategies import StepContext, TrainStrategy
    from actionlab.models.tfe import TFEStrategy

    torch.manual_seed(seed)
    train_split = data["train"]
    feats, labels = train_split["features"], train_split["labels"]
    model = _temporal_model("vanilla" if kind == "vanilla" else "tfe", feats.shape[-1], int(labels.max()) + 1,
                            segments, width)
    strategy = TrainStrategy() if kind == "vanilla" else TFEStrategy(adversary=adversary)
    cfg = OptimConfig(name="adamw", lr=1e-3, weight_decay=0.05, schedule="cosine", warmup_epochs=1, clip_grad=5.0)
    optimizers = strategy.build_optimizers(model, lambda m: build_optimizer(m, cfg))
    steps = math.ceil(len(labels) / batch_size)
    schedules = [Schedule(o, cfg, steps, epochs) for o in optimizers.values()]
    model.train()
    history = []
    for _epoch in range(epochs):
        order = torch.randperm(len(labels))
        sums: dict[str, float] = {}
        for b in range(steps):
            batch = order[b * batch_size:(b + 1) * batch_size]
            idx = _sample(feats.shape[1], segments, True, len(batch))
            x = torch.gather(feats[batch], 1, idx[..., None].expand(-1, -1, feats.shape[-1]))
            ctx = StepContext(model, optimizers, clip_grad=cfg.clip_grad)
            logs = strategy.train_step(ctx, x.transpose(1, 2)[..., None, None], labels[batch])
            for s in schedules:
                s.step()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v / steps
        history.append(sums)
    trace = {k: [round(h[k], 3) for h in history[:: max(1, epochs // 10)]] for k in ("nonsalient", "adversary")
             if k in history[-1]}
    return {"val": _evaluate_features(model, data["val"], segments),
            "test": _evaluate_features(model, data["test"], segments), "last_epoch": history[-1], "trace": trace}


def run_distractor_features(args: argparse.Namespace) -> None:
    from actionlab.data.synthetic import generate

    torch.set_flush_denormal(True)
    root = Path(args.out)
    data_dir = root / "distractor"
    if not (data_dir / "data.yaml").is_file():
        generate(data_dir, variant="distractor", videos_per_class=args.videos_per_class, size=64,
                 frames=args.frames, seed=args.data_seed, eval_per_class=args.eval_per_class, workers=2)
    start = time.perf_counter()
    data = encode_videos(data_dir, args.threads, args.pool)
    print(f"features: {time.perf_counter() - start:.0f} s", flush=True)
    torch.set_num_threads(args.threads)
    results: dict[str, list[dict[str, Any]]] = {}
    for kind in args.runs.split(","):
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            adversary = "negative" if kind == "tfe_negative" else args.adversary
            row = train_on_features(kind, data, seed, args.epochs, adversary)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            results.setdefault(kind, []).append(row)
            print(kind, seed, json.dumps(row), flush=True)
    print("| model | val top-1 (cue 90% = label) | test top-1 (cue random) | test attention on action "
          "(uniform) | test ranking AUC |")
    print("|---|---|---|---|---|")
    for kind, rows in results.items():
        def stat(split: str, key: str, rows: list[dict[str, Any]] = rows) -> str:
            values = torch.tensor([r[split][key] for r in rows])
            return f"{values.mean():.3f} ± {values.std(unbiased=False):.3f}" if len(values) > 1 else f"{values[0]:.3f}"

        chance = sum(r["test"]["chance"] for r in rows) / len(rows)
        print(f"| {kind} | {stat('val', 'top1')} | {stat('test', 'top1')} | {stat('test', 'mass')} ({chance:.3f}) "
              f"| {stat('test', 'auc')} |")


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
    e = sub.add_parser("distractor-features")
    e.add_argument("--out", default="/tmp/tfe_bench")
    e.add_argument("--epochs", type=int, default=30)
    e.add_argument("--seeds", type=int, default=3)
    e.add_argument("--videos-per-class", type=int, default=48)
    e.add_argument("--eval-per-class", type=int, default=24)
    e.add_argument("--frames", type=int, default=16)
    e.add_argument("--data-seed", type=int, default=0)
    e.add_argument("--runs", default="vanilla,tfe,tfe_negative")
    e.add_argument("--adversary", default="uniform")
    e.add_argument("--pool", default="mean", choices=["mean", "grid"])
    e.add_argument("--threads", type=int, default=1)
    a = sub.add_parser("adversary")
    a.add_argument("--steps", type=int, default=400)
    a.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    {"flops": run_flops, "distractor": run_distractor, "distractor-features": run_distractor_features,
     "adversary": run_adversary}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
