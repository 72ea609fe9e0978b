"""actionlab bench accuracy: every method against its baseline on the built-in benchmark, one command.

    actionlab bench accuracy [--epochs E | --budget-minutes M] [--seeds N] [--methods tsm,tefe,...] [--data DIR]
                             [--out DIR]

1. generates each benchmark variant the recipes name once (seed 0 data: every model sees the same videos),
2. for every seed, trains and tests every recipe and its baseline with the same budget - by default the
   same number of epochs (so the same optimizer steps on the same clips; a machine under load gives the
   same numbers, only later), or with `--budget-minutes` the same training time (epochs set by timing a
   few steps: cheaper models get more epochs, and the result depends on the machine's load) - with the
   demo's machinery (`engine.experiment.run_recipe_in_worker`: train, test, GMACs/params), two models at a
   time, one torch thread each,
3. adds the method-specific numbers from one more pass over the test split (first view): temporal
   fidelity of the "attention" extras against "action_mask" (TFE, vanilla attention), actionness inside
   the moving part's box (ATR), the pointing game of ART's tracklet "regions",
4. saves each run's row as `bench_row.json` in its run directory and writes the table, CSV, plots and
   the claim checks with `actionlab.report` (`actionlab report DIR` rebuilds them from the files).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import ConfigError

# every method of the four papers (+ TSM); their baselines (tsn, tsm, art_backbone, vanilla_attention) are added
DEFAULT_EPOCHS = 10
DEFAULT_METHODS = ["tsm", "tefe_te_only", "tefe_fe_only", "tefe", "atr_sim", "atr", "tsm_atr", "art", "tfe"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs per model, the same for every model (default {DEFAULT_EPOCHS})")
    budget.add_argument("--budget-minutes", type=float, default=None,
                        help="instead of --epochs: training minutes per model (depends on the machine's load)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="an external dataset in the generic format (train/val/test.txt, classes.txt; optional "
                        "annotations.json with boxes/pairs) instead of the built-in benchmark")
    p.add_argument("--seeds", type=int, default=3, help="training seeds per model (default 3)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated recipes; their baselines are added (default: all methods)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/bench-accuracy-<time>)")
    p.add_argument("--videos-per-class", type=int, default=48, help="training videos per class (default 48)")
    p.add_argument("--frames", type=int, default=16, help="frames per generated video (default 16)")
    p.add_argument("--order", choices=("seed", "method"), default="seed",
                   help="run every method for seed 0 first (seed, default), or every seed of a method first (method)")
    p.add_argument("--jobs", type=int, default=None, help="models trained at once (default: CPU cores, at most 2)")


def plan(methods: list[str], seeds: int, order: str = "seed") -> list[tuple[Any, str, int]]:
    """(recipe, variant, seed) runs: each method on its variant with its baselines there, for every seed.

    order "seed": every method once, then again for the next seed; "method": every seed of the first method
    (and its baselines) before the next method, so that a benchmark stopped early has complete comparisons.
    """
    from ..recipes import runs_with_baselines

    if order == "seed":
        return [(recipe, variant, seed) for seed in range(seeds) for recipe, variant in runs_with_baselines(methods)]
    if order != "method":
        raise ConfigError(f"--order must be 'seed' or 'method', got {order!r}")
    runs: list[tuple[Any, str, int]] = []
    for name in methods:
        for seed in range(seeds):
            runs += [(r, v, seed) for r, v in runs_with_baselines([name]) if (r, v, seed) not in runs]
    return runs


def extra_metrics(cfg: Any, checkpoint: str | Path) -> dict[str, Any]:
    """The metrics the model declares (`eval_metrics`: temporal fidelity, actionness in box, pointing game) of a
    checkpoint on the test split (first view)."""
    from .. import eval_metrics
    from ..data import build_dataset
    from ..data.transforms import normalize
    from ..engine.build import load_for_inference
    from ..engine.loader import eval_loader
    from ..engine.runtime import model_mean_std
    from ..models.recognizer import evaluating

    dataset = build_dataset(cfg, "test", views="1x1")
    loader = eval_loader(dataset, cfg.test.batch_size, 0, cfg.train.seed)
    model = load_for_inference(checkpoint, cfg, num_classes=dataset.num_classes).model
    mean, std = model_mean_std(model)
    meters = eval_metrics.declared_meters(model)
    with evaluating(model):
        for batch in loader:
            clip = normalize(batch["clip"][:, 0], mean, std)
            extras = model(clip).extras
            for meter in meters.values():
                if meter.batch_key in batch:
                    meter.observe(extras, batch[meter.batch_key][:, 0], (clip.shape[-2], clip.shape[-1]))
    return eval_metrics.results(meters)


def bench_one(recipe: Any, cfg_dict: dict[str, Any], minutes: float | None, threads: int, seed: int
              ) -> dict[str, Any]:
    """Worker: the demo's train + test + cost, the extra metrics, and bench_row.json in the run directory."""
    import json

    from ..config import from_dict
    from ..engine.experiment import run_recipe_in_worker
    from ..report import ROW_FILE

    row = run_recipe_in_worker(recipe, cfg_dict, minutes, threads, f"[{recipe.name} s{seed}] ")
    row.update(extra_metrics(from_dict(cfg_dict), row["checkpoint"]))
    row["seed"] = seed
    row["budget_minutes"] = minutes
    row["budget_epochs"] = None if minutes is not None else cfg_dict["train"]["epochs"]
    (Path(row["run_dir"]) / ROW_FILE).write_text(json.dumps(row, indent=1, default=str) + "\n", encoding="utf-8")
    return row


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    from ..data.synthetic import generate
    from ..engine.experiment import recipe_config
    from ..recipes import DEMO_CONFIG, external_data_overrides
    from ..report import write_report

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods is empty: name at least one recipe (see `actionlab demo --list`)")
    minutes = args.budget_minutes
    epochs = args.epochs if args.epochs is not None else (DEFAULT_EPOCHS if minutes is None else None)
    if (minutes is not None and minutes <= 0) or (epochs is not None and epochs < 1) or args.seeds < 1:
        raise ConfigError("--budget-minutes must be positive, --epochs and --seeds at least 1")
    budget = f"{epochs} epochs" if epochs is not None else f"{minutes:g} min"
    runs = plan(methods, args.seeds, getattr(args, "order", "seed"))
    cores = os.cpu_count() or 1
    workers = max(1, min(args.jobs or min(2, cores), len(runs)))
    threads = max(1, cores // workers)
    out = Path(args.out or f"runs/bench-accuracy-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    data_extra = external_data_overrides(Path(args.data)) if args.data else []
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"actionlab bench accuracy: {len(runs)} runs ({args.seeds} seed(s)), {budget} of training each, "
          f"{workers} at a time, {threads} thread(s) each; writing to {out}", flush=True)

    roots: dict[str, Path] = {}
    for variant in dict.fromkeys(v for _, v, _ in runs):
        if args.data:  # every recipe on the external dataset
            roots[variant] = Path(args.data).resolve()
            continue
        synth = generate(out / "data" / variant, variant, videos_per_class=args.videos_per_class, size=64,
                         frames=args.frames, seed=0, workers=cores)
        roots[variant] = synth.root
        print(f"generated '{variant}': {synth.counts} videos of {len(synth.class_names)} classes", flush=True)

    budget_extra = [f"train.epochs={epochs}"] if epochs is not None else []
    jobs = []
    for recipe, variant, seed in runs:
        label = "data" if args.data else variant
        extra = [f"name={recipe.name}-{label}-s{seed}", f"train.seed={seed}", *budget_extra, *data_extra]
        jobs.append((recipe, seed, recipe_config(recipe, DEMO_CONFIG, roots[variant], out / "runs", extra).to_dict()))
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    if workers == 1:
        torch.set_num_threads(threads)
        for recipe, seed, cfg in jobs:
            try:
                rows.append(bench_one(recipe, cfg, minutes, threads, seed))
            except Exception as e:  # one broken run must not lose the others' results
                failed.append(f"{recipe.name} s{seed}: {type(e).__name__}: {e}")
                print(f"FAILED {failed[-1]}", flush=True)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
            futures = {pool.submit(bench_one, recipe, cfg, minutes, threads, seed): i
                       for i, (recipe, seed, cfg) in enumerate(jobs)}
            done: dict[int, dict[str, Any]] = {}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    done[i] = future.result()
                except Exception as e:
                    failed.append(f"{jobs[i][0].name} s{jobs[i][1]}: {type(e).__name__}: {e}")
                    print(f"FAILED {failed[-1]}", flush=True)
                print(f"finished {len(done) + len(failed)}/{len(jobs)} runs "
                      f"({(time.perf_counter() - started) / 60:.1f} min)", flush=True)
            rows = [done[i] for i in sorted(done)]
    if not rows:
        raise ConfigError("bench accuracy: every run failed:\n" + "\n".join(failed))
    elapsed = time.perf_counter() - started
    how = ("the same number of epochs for every model" if epochs is not None
           else "epochs set by timing a few steps")
    data = (f"dataset {Path(args.data).resolve()}" if args.data else
            f"{args.videos_per_class} training videos per class, {args.frames} frames, 64 px read at 32 px")
    budget_arg = f"--epochs {epochs}" if epochs is not None else f"--budget-minutes {minutes:g}"
    order = getattr(args, "order", "seed")
    reproduce = (f"actionlab bench accuracy {budget_arg} --seeds {args.seeds} --order {order} "
                 f"--methods {','.join(methods)}"
                 + (f" --data {args.data}" if args.data else
                    f" --videos-per-class {args.videos_per_class} --frames {args.frames}"))
    header = (f"# actionlab bench accuracy\n\nMachine: {platform.machine()}, {cores} CPU core(s) "
              f"({platform.processor() or platform.platform()}), torch {torch.__version__}, no GPU used. Budget: "
              f"{budget} of training per model ({how}), {args.seeds} seed(s), {workers} model(s) at a time with "
              f"{threads} thread(s) each; {data}. The whole benchmark took {elapsed / 60:.1f} min."
              + (f" {len(failed)} run(s) failed: {'; '.join(failed)}." if failed else "")
              + f"\n\nReproduce: `{reproduce}`")
    paths = write_report(rows, out, header)
    print("\n" + paths["markdown"].read_text())
    print(f"everything is in {out}")
    return 0 if not failed else 1
