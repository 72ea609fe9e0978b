"""actionlab bench tfe {sweep,factors,figure,flops,adversary}: TFE vs vanilla temporal attention (benchmarks/tfe.md).

  sweep      the paper's claim on the built-in 'distractor' variant: sweep the train/val cue-label
             correlation (default 0, 0.5, 0.8, 1) over >= 3 seeds; per run the test split has a
             *conflicting* cue (another class's) on every video.  Reports, mean +- std over seeds:
             val top-1, cue-conflict test top-1, the share of test videos predicted as the cue's class,
             and temporal fidelity (attention mass on the annotated action frames, ranking AUC).
  factors    what the fidelity verdict depends on, one factor at a time around the built-in variant (cue
             correlation, the cue's place in time, action length, segments, encoder), >= 5 seeds a cell,
             with what the models recognise when the cue is absent (`bench/tfe_factors.py`).
  figure     Fig. 4 on one cue-conflicting test video from the sweep's saved seed-0 models.
  flops      GMACs / parameters, vanilla vs TFE (Table 4), on the meta device.
  adversary  the plain -L_N vs the bounded surrogates on toy embeddings (divergence).

The sweep's encoder is frozen and has no learned weights: each 64-px frame is average-pooled to
a `--grid` x `--grid` RGB image (default 8 x 8 = 192 values, normalised), which keeps where the
objects are, so the temporal models can learn the action from the sequence (a frozen ImageNet
CNN's pooled features cannot tell a time-reversed pair apart; benchmarks/tfe.md).  Frames are
rendered in memory by `actionlab.data.synthetic.render` with `generate`'s per-video seeds
(no MP4 round trip) and encoded once; every model then trains on the cached features with the
same AdamW / cosine schedule, batch, epochs (a step budget, not wall-clock) and TSN segment
sampling.  Models (all width `--width`, 4 heads):

  vanilla_2l  2 transformer layers + attention pooling: as many temporal layers as TFE (TD counts
              as one, Table 4) - the recipe `vanilla_attention`
  vanilla_6l  6 layers + attention pooling: the paper's vanilla depth (BIKE)
  vanilla_1l  1 layer + attention pooling: TFE's trunk without TD and approximators
  tfe         1 layer + TD + A_S / A_N, two-phase `tfe` strategy (bounded 'uniform' adversary)
  tfe_negative  the same with the plain -L_N of Eq. 12
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from .tfe_features import MODELS, _clips, build, pool_encode, sample_segments, train_one

DEFAULT_MODELS = "vanilla_2l,vanilla_6l,tfe"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="tfe_command", metavar="WHAT", required=True)
    s = sub.add_parser("sweep", help="correlation sweep: TFE vs vanilla, >= 3 seeds, cue-conflicting test")
    _sweep_args(s)
    f = sub.add_parser("figure", help="Fig. 4 from a sweep's saved seed-0 models")
    f.add_argument("--out", default="runs/tfe_bench", help="the sweep's output directory")
    f.add_argument("--corr", type=float, default=0.8, help="which correlation's models to draw")
    f.add_argument("--models", default="vanilla_2l,tfe", help="two models: the vanilla one first")
    f.add_argument("--png", default="benchmarks/tfe_attention.png", help="where the figure goes")
    f.add_argument("--index", type=int, default=None, help="test video index (default: the first one both "
                   "classify correctly, else the first)")
    e = sub.add_parser("e2e", help="the recipes end to end (engine train, tiny CNN trained): one seed, one corr")
    e.add_argument("--corr", type=float, default=0.9, help="train/val cue-label correlation")
    e.add_argument("--test-cue", default="conflict", choices=["conflict", "random"],
                   help="test videos' cue: another class's (conflict) or any class's (random)")
    e.add_argument("--epochs", type=int, default=24, help="training epochs per recipe")
    e.add_argument("--seed", type=int, default=0, help="train.seed")
    e.add_argument("--runs", default="vanilla_attention,tfe", help="recipe names (tfe_negative: plain -L_N)")
    e.add_argument("--videos-per-class", type=int, default=48, help="training videos per class")
    e.add_argument("--eval-per-class", type=int, default=24, help="val and test videos per class")
    e.add_argument("--frames", type=int, default=16, help="frames per generated video")
    e.add_argument("--data-seed", type=int, default=0, help="seed of the generated videos")
    e.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    e.add_argument("--out", default="runs/tfe_e2e", help="data, runs and results.jsonl go here")
    e.add_argument("--set", nargs="*", default=[], help="extra config overrides for every run")
    from . import tfe_factors

    tfe_factors.add_arguments(sub.add_parser("factors", help="what the fidelity verdict depends on: corr, cue "
                                             "position, action length, segments, encoder; >= 5 seeds a cell"))
    g = sub.add_parser("flops", help="GMACs / parameters: vanilla vs TFE (Table 4)")
    g.add_argument("--num-classes", type=int, default=157, help="classifier size (157: Charades)")
    a = sub.add_parser("adversary", help="-L_N plain vs bounded surrogates (divergence)")
    a.add_argument("--steps", type=int, default=300, help="training steps per adversary form")
    a.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def _sweep_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--corr", type=float, nargs="+", default=[0.0, 0.5, 0.8, 1.0],
                   help="train/val cue-label correlations (the 'distractor' variant's cue_prob)")
    s.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per correlation and model")
    s.add_argument("--models", default=DEFAULT_MODELS, help=f"comma list from {', '.join(MODELS)}")
    s.add_argument("--epochs", type=int, default=30, help="epochs per run (the budget; same for every model)")
    s.add_argument("--batch-size", type=int, default=32, help="training batch")
    s.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (cosine, 1 warm-up epoch)")
    s.add_argument("--width", type=int, default=64, help="temporal model width")
    s.add_argument("--segments", type=int, default=8, help="segments per clip (TSN sampling)")
    s.add_argument("--frames", type=int, default=16, help="frames per generated video")
    s.add_argument("--grid", type=int, default=8, help="the frozen encoder's pooled grid per side")
    s.add_argument("--videos-per-class", type=int, default=48, help="training videos per class")
    s.add_argument("--eval-per-class", type=int, default=24, help="val and test videos per class")
    s.add_argument("--data-seed", type=int, default=0, help="seed of the generated videos")
    s.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    s.add_argument("--out", default="runs/tfe_bench", help="results.jsonl, features and seed-0 models go here")
    s.add_argument("--fresh", action="store_true", help="ignore results already in OUT/results.jsonl")


def run(args: argparse.Namespace) -> int:
    if args.tfe_command == "factors":
        from .tfe_factors import run_factors

        return run_factors(args)
    return {"sweep": run_sweep, "figure": run_figure, "e2e": run_e2e, "flops": run_flops,
            "adversary": run_adversary}[args.tfe_command](args)


# ---------------------------------------------------------------------------- data + frozen encoder


def render_split(split: str, corr: float, frames: int, per_class: int, data_seed: int,
                 size: int = 64) -> dict[str, Any]:
    """Render one split of the 'distractor' variant in memory (generate's per-video seeds);
    test videos carry a conflicting cue.  -> frames uint8 [N, F, S, S, 3], labels, masks [N, F], cues."""
    import numpy as np
    import torch

    from ..data.synthetic import DEFAULT_CLASSES, SPLITS, render

    videos, labels, masks, cues = [], [], [], []
    for c, name in enumerate(DEFAULT_CLASSES):
        for i in range(per_class):
            rng = np.random.default_rng([data_seed, SPLITS.index(split), c, i])
            v = render("distractor", name, rng, size, frames, split=split, num_classes=len(DEFAULT_CLASSES),
                       class_index=c, cue_prob=corr, test_cue="conflict")
            mask = np.zeros(frames, dtype=bool)
            for start, end in v["action_frames"]:
                mask[start:end] = True
            videos.append(v["frames"])
            labels.append(c)
            masks.append(mask)
            cues.append(v["cue"])
    return {"frames": np.stack(videos), "labels": torch.tensor(labels), "masks": torch.from_numpy(np.stack(masks)),
            "cues": torch.tensor(cues)}


def load_data(out: Path, corr: float, args: argparse.Namespace) -> dict[str, dict[str, torch.Tensor]]:
    """Features of the three splits for one correlation, cached under OUT."""
    import torch

    key = (f"corr{corr:g}_f{args.frames}_g{args.grid}_v{args.videos_per_class}_e{args.eval_per_class}"
           f"_d{args.data_seed}")
    cache = out / "features" / f"{key}.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    data = {}
    for split, per_class in (("train", args.videos_per_class), ("val", args.eval_per_class),
                             ("test", args.eval_per_class)):
        raw = render_split(split, corr, args.frames, per_class, args.data_seed)
        data[split] = {"features": pool_encode(raw["frames"], args.grid), "labels": raw["labels"],
                       "masks": raw["masks"], "cues": raw["cues"]}
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, cache)
    return data


# ---------------------------------------------------------------------------- sweep


def _done(path: Path) -> dict[tuple[float, str, int], dict[str, Any]]:
    rows = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                rows[(r["corr"], r["model"], r["seed"])] = r
    return rows


def run_sweep(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ConfigError

    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    bad = [k for k in kinds if k not in MODELS]
    if bad:
        raise ConfigError(f"--models: unknown '{bad[0]}', expected any of {', '.join(MODELS)}")
    if any(not 0.0 <= c <= 1.0 for c in args.corr):
        raise ConfigError(f"--corr values must lie in [0, 1], got {args.corr}")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.jsonl"
    if args.fresh and results_path.is_file():
        results_path.unlink()
    done = _done(results_path)
    settings = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "width", "segments", "frames", "grid",
                                               "videos_per_class", "eval_per_class", "data_seed")}
    print(f"settings: {json.dumps(settings)}", flush=True)
    datasets = {}
    for corr in args.corr:
        t0 = time.perf_counter()
        datasets[corr] = data = load_data(out, corr, args)
        print(f"corr {corr:g}: features {tuple(data['train']['features'].shape)} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    # seeds outermost: a cut-short sweep still covers every correlation
    todo = [(seed, corr, kind) for seed in range(args.seeds) for corr in datasets for kind in kinds
            if not ((corr, kind, seed) in done and done[(corr, kind, seed)].get("settings") == settings)]
    skipped = args.seeds * len(datasets) * len(kinds) - len(todo)
    print(f"{len(todo)} runs to train" + (f" ({skipped} already in {results_path})" if skipped else ""), flush=True)
    started = time.perf_counter()
    for k, (seed, corr, kind) in enumerate(todo, 1):
        left = (f" (about {(time.perf_counter() - started) / (k - 1) * (len(todo) - k + 1) / 60:.1f} min left)"
                if k > 1 else "")
        print(f"run {k} of {len(todo)}: corr {corr:g} {kind} seed {seed}{left}", flush=True)
        t0 = time.perf_counter()
        model, row = train_one(kind, datasets[corr], seed, args)
        row = {"corr": corr, "model": kind, "seed": seed, "seconds": round(time.perf_counter() - t0, 1),
               "settings": settings, **row}
        if seed == 0:
            (out / "models").mkdir(exist_ok=True)
            torch.save(model.state_dict(), out / "models" / f"{kind}_corr{corr:g}.pt")
        with open(results_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        done[(corr, kind, seed)] = row
        print(f"  corr {corr:g} {kind} seed {seed}: val {row['val']['top1']:.3f} | conflict test "
              f"{row['test']['top1']:.3f}, as cue {row['test']['cue']:.3f} | mass {row['test']['mass']:.3f} "
              f"AUC {row['test']['auc']:.3f} | {row['seconds']} s", flush=True)
    rows = [r for r in done.values() if r.get("settings") == settings and r["corr"] in args.corr
            and r["model"] in kinds]
    print(table(rows, kinds, args.corr))
    print(TABLE_LEGEND)
    print(f"results: {results_path} (one JSON line per run); seed-0 models: {out / 'models'}/ "
          f"(`actionlab bench tfe figure --out {out}` draws Fig. 4 from them)")
    return 0


TABLE_LEGEND = (
    "corr: train/val cue-label correlation; mean +- std over seeds. val top-1: validation split (the cue as in "
    "training). conflict-test top-1: test videos whose cue is another class's (chance 1/8). predicted = cue: share "
    "of test videos predicted as their cue's class (following the cue, not the action). attention on action: the "
    "model's temporal attention mass on the annotated action frames (uniform attention in brackets). action AUC: "
    "P(attention on an action frame > on a non-action frame), chance 0.5.")


def _stat(values: list[float]) -> str:
    import numpy as np

    if not values:
        return "-"
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def table(rows: list[dict[str, Any]], kinds: list[str], corrs: list[float]) -> str:
    """Markdown: one line per (correlation, model), mean ± std (ddof 1) over seeds."""
    import numpy as np

    lines = ["| corr | model | seeds | val top-1 | conflict-test top-1 | predicted = cue | attention on action "
             "(uniform) | action AUC |", "|---|---|---|---|---|---|---|---|"]
    for corr in corrs:
        for kind in kinds:
            rs = sorted((r for r in rows if r["corr"] == corr and r["model"] == kind), key=lambda r: r["seed"])
            if not rs:
                continue
            chance = np.mean([r["test"]["chance"] for r in rs])
            lines.append(f"| {corr:g} | {kind} | {len(rs)} | {_stat([r['val']['top1'] for r in rs])} "
                         f"| {_stat([r['test']['top1'] for r in rs])} | {_stat([r['test']['cue'] for r in rs])} "
                         f"| {_stat([r['test']['mass'] for r in rs])} ({chance:.3f}) "
                         f"| {_stat([r['test']['auc'] for r in rs])} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- figure


def run_figure(args: argparse.Namespace) -> int:
    import torch

    from ..data.synthetic import DEFAULT_CLASSES
    from ..errors import ConfigError
    from ..explain.attention import render
    from ..models.recognizer import evaluating

    out = Path(args.out)
    rows = [r for r in _done(out / "results.jsonl").values() if r["corr"] == args.corr and r["seed"] == 0]
    if not rows:
        raise ConfigError(f"no seed-0 results for corr {args.corr:g} in {out / 'results.jsonl'}: run the sweep first")
    settings = argparse.Namespace(**rows[0]["settings"])
    kinds = [k.strip() for k in args.models.split(",")]
    data = load_data(out, args.corr, settings)
    test = data["test"]
    models = []
    for kind in kinds:
        model = build(kind, test["features"].shape[-1], len(DEFAULT_CLASSES), settings.segments, settings.width)
        model.load_state_dict(torch.load(out / "models" / f"{kind}_corr{args.corr:g}.pt", weights_only=True))
        models.append(model.eval())
    idx = sample_segments(test["features"].shape[1], settings.segments, False, len(test["labels"]))
    clips = _clips(test["features"], idx)
    preds = []
    for m in models:
        with evaluating(m):
            preds.append(m(clips).logits.argmax(-1))
    ok = torch.stack([p == test["labels"] for p in preds]).all(0).nonzero().flatten()
    i = args.index if args.index is not None else (int(ok[0]) if len(ok) else 0)
    raw = render_split("test", args.corr, settings.frames, settings.eval_per_class, settings.data_seed)
    frames = raw["frames"][i][idx[i].numpy()]
    png = Path(args.png)
    path = render(models[1], clips[i:i + 1], frames, png.parent, list(DEFAULT_CLASSES), compare_model=models[0],
                  labels=[kinds[1], kinds[0]], action_mask=torch.gather(test["masks"], 1, idx)[i],
                  label=int(test["labels"][i]), prefix=png.stem)[0]
    print(f"test video {i} (cue of class {DEFAULT_CLASSES[int(test['cues'][i])]}): {path}")
    return 0


# ---------------------------------------------------------------------------- end to end (engine train)


def evaluate_loader(model: torch.nn.Module, cfg: Any, split: str, cue_of: dict[str, int]) -> dict[str, float]:
    """Top-1, share predicted as the cue's class and temporal fidelity through the data pipeline (one view)."""
    import torch
    from torch.utils.data import DataLoader

    from ..data import build_dataset, collate
    from ..engine.runtime import model_mean_std, prepare_clip
    from ..fidelity import FidelityMeter
    from ..models.recognizer import evaluating

    dataset = build_dataset(cfg, split)
    loader = DataLoader(dataset, batch_size=8, shuffle=False, collate_fn=collate, num_workers=0)
    cues = [cue_of.get(str(Path(r.path).resolve()), -1) for r in dataset.records]  # skipped videos: none here
    mean, std = model_mean_std(model)
    meter, correct, as_cue, total = FidelityMeter(), 0, 0, 0
    for batch in loader:
        if batch is None:
            continue
        clip = prepare_clip(batch["clip"], torch.device("cpu"), mean, std).flatten(0, 1)
        with evaluating(model):
            out = model(clip)
        pred = out.logits.argmax(-1)
        correct += int((pred == batch["label"]).sum())
        as_cue += int((pred == torch.tensor(cues[total:total + len(pred)])).sum())
        total += len(batch["label"])
        if "action_mask" in batch:
            meter.update(out.extras["attention"], batch["action_mask"].flatten(0, 1))
    scores = meter.compute()
    return {"top1": correct / max(total, 1), "cue": as_cue / max(total, 1),
            "mass": scores["fidelity_mass"], "chance": scores["fidelity_chance"], "auc": scores["fidelity_auc"]}


def run_e2e(args: argparse.Namespace) -> int:
    """The recipes of actionlab/recipes/tfe.py through the engine's `train` (configs/demo.yaml budget)."""
    import torch

    from ..config import _deep_merge, apply_overrides, from_dict, read_yaml
    from ..data.synthetic import generate
    from ..engine.build import build_model
    from ..engine.checkpoint import load_checkpoint, load_model_state
    from ..engine.trainer import train
    from ..recipes import get_recipe

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    root = Path(args.out)
    data_dir = root / f"distractor_corr{args.corr:g}_{args.test_cue}"
    if not (data_dir / "data.yaml").is_file():
        generate(data_dir, variant="distractor", videos_per_class=args.videos_per_class, size=64,
                 frames=args.frames, seed=args.data_seed, eval_per_class=args.eval_per_class, cue_prob=args.corr,
                 test_cue=args.test_cue, workers=2)
    meta = json.loads((data_dir / "annotations.json").read_text(encoding="utf-8"))
    cue_of = {str((data_dir / p).resolve()): int(v["cue"]) for p, v in meta["videos"].items()}
    repo = Path(__file__).resolve().parents[3]
    classes = (data_dir / "classes.txt").read_text(encoding="utf-8").split()
    for key in args.runs.split(","):
        recipe = get_recipe("tfe" if key == "tfe_negative" else key)
        overrides = recipe.config_overrides() + (["train.strategy_kwargs.adversary=negative", "name=tfe_negative"]
                                                  if key == "tfe_negative" else [])
        base = _deep_merge(read_yaml(repo / "configs" / "demo.yaml"), read_yaml(data_dir / "data.yaml"))
        cfg = from_dict(apply_overrides(base, overrides + [
            f"train.seed={args.seed}", f"train.epochs={args.epochs}", f"train.work_dir={root / 'runs'}",
            "train.device=cpu", "data.num_workers=0", "train.log_every=1000"] + list(args.set)))
        start = time.perf_counter()
        result = train(cfg, run_dir=root / "runs" / f"{key}_corr{args.corr:g}_s{args.seed}")
        assert result.last_checkpoint is not None  # the last epoch always saves last.pt
        model = build_model(cfg, len(classes))
        load_model_state(model, load_checkpoint(result.last_checkpoint), result.last_checkpoint)
        row = {"run": key, "corr": args.corr, "seed": args.seed, "train_s": round(time.perf_counter() - start),
               "val": evaluate_loader(model, cfg, "val", cue_of), "test": evaluate_loader(model, cfg, "test", cue_of)}
        with open(root / "results.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    return 0


# ---------------------------------------------------------------------------- FLOPs / parameters


def _temporal_forward(model: Any, x: torch.Tensor) -> torch.Tensor:
    """Segment embeddings x [N, T, d] -> logits through everything after the frame encoder."""
    from ..models.tfe import TFEModel

    x = model.pos(model.embed_proj(x))
    for block in model.blocks:
        x, _ = block(x)
    if isinstance(model, TFEModel):
        parts = model.disentangler(x, nonsalient=not model.salient_only_at_inference)
        return model.approximate(parts)[0]
    return model.head(x)[0]


def _count(fn, *args) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn(*args)
    return counter.get_total_flops()


def flops_table(pairs: list[tuple[str, str, dict[str, Any]]], num_classes: int) -> list[dict[str, Any]]:
    import torch

    from ..models.registry import create_model, model_info
    from ..models.tfe import TFEModel

    rows = []
    for label, name, kwargs in pairs:
        with torch.device("meta"):
            model: Any = create_model(name, num_classes=num_classes, **kwargs).eval()  # a SegmentEmbeddingModel
        info = model_info(name)
        t = model.num_segments
        clip = torch.empty(1, 3, t, info.input_size, info.input_size, device="meta")
        x = torch.empty(1, t, model.encoder.out_dim, device="meta")
        for salient_only in ([False, True] if isinstance(model, TFEModel) else [False]):
            if isinstance(model, TFEModel):
                model.salient_only_at_inference = salient_only
            head_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("encoder."))
            if salient_only:
                head_params -= sum(p.numel() for n, p in model.named_parameters()
                                   if n.startswith("approx_n.") or ".f_n." in n or ".f_dn." in n)
            rows.append({"model": label + (" (salient path only)" if salient_only else ""),
                         "layers": len(model.blocks) + (1 if isinstance(model, TFEModel) else 0),
                         "gmacs_total": _count(model, clip) / 2e9,
                         "mmacs_temporal": _count(_temporal_forward, model, x) / 2e6,
                         "params_total_m": sum(p.numel() for p in model.parameters()) / 1e6,
                         "params_temporal_m": head_params / 1e6})
    return rows


def run_flops(args: argparse.Namespace) -> int:
    pairs = [
        ("vanilla_temporal_clip_vit_b16 (6 layers)", "vanilla_temporal_clip_vit_b16", {}),
        ("tfe_clip_vit_b16 (1 layer + TD)", "tfe_clip_vit_b16", {}),
        ("tfe_clip_vit_b16 (5 layers + TD, last layer replaced)", "tfe_clip_vit_b16", {"num_layers": 5}),
        ("vanilla_temporal_clip_vit_l14 (6 layers)", "vanilla_temporal_clip_vit_l14", {}),
        ("tfe_clip_vit_l14 (1 layer + TD)", "tfe_clip_vit_l14", {}),
        ("vanilla_temporal_tiny (2 layers)", "vanilla_temporal_tiny", {}),
        ("tfe_tiny (1 layer + TD)", "tfe_tiny", {}),
    ]
    print(f"| model ({args.num_classes} classes) | temporal layers | GMACs total | temporal MMACs "
          "| params total (M) | params temporal (M) |")
    print("|---|---|---|---|---|---|")
    for r in flops_table(pairs, args.num_classes):
        print(f"| {r['model']} | {r['layers']} | {r['gmacs_total']:.2f} | {r['mmacs_temporal']:.1f} "
              f"| {r['params_total_m']:.2f} | {r['params_temporal_m']:.2f} |")
    return 0


# ---------------------------------------------------------------------------- adversary divergence


def run_adversary(args: argparse.Namespace) -> int:
    """TD + approximators on fixed random segment embeddings with class signal on 3 of 8 segments:
    the plain -L_N vs the bounded surrogates (L_N and the phase-2 term over the steps)."""
    import torch

    from ..models import tfe as tfe_mod

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    for adversary in ("negative", "uniform", "flipped"):
        torch.manual_seed(0)
        model = tfe_mod.TFEModel(tfe_mod.build_frame_encoder("resnet18", base_width=8), num_classes=8,
                                 num_segments=8, heads=4)
        x_all = torch.randn(256, 8, model.width)
        y_all = torch.randint(0, 8, (256,))
        x_all[:, 2:5, :8] += 2.0 * torch.nn.functional.one_hot(y_all, 8).float()[:, None]
        def given_embeddings(x: torch.Tensor, m: Any = model) -> torch.Tensor:  # skip the encoder
            return m.pos(x)

        vars(model)["segment_embeddings"] = given_embeddings  # an instance attribute shadows the method
        strategy = tfe_mod.TFEStrategy(adversary=adversary)
        opts = strategy.build_optimizers(model, lambda m: torch.optim.AdamW(
            [p for p in m.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.05))
        ctx = tfe_mod.StepContext(model, opts)
        history = []
        for step in range(args.steps):
            idx = torch.randint(0, 256, (32,))
            logs = strategy.train_step(ctx, x_all[idx], y_all[idx])
            if step % max(1, args.steps // 8) == 0 or step == args.steps - 1:
                history.append((step, logs["cls"], logs["nonsalient"], logs["adversary"]))
        print(f"adversary={adversary}: (step, L_S, L_N, phase-2 adversarial term)")
        for row in history:
            print("   ", ", ".join(f"{v:.3g}" for v in row), flush=True)
    return 0
