"""Backbone alone vs ART on the built-in 'finegrained' benchmark, same budget, plus the pointing game.

    python benchmarks/art_finegrained.py --out runs/art_finegrained
    python benchmarks/art_finegrained.py --size 128 --set train.epochs=12 --seeds 0 1

The 'finegrained' variant (actionlab.data.synthetic): a large body drifts the same way in every
class; a small part beside it moves relative to the body in the way that defines the class (8
classes in 4 time-reversed pairs). The two models are the recipes `art_backbone` (tsm_r18_tiny) and
`art` (the same backbone + a tiny ART head, MiniLM text bank, bank EMA strategy) from
actionlab/recipes/art.py, trained exactly as `actionlab bench accuracy` / the demo would: the demo
config (configs/demo.yaml) + the recipe's overrides + this script's `--set`, same data and seed.
Reported on the test split (1 clip x 1 centre crop): top-1, mean class accuracy, and for ART the
pointing game of each tracklet's response peak against the per-frame box of the small part, under
the "centre" and "cell" criteria (see actionlab.explain.tracklets), each beside its chance rate.
Writes results.json under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from actionlab.config import apply_overrides, from_dict, read_yaml
from actionlab.data import build_dataset
from actionlab.data.synthetic import generate
from actionlab.engine.build import build_model
from actionlab.engine.evaluate import evaluate
from actionlab.engine.loader import eval_loader
from actionlab.engine.trainer import train
from actionlab.localisation import PointingAccumulator
from actionlab.recipes import get_recipe

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"


def config(data_yaml: Path, recipe_name: str, extra: list[str], seed: int, work_dir: Path) -> Any:
    data = read_yaml(DEMO)
    fragment = yaml.safe_load(data_yaml.read_text())["data"]
    data["data"] = {**data["data"], **fragment}
    recipe = get_recipe(recipe_name)
    overrides = recipe.config_overrides() + [f"train.seed={seed}", f"train.work_dir={work_dir}",
                                             f"name={recipe_name}_s{seed}"] + extra
    return from_dict(apply_overrides(data, overrides))


@torch.no_grad()
def pointing(model: torch.nn.Module, loader: Any, mean: Any, std: Any) -> dict[str, Any]:
    from actionlab.engine.runtime import prepare_clip

    accs = {c: PointingAccumulator(c) for c in ("centre", "cell")}
    model.eval()
    for batch in loader:
        if batch is None:
            continue
        clip = prepare_clip(batch["clip"][:, 0], torch.device("cpu"), mean, std)
        regions = model(clip).extras["regions"]
        for acc in accs.values():
            acc.update(regions, batch["boxes"][:, 0], tuple(clip.shape[-2:]))
    return {c: acc.result().as_dict() for c, acc in accs.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/art_finegrained"))
    p.add_argument("--size", type=int, default=64, help="video size (the crop is 7/8 of it; demo: 64)")
    p.add_argument("--video-frames", type=int, default=32)
    p.add_argument("--videos-per-class", type=int, default=40)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--set", dest="extra", nargs="+", default=[], metavar="KEY=VALUE",
                   help="config overrides for both models, e.g. train.epochs=4 data.num_workers=2")
    p.add_argument("--art-set", dest="art_extra", nargs="+", default=[], metavar="KEY=VALUE",
                   help="overrides for the ART model only, e.g. model.kwargs.mtc_terms=[spatial,tracklet]")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = args.out / f"data_{args.size}_{args.video_frames}_{args.videos_per_class}"
    if not (data_dir / "data.yaml").is_file():
        start = time.perf_counter()
        generate(data_dir, "finegrained", videos_per_class=args.videos_per_class, size=args.size,
                 frames=args.video_frames, seed=0, workers=2)
        print(f"generated {data_dir} in {time.perf_counter() - start:.0f} s", flush=True)
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    for seed in args.seeds:
        for recipe in ("art_backbone", "art"):
            extra = args.extra + (args.art_extra if recipe == "art" else [])
            cfg = config(data_dir / "data.yaml", recipe, extra, seed, args.out / "runs")
            torch.manual_seed(seed)
            train_set = build_dataset(cfg, "train")
            model = build_model(cfg, len(train_set.class_names))
            start = time.perf_counter()
            train(cfg, model=model, train_set=train_set, run_dir=args.out / "runs" / cfg.name)
            train_s = time.perf_counter() - start
            test_set = build_dataset(cfg, "test", views="1x1", seed=0)
            info = model.model_info
            res = evaluate(model, eval_loader(test_set, cfg.test.batch_size, cfg.data.num_workers),
                           torch.device("cpu"), info.mean, info.std)
            row = {"recipe": recipe, "seed": seed, "epochs": cfg.train.epochs, "train_s": round(train_s, 1),
                   "params": sum(q.numel() for q in model.parameters()), **res.metrics}
            if recipe == "art":
                row["pointing"] = pointing(model, eval_loader(test_set, cfg.test.batch_size, cfg.data.num_workers),
                                           info.mean, info.std)
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
