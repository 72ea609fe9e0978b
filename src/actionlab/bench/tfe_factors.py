"""actionlab bench tfe factors: what TFE's fidelity verdict depends on, one factor at a time (benchmarks/tfe.md).

A temporal-fidelity score (attention on the annotated action frames) means something only where the model
can use those frames: an action it cannot recognise without the cue leaves it nothing to attend to there.
So every cell first asks what the models can see - top-1 and within-pair accuracy on test videos *without
a cue* (`test_cue="none"`), per pair of time-reversed classes - and then measures, on cue-conflicting test
videos, how often the cue is followed and where the attention sits (mass on the action frames, ranking AUC).

The base cell is the built-in 'distractor' variant as `bench accuracy` runs it (cue-label correlation 0.9,
cue in every frame outside the action, action 40-60 % of the 16 frames, 8 segments); each factor changes one
thing:

  corr       train/val cue-label correlation: 0, 0.5, 0.9 (base), 1
  cue        where the cue sits in time: outside the action (base), only before it, only after it, every frame
  action     the share of the frames the action fills: 0.2-0.3, 0.4-0.6 (base), 0.7-0.85
  segments   segments per clip: 4, 8 (base), 16
  encoder    the frozen per-frame encoder: grid8 (8 x 8 average-pooled RGB: keeps where things are; base),
             grid2 (2 x 2), gap (a fixed random 3-layer CNN, global-average-pooled to one vector a frame, as the
             recipes' CNN pools its frames: position, and with it a translation's direction, is averaged away)

Models and budget are `bench tfe sweep`'s (`vanilla_2l` = the `vanilla_attention` recipe's 2 layers + attention
pooling, `tfe` = 1 layer + TD + A_S / A_N with the two-phase strategy; AdamW, cosine, 30 epochs, batch 32) on
features computed once per cell.  >= 5 seeds per cell and model; results append to OUT/factors.jsonl and a
finished (cell, model, seed) is not rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # this module loads without numpy / torch (`--help`); functions import them when they run
    import numpy as np
    import torch

BASE: dict[str, Any] = {"corr": 0.9, "cue": "outside", "action": "0.4-0.6", "segments": 8, "encoder": "grid8"}
LEVELS: dict[str, list[Any]] = {
    "corr": [0.0, 0.5, 0.9, 1.0],
    "cue": ["outside", "before", "after", "all"],
    "action": ["0.2-0.3", "0.4-0.6", "0.7-0.85"],
    "segments": [4, 8, 16],
    "encoder": ["grid8", "grid2", "gap"],
}
PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))  # DEFAULT_CLASSES: move, rotate, size, order


def add_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("--factors", default=",".join(LEVELS), help=f"factors to vary (default: {', '.join(LEVELS)})")
    f.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per cell and model (default 5)")
    f.add_argument("--models", default="vanilla_2l,tfe", help="comma list of `bench tfe sweep` models")
    f.add_argument("--epochs", type=int, default=30, help="epochs per run (default 30)")
    f.add_argument("--batch-size", type=int, default=32, help="training batch (default 32)")
    f.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (default 2e-3)")
    f.add_argument("--width", type=int, default=64, help="temporal model width (default 64)")
    f.add_argument("--frames", type=int, default=16, help="frames per generated video (default 16)")
    f.add_argument("--videos-per-class", type=int, default=48, help="training videos per class (default 48)")
    f.add_argument("--eval-per-class", type=int, default=24, help="val and test videos per class (default 24)")
    f.add_argument("--data-seed", type=int, default=0, help="seed of the generated videos (default 0)")
    f.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    f.add_argument("--out", default="runs/tfe_factors", help="factors.jsonl and cached features go here")


def cells(factors: list[str]) -> list[dict[str, Any]]:
    """The base cell, then each factor's other levels (the base values for everything else); no repeats."""
    out = [dict(BASE)]
    for factor in factors:
        for level in LEVELS[factor]:
            cell = {**BASE, factor: level}
            if cell not in out:
                out.append(cell)
    return out


def cell_name(cell: dict[str, Any]) -> str:
    changed = [f"{k}={cell[k]:g}" if isinstance(cell[k], float) else f"{k}={cell[k]}"
               for k in LEVELS if cell[k] != BASE[k]]
    return ", ".join(changed) or "base"


# ---------------------------------------------------------------------------- data and encoders


def render_cell(split: str, cell: dict[str, Any], test_cue: str, args: argparse.Namespace) -> dict[str, Any]:
    """One split of the distractor variant with the cell's layout, rendered in memory (`generate`'s seeds)."""
    import numpy as np
    import torch

    from ..data.synthetic import DEFAULT_CLASSES, SPLITS, render

    lo, hi = (float(v) for v in str(cell["action"]).split("-"))
    per_class = args.videos_per_class if split == "train" else args.eval_per_class
    videos, labels, masks, cues = [], [], [], []
    for c, name in enumerate(DEFAULT_CLASSES):
        for i in range(per_class):
            rng = np.random.default_rng([args.data_seed, SPLITS.index(split), c, i])
            v = render("distractor", name, rng, 64, args.frames, split=split, num_classes=len(DEFAULT_CLASSES),
                       class_index=c, cue_prob=float(cell["corr"]), test_cue=test_cue, cue_frames=cell["cue"],
                       action_length=(lo, hi))
            mask = np.zeros(args.frames, dtype=bool)
            for start, end in v["action_frames"]:
                mask[start:end] = True
            videos.append(v["frames"])
            labels.append(c)
            masks.append(mask)
            cues.append(-1 if v["cue"] is None else v["cue"])
    return {"frames": np.stack(videos), "labels": torch.tensor(labels), "masks": torch.from_numpy(np.stack(masks)),
            "cues": torch.tensor(cues)}


def gap_encoder() -> torch.nn.Module:
    """A fixed random CNN (seed 0, no training) whose last map is averaged to one vector a frame."""
    import torch

    gen = torch.Generator().manual_seed(0)
    layers: list[torch.nn.Module] = []
    for cin, cout, k in ((3, 32, 5), (32, 64, 3), (64, 64, 3)):
        conv = torch.nn.Conv2d(cin, cout, k, stride=2, padding=k // 2, bias=False)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (cin * k * k)) ** 0.5)
        layers += [conv, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()


def encode(frames: np.ndarray, encoder: str) -> torch.Tensor:
    """uint8 [N, F, S, S, 3] -> per-frame features [N, F, D]."""
    import torch

    from ..models.recognizer import evaluating
    from .tfe_features import pool_encode

    if encoder.startswith("grid"):
        return pool_encode(frames, int(encoder.removeprefix("grid")))
    if encoder != "gap":
        raise ValueError(f"unknown encoder {encoder!r}")
    net = gap_encoder()
    x = torch.from_numpy(frames).float().permute(0, 1, 4, 2, 3)  # [N, F, 3, S, S]
    n, f = x.shape[:2]
    with evaluating(net):
        feats = torch.cat([net((chunk - 128.0) / 64.0) for chunk in x.flatten(0, 1).split(512)])
    return feats.reshape(n, f, -1)


def load_cell(out: Path, cell: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, torch.Tensor]]:
    """Features of train, val, the cue-conflicting test and the cue-free test, cached under OUT/features."""
    import torch

    key = "_".join(f"{k}{cell[k]}" for k in ("corr", "cue", "action", "encoder"))
    key += f"_f{args.frames}_v{args.videos_per_class}_e{args.eval_per_class}_d{args.data_seed}"
    cache = out / "features" / f"{key}.pt"
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    data = {}
    for name, split, test_cue in (("train", "train", "conflict"), ("val", "val", "conflict"),
                                  ("test", "test", "conflict"), ("test_nocue", "test", "none")):
        raw = render_cell(split, cell, test_cue, args)
        data[name] = {"features": encode(raw["frames"], cell["encoder"]), "labels": raw["labels"],
                      "masks": raw["masks"], "cues": raw["cues"]}
    if cell["encoder"] == "gap":  # scale to about unit variance with the training split's statistics
        mean, std = data["train"]["features"].mean((0, 1)), data["train"]["features"].std((0, 1)).clamp_min(1e-6)
        for part in data.values():
            part["features"] = (part["features"] - mean) / std
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, cache)
    return data


# ---------------------------------------------------------------------------- one run


def within_pairs(model: torch.nn.Module, split: dict[str, torch.Tensor], segments: int) -> dict[str, float]:
    """Within-pair accuracy (the true class outscores its time-reversed twin) overall and per pair."""
    import torch

    from ..models.recognizer import evaluating
    from .tfe_features import _clips, sample_segments

    feats, labels = split["features"], split["labels"]
    with evaluating(model):
        logits = model(_clips(feats, sample_segments(feats.shape[1], segments, False, len(labels)))).logits
    partner = {a: b for p in PAIRS for a, b in (p, p[::-1])}
    own = logits.gather(1, labels[:, None])[:, 0]
    other = logits.gather(1, torch.tensor([partner[int(y)] for y in labels])[:, None])[:, 0]
    wins = (own > other).float()
    out = {"within_pair": float(wins.mean())}
    for k, (a, _) in enumerate(PAIRS):
        sel = (labels == a) | (labels == PAIRS[k][1])
        out[f"pair{k}"] = float(wins[sel].mean())
    return out


def run_one(kind: str, data: dict[str, dict[str, torch.Tensor]], cell: dict[str, Any], seed: int,
            args: argparse.Namespace) -> dict[str, Any]:
    from .tfe_features import evaluate, train_one

    run_args = argparse.Namespace(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, width=args.width,
                                  segments=int(cell["segments"]))
    model, row = train_one(kind, data, seed, run_args)
    nocue = evaluate(model, data["test_nocue"], int(cell["segments"]))
    nocue.update(within_pairs(model, data["test_nocue"], int(cell["segments"])))
    return {**row, "test_nocue": nocue}


# ---------------------------------------------------------------------------- the sweep


def _done(path: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    rows = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                rows[(json.dumps(r["cell"], sort_keys=True), r["model"], r["seed"])] = r
    return rows


def run_factors(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ConfigError
    from .tfe_features import MODELS

    factors = [f.strip() for f in args.factors.split(",") if f.strip()]
    kinds = [k.strip() for k in args.models.split(",") if k.strip()]
    bad = [f for f in factors if f not in LEVELS] + [k for k in kinds if k not in MODELS]
    if bad or args.seeds < 1:
        raise ConfigError(f"--factors / --models: unknown {', '.join(bad)}" if bad else "--seeds must be >= 1")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "factors.jsonl"
    done = _done(path)
    settings = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "width", "frames", "videos_per_class",
                                               "eval_per_class", "data_seed")}
    todo = cells(factors)
    total, started, count = len(todo) * len(kinds) * args.seeds, time.perf_counter(), 0
    print(f"bench tfe factors: {len(todo)} cells x {len(kinds)} models x {args.seeds} seeds = {total} runs; "
          f"settings {json.dumps(settings)}", flush=True)
    for seed in range(args.seeds):  # seeds outermost: a sweep cut short still covers every cell
        for cell in todo:
            data = None
            for kind in kinds:
                count += 1
                key = (json.dumps(cell, sort_keys=True), kind, seed)
                if key in done and done[key].get("settings") == settings:
                    continue
                data = data or load_cell(out, cell, args)
                t0 = time.perf_counter()
                row = {"cell": cell, "model": kind, "seed": seed, "settings": settings,
                       **run_one(kind, data, cell, seed, args), "seconds": round(time.perf_counter() - t0, 1)}
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                done[key] = row
                nc, ct = row["test_nocue"], row["test"]
                print(f"[{count}/{total}, {(time.perf_counter() - started) / 60:.0f} min] {cell_name(cell)} {kind} "
                      f"s{seed}: no-cue top-1 {nc['top1']:.3f} within-pair {nc['within_pair']:.3f} | conflict top-1 "
                      f"{ct['top1']:.3f} as cue {ct['cue']:.3f} AUC {ct['auc']:.3f} | {row['seconds']} s", flush=True)
    rows = [r for r in done.values() if r.get("settings") == settings and r["model"] in kinds and r["cell"] in todo]
    print(factors_table(rows, todo, kinds))
    return 0


def _stat(values: list[float]) -> str:
    import numpy as np

    v = np.asarray(values, dtype=float)
    if not len(v):
        return "-"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v[0]:.3f}"


def factors_table(rows: list[dict[str, Any]], todo: list[dict[str, Any]], kinds: list[str]) -> str:
    """Markdown, one line per (cell, model): what the models see without a cue, and fidelity under conflict."""
    import numpy as np

    lines = ["| cell | model | seeds | no-cue top-1 | no-cue within-pair | within-pair move / rotate / size / order "
             "| conflict top-1 | predicted = cue | attention on action (uniform) | action AUC |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for cell in todo:
        for kind in kinds:
            rs = [r for r in rows if r["cell"] == cell and r["model"] == kind]
            if not rs:
                continue
            nc = [r["test_nocue"] for r in rs]
            ct = [r["test"] for r in rs]
            pairs = " / ".join(f"{np.mean([n[f'pair{k}'] for n in nc]):.2f}" for k in range(len(PAIRS)))
            chance = np.mean([c["chance"] for c in ct])
            lines.append(f"| {cell_name(cell)} | {kind} | {len(rs)} | {_stat([n['top1'] for n in nc])} | "
                         f"{_stat([n['within_pair'] for n in nc])} | {pairs} | {_stat([c['top1'] for c in ct])} | "
                         f"{_stat([c['cue'] for c in ct])} | {_stat([c['mass'] for c in ct])} ({chance:.3f}) | "
                         f"{_stat([c['auc'] for c in ct])} |")
    return "\n".join(lines)
