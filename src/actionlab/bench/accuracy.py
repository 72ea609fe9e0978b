"""actionlab bench accuracy: every method against its baseline on the built-in benchmark, one command.

    actionlab bench accuracy [--budget-minutes M] [--seeds N] [--methods tsm,tefe,...] [--out DIR]

1. generates each benchmark variant the recipes name once (seed 0 data: every model sees the same videos),
2. for every seed, trains and tests every recipe and its baseline with the same time budget - the demo's
   machinery (`engine.experiment.run_recipe_in_worker`: budget -> epochs by timing a few steps, train,
   test, GMACs/params), two models at a time, one torch thread each,
3. adds the method-specific numbers from one more pass over the test split (first view): temporal
   fidelity of the "attention" extras against "action_mask" (TFE, vanilla attention), actionness inside
   the moving part's box (ATR), the pointing game of ART's tracklet "regions",
4. saves each run's row as `bench_row.json` in its run directory and writes the table, CSV, plots and
   the claim checks with `actionlab.report` (`actionlab report DIR` rebuilds them from the files).
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# every method of the four papers (+ TSM); their baselines (tsn, tsm, art_backbone, vanilla_attention) are added
DEFAULT_METHODS = ["tsm", "tefe_te_only", "tefe_fe_only", "tefe", "atr_sim", "atr", "tsm_atr", "art", "tfe"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--budget-minutes", type=float, default=3.0, help="training minutes per model (default 3)")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per model (default 3)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated recipes; their baselines are added (default: all methods)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/bench-accuracy-<time>)")
    p.add_argument("--videos-per-class", type=int, default=48, help="training videos per class (default 48)")
    p.add_argument("--frames", type=int, default=16, help="frames per generated video (default 16)")
    p.add_argument("--jobs", type=int, default=None, help="models trained at once (default: CPU cores, at most 2)")


def plan(methods: list[str], seeds: int) -> list[tuple[Any, str, int]]:
    """(recipe, variant, seed) runs: each method on its variant with its baselines there, for every seed."""
    from ..commands.demo import _jobs  # the demo's pairing of methods and baselines (private; shared on purpose)

    return [(recipe, variant, seed) for seed in range(seeds) for recipe, variant in _jobs(methods)]


def _nanmean(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def extra_metrics(cfg: Any, checkpoint: str | Path) -> dict[str, Any]:
    """Temporal fidelity / actionness in box / pointing game of a checkpoint on the test split (first view)."""
    import torch

    from ..data import build_dataset
    from ..data.transforms import normalize
    from ..engine.build import load_for_inference
    from ..engine.loader import eval_loader
    from ..engine.runtime import model_mean_std
    from ..explain.tracklets import PointingAccumulator
    from ..fidelity import FidelityMeter
    from ..models.atr import actionness_box_mass, box_area_fraction

    dataset = build_dataset(cfg, "test", views="1x1")
    loader = eval_loader(dataset, cfg.test.batch_size, 0, cfg.train.seed)
    model = load_for_inference(checkpoint, cfg, num_classes=dataset.num_classes).model.eval()
    mean, std = model_mean_std(model)
    fidelity = FidelityMeter()
    pointing = PointingAccumulator(criterion="cell")
    in_box: list[float] = []
    in_box_chance: list[float] = []
    with torch.no_grad():
        for batch in loader:
            clip = normalize(batch["clip"][:, 0], mean, std)
            extras = model(clip).extras
            size = tuple(clip.shape[-2:])
            if "attention" in extras and "action_mask" in batch:
                fidelity.update(extras["attention"], batch["action_mask"][:, 0])
            boxes = batch["boxes"][:, 0] if "boxes" in batch else None
            if "actionness" in extras and boxes is not None:
                actionness = extras["actionness"]
                mass = actionness_box_mass(actionness, boxes, size)
                chance = box_area_fraction(boxes, tuple(actionness.shape[-2:]), size)
                in_box += mass.flatten().tolist()
                in_box_chance += chance.flatten().tolist()
            if "regions" in extras and boxes is not None:
                pointing.update(extras["regions"], boxes, size)
    out: dict[str, Any] = {}
    if fidelity.count:
        out.update(fidelity.compute())
    if in_box:
        out["actionness_in_box"], out["actionness_in_box_chance"] = _nanmean(in_box), _nanmean(in_box_chance)
    if pointing.frames:
        score = pointing.result()
        out.update(pointing_any=score.any_tracklet, pointing_chance=score.chance,
                   pointing_per_tracklet=score.per_tracklet, pointing_criterion=score.criterion)
    return out


def bench_one(recipe: Any, cfg_dict: dict[str, Any], minutes: float, threads: int, seed: int) -> dict[str, Any]:
    """Worker: the demo's train + test + cost, the extra metrics, and bench_row.json in the run directory."""
    import json

    from ..config import from_dict
    from ..engine.experiment import run_recipe_in_worker
    from ..report import ROW_FILE

    row = run_recipe_in_worker(recipe, cfg_dict, minutes, threads, f"[{recipe.name} s{seed}] ")
    row.update(extra_metrics(from_dict(cfg_dict), row["checkpoint"]))
    row["seed"] = seed
    row["budget_minutes"] = minutes
    (Path(row["run_dir"]) / ROW_FILE).write_text(json.dumps(row, indent=1, default=str) + "\n", encoding="utf-8")
    return row


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    from ..data.synthetic import generate
    from ..engine.experiment import recipe_config
    from ..recipes import DEMO_CONFIG
    from ..report import write_report

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods is empty: name at least one recipe (see `actionlab demo --list`)")
    if args.budget_minutes <= 0 or args.seeds < 1:
        raise ConfigError("--budget-minutes must be positive and --seeds at least 1")
    runs = plan(methods, args.seeds)
    cores = os.cpu_count() or 1
    workers = max(1, min(args.jobs or min(2, cores), len(runs)))
    threads = max(1, cores // workers)
    out = Path(args.out or f"runs/bench-accuracy-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"actionlab bench accuracy: {len(runs)} runs ({args.seeds} seed(s)), {args.budget_minutes:g} min of "
          f"training each, {workers} at a time, {threads} thread(s) each; writing to {out}", flush=True)

    roots: dict[str, Path] = {}
    for variant in dict.fromkeys(v for _, v, _ in runs):
        synth = generate(out / "data" / variant, variant, videos_per_class=args.videos_per_class, size=64,
                         frames=args.frames, seed=0, workers=cores)
        roots[variant] = synth.root
        print(f"generated '{variant}': {synth.counts} videos of {len(synth.class_names)} classes", flush=True)

    jobs = [(recipe, seed, recipe_config(recipe, DEMO_CONFIG, roots[variant], out / "runs",
                                         [f"name={recipe.name}-{variant}-s{seed}", f"train.seed={seed}"]).to_dict())
            for recipe, variant, seed in runs]
    rows: list[dict[str, Any]] = []
    if workers == 1:
        torch.set_num_threads(threads)
        rows = [bench_one(recipe, cfg, args.budget_minutes, threads, seed) for recipe, seed, cfg in jobs]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
            futures = {pool.submit(bench_one, recipe, cfg, args.budget_minutes, threads, seed): i
                       for i, (recipe, seed, cfg) in enumerate(jobs)}
            done: dict[int, dict[str, Any]] = {}
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                print(f"finished {len(done)}/{len(jobs)} runs ({(time.perf_counter() - started) / 60:.1f} min)",
                      flush=True)
            rows = [done[i] for i in range(len(jobs))]
    elapsed = time.perf_counter() - started
    header = (f"# actionlab bench accuracy\n\nMachine: {platform.machine()}, {cores} CPU core(s) "
              f"({platform.processor() or platform.platform()}), torch {torch.__version__}, no GPU used. Budget: "
              f"{args.budget_minutes:g} min of training per model (epochs set by timing a few steps), "
              f"{args.seeds} seed(s), {workers} model(s) at a time with {threads} thread(s) each; "
              f"{args.videos_per_class} training videos per class, {args.frames} frames, 64 px read at 32 px. "
              f"The whole benchmark took {elapsed / 60:.1f} min.\n\nReproduce: `actionlab bench accuracy "
              f"--budget-minutes {args.budget_minutes:g} --seeds {args.seeds} --methods {','.join(methods)} "
              f"--videos-per-class {args.videos_per_class} --frames {args.frames}`")
    paths = write_report(rows, out, header)
    print("\n" + paths["markdown"].read_text())
    print(f"everything is in {out}")
    return 0
