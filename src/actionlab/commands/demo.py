"""actionlab demo [--methods tsn,tsm] [--minutes M] [--out DIR]: the methods against their baselines.

1. generates the built-in temporal benchmark (real MP4 files; the variant each recipe needs),
2. trains every requested recipe and the baseline it is compared with, each for the same
   time budget (`--minutes` of training per model, turned into epochs by timing a few steps),
   two at a time on a 2-core machine (one core each, so both get the same share),
3. tests them on the held-out test split and measures their cost (GMACs, parameters),
4. prints the comparison table (top-1, within-pair accuracy against its 50% chance level,
   GMACs, params, clips/s) and the predictions of each model on a few held-out videos,
5. writes everything (data, runs, checkpoints, tables as Markdown and JSON) to one run
   directory, named at the end.

The numbers are whatever the runs give: nothing is tuned after the fact.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", default="tsn,tsm", help="comma-separated recipes (their baselines are added); "
                   "see `--list`")
    p.add_argument("--minutes", type=float, default=5.0, help="training minutes per model (default 5)")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (default runs/demo-<time>)")
    p.add_argument("--videos-per-class", type=int, default=48, help="training videos per class (default 48)")
    p.add_argument("--frames", type=int, default=16, help="frames per generated video (default 16)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of every run")
    p.add_argument("--jobs", type=int, default=None, help="models trained at once (default: CPU cores, at most 2)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="train and test on an external dataset in the generic format (train/val/test.txt, "
                        "classes.txt; optional annotations.json) instead of the built-in benchmark")
    p.add_argument("--list", action="store_true", help="list the recipes with their settings and exit")


def recipe_settings(recipe: Any) -> str:
    """What a recipe changes on top of the demo config: its model kwargs and config overrides, as `--set` strings."""
    return " ".join(o for o in recipe.config_overrides() if not o.startswith(("model.name=", "name="))) or "-"


def _list_recipes() -> int:
    from ..engine.reports import format_table
    from ..recipes import DEMO_CONFIG, all_recipes

    rows = [{"recipe": r.name, "model": r.model, "baseline": r.baseline or "-", "variant": r.variant,
             "settings": recipe_settings(r), "description": r.description} for r in all_recipes().values()]
    print(format_table(rows, ["recipe", "model", "baseline", "variant", "settings", "description"]))
    d, o = DEMO_CONFIG["data"], DEMO_CONFIG["optim"]
    print(f"\nEvery recipe starts from the demo config (configs/demo.yaml): {d['num_segments']} segments, "
          f"{d['input_size']} px crops of {d['scale_size']} px frames, batch {d['batch_size']}, {o['name']} lr "
          f"{o['lr']} ({o['schedule']}, warmup {o['warmup_epochs']} epoch), weight decay {o['weight_decay']}, "
          f"clip_grad {o['clip_grad']}, model.kwargs {DEMO_CONFIG['model']['kwargs']}; 'settings' are the recipe's "
          f"changes to it. The number of epochs is set by --minutes (demo) or --epochs (bench accuracy).")
    return 0


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


def comparison_table(rows: list[dict[str, Any]]) -> str:
    from ..engine.reports import format_table

    table = [{
        "method": r["recipe"],
        "model": r["model"],
        "vs": r["baseline"] or "-",
        "top-1": _fmt(r["top1"], ".3f"),
        "within-pair": _fmt(r["within_pair"], ".3f"),
        "pair chance": "0.500" if r["pairs"] else "-",
        "top-1 chance": _fmt(1 / r["classes"], ".3f"),
        "GMACs": _fmt(r["gmacs"], ".3f"),
        "params (M)": _fmt(r["params_m"], ".3f"),
        "train clips/s": _fmt(r["train_clips_per_s"], ".1f"),
        "test clips/s": _fmt(r["test_clips_per_s"], ".1f"),
        "epochs": str(r["epochs"]),
        "train min": _fmt(r["train_seconds"] / 60, ".1f"),
    } for r in rows]
    return format_table(table, list(table[0]))


def pairs_table(rows: list[dict[str, Any]]) -> str:
    """Within-pair accuracy of each model on each pair of time-reversed classes."""
    from ..engine.reports import format_table

    pairs = list(rows[0]["within_pair_by_pair"])
    table = [{"method": r["recipe"], **{p: _fmt(r["within_pair_by_pair"].get(p), ".3f") for p in pairs}} for r in rows]
    return format_table(table, ["method", *pairs])


def predictions_table(rows: list[dict[str, Any]], data_root: Path, per_class: int = 1) -> str:
    """Each model's top-1 (score) on the first `per_class` test videos of every class."""
    from ..api import load
    from ..engine.reports import format_table

    lines = [line.split() for line in (data_root / "test.txt").read_text().splitlines() if line.strip()]
    class_names = (data_root / "classes.txt").read_text().split()
    picked: list[tuple[str, int]] = []
    for path, label_text in lines:
        if sum(1 for _, y in picked if y == int(label_text)) < per_class:
            picked.append((path, int(label_text)))
    predictors = {r["recipe"]: load(r["checkpoint"], device="cpu") for r in rows}
    table = []
    for path, label in picked:
        row = {"video": path, "true class": class_names[label]}
        for name, predictor in predictors.items():
            pred = predictor.predict(str(data_root / path), topk=1)
            mark = "" if pred.label == class_names[label] else " x"
            row[name] = f"{pred.label} {pred.score:.2f}{mark}"
        table.append(row)
    return format_table(table, ["video", "true class", *predictors])


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_recipes()
    import torch

    from ..data.synthetic import generate
    from ..engine.experiment import recipe_config, run_recipe_in_worker
    from ..recipes import DEMO_CONFIG, external_data_overrides, runs_with_baselines

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods is empty: name at least one recipe (see `actionlab demo --list`)")
    if args.minutes <= 0:
        raise ConfigError(f"--minutes must be positive, got {args.minutes}")
    jobs = runs_with_baselines(methods)
    data_extra = external_data_overrides(Path(args.data)) if args.data else []
    cores = os.cpu_count() or 1
    workers = max(1, min(args.jobs or min(2, cores), len(jobs)))
    threads = getattr(args, "threads", None) or max(1, cores // workers)  # --threads: per model trained
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"actionlab demo: {', '.join(f'{r.name} ({v})' for r, v in jobs)}; {args.minutes:g} min of training each, "
          f"{workers} at a time on {cores} cores; writing to {out}")

    # 1. the benchmark, once per variant
    roots: dict[str, Path] = {}
    for variant in dict.fromkeys(v for _, v in jobs):
        if args.data:  # every recipe on the external dataset
            roots[variant] = Path(args.data).resolve()
            continue
        t0 = time.perf_counter()
        synth = generate(out / "data" / variant, variant, videos_per_class=args.videos_per_class, size=64,
                         frames=args.frames, seed=args.seed, workers=cores)
        roots[variant] = synth.root
        print(f"generated the '{variant}' benchmark: {synth.counts} videos of {len(synth.class_names)} classes in "
              f"{time.perf_counter() - t0:.0f} s -> {synth.root}")

    # 2-3. train + test every (recipe, variant), `workers` at a time
    configs = []
    for recipe, variant in jobs:
        cfg = recipe_config(recipe, DEMO_CONFIG, roots[variant], out / "runs",
                            [f"name={recipe.name}-{'data' if args.data else variant}", f"train.seed={args.seed}",
                             *data_extra])
        configs.append((recipe, variant, cfg))
    results: dict[tuple[str, str], dict[str, Any]] = {}
    if workers == 1:
        torch.set_num_threads(threads)
        for recipe, variant, cfg in configs:
            results[(recipe.name, variant)] = run_recipe_in_worker(recipe, cfg.to_dict(), args.minutes, threads,
                                                                   f"[{recipe.name}] ")
    else:
        # a fresh process per model: its own thread setting, stdout prefix and memory
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
            futures = {pool.submit(run_recipe_in_worker, recipe, cfg.to_dict(), args.minutes, threads,
                                   f"[{recipe.name}] "): (recipe.name, variant) for recipe, variant, cfg in configs}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
    rows = [results[(r.name, v)] for r, v in jobs]

    # 4. tables
    sections = []
    for shown in roots:
        variant_rows = [r for r, (_, v) in zip(rows, jobs) if v == shown]
        sections.append(f"## '{shown}' benchmark: test split, views 1x1\n\n{comparison_table(variant_rows)}")
        if variant_rows[0]["pairs"]:
            sections.append(f"## Within-pair accuracy by pair ('{shown}'; chance 0.5)\n\n{pairs_table(variant_rows)}")
        sections.append(f"## Predictions on held-out videos ('{shown}')\n\n"
                        f"{predictions_table(variant_rows, roots[shown])}")
    elapsed = time.perf_counter() - started
    footer = (f"within-pair: how often the true class outscores its time-reversed twin (chance 0.5). "
              f"Budget: {args.minutes:g} min of training per model, {threads} thread(s) each, {workers} at a time; "
              f"the whole demo took {elapsed / 60:.1f} min.")
    text = "\n\n".join(sections) + "\n\n" + footer
    print("\n" + text)
    (out / "results.md").write_text("# actionlab demo\n\n" + text + "\n", encoding="utf-8")
    settings = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    summary = {"args": settings, "rows": rows, "seconds": elapsed}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\neverything is in {out}")
    return 0
