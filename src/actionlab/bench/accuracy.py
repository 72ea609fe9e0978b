"""actionlab bench accuracy: every method against its baseline on the built-in benchmark, one command.

    actionlab bench accuracy [--epochs E | --epochs order=40,finegrained=30 | --budget-minutes M] [--seeds N]
                             [--methods tsm,tefe,...] [--eval-every 1] [--data DIR] [--out DIR] [--quick]

1. generates each benchmark variant the recipes name once (seed 0 data: every model sees the same videos),
2. for every seed, trains and tests every recipe and its baseline with the same budget - by default the
   same number of epochs (so the same optimizer steps on the same clips; a machine under load gives the
   same numbers, only later), or with `--budget-minutes` the same training time (epochs set by timing a
   few steps: cheaper models get more epochs, and the result depends on the machine's load) - with the
   demo's machinery (`engine.experiment.run_recipe_in_worker`: train, test, GMACs/params), two models at a
   time, one torch thread each (`--threads`: the thread count changes the last bits of every sum, and
   training amplifies them, so it is fixed rather than taken from the machine's cores),
3. adds the method-specific numbers from one more pass over the test split (first view): temporal
   fidelity of the "attention" extras against "action_mask" (TFE, vanilla attention), actionness inside
   the moving part's box (ATR), the pointing game of ART's tracklet "regions",
4. saves each run's row as `bench_row.json` in its run directory and writes the table, CSV, plots and
   the claim checks with `actionlab.report` (`actionlab report DIR` rebuilds them from the files).

The budget can differ per benchmark variant (`--epochs order=40,finegrained=40,distractor=30`: each
variant's models converge at their own pace; every model of a variant gets the same epochs).
`--eval-every 1` validates after every epoch, so the report's training curves show where validation
accuracy stops rising (the evidence a budget converged). The defaults are the budget benchmarks/accuracy.md
chose from those curves: 40 epochs a model, 32 training and 24 validation / test videos a class, validation
every 2 epochs, 3 seeds (hours on a 2-core CPU). A run whose `bench_row.json` already exists in
`--out` with the same budget is not run again: `--seeds 5` on a finished 3-seed directory adds seeds 3-4.
`--quick` checks the pipeline in a few minutes (2 epochs, 1 seed, 8 videos a class): one seed gives
no spread, so every comparison then reads "cannot tell".
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
# the budget benchmarks/accuracy.md chose from the training curves: every model of every variant stops rising
# by epoch 30 (but ATR_sim); 32 training and 24 validation/test videos a class; validation every 2 epochs
DEFAULT_EPOCHS = 40
DEFAULTS: dict[str, Any] = {"seeds": 3, "videos_per_class": 32, "eval_per_class": 24, "eval_every": 2}
DEFAULT_METHODS = ["tsm", "tefe_te_only", "tefe_fe_only", "tefe", "atr_sim", "atr", "tsm_atr", "art", "tfe"]
QUICK: dict[str, Any] = {"epochs": "2", "seeds": 1, "videos_per_class": 8, "eval_per_class": 4, "eval_every": 0}


def parse_epochs(text: str | None, variants: list[str]) -> dict[str, int] | None:
    """`--epochs`: "N" (every variant) or "variant=N,..." (each variant that runs must be named) -> {variant: N}."""
    if text is None:
        return None
    text = text.strip()
    if text.isdigit():
        out = {v: int(text) for v in variants}
    else:
        out = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, sep, value = part.partition("=")
            if not sep or not value.strip().isdigit():
                raise ConfigError(f"--epochs {text!r}: expected a number or 'variant=N,...', got {part!r}")
            out[name.strip()] = int(value)
        missing = [v for v in variants if v not in out]
        if missing:
            raise ConfigError(f"--epochs {text!r} names no budget for {', '.join(missing)} (the variants these "
                              f"methods run on: {', '.join(variants)})")
        out = {v: out[v] for v in variants}
    if any(e < 1 for e in out.values()):
        raise ConfigError(f"--epochs {text!r}: every budget must be at least 1 epoch")
    return out


def format_epochs(epochs: dict[str, int]) -> str:
    """{variant: N} back to the `--epochs` argument: "N" when every variant has the same budget."""
    values = set(epochs.values())
    return str(values.pop()) if len(values) == 1 else ",".join(f"{v}={e}" for v, e in epochs.items())


def add_arguments(p: argparse.ArgumentParser) -> None:
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", default=None, metavar="N|VARIANT=N,...",
                        help=f"training epochs per model, the same for every model of a variant: N, or per variant "
                             f"e.g. order=40,finegrained=40,distractor=30 (default {DEFAULT_EPOCHS})")
    budget.add_argument("--budget-minutes", type=float, default=None,
                        help="instead of --epochs: training minutes per model (depends on the machine's load)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="an external dataset in the generic format (train/val/test.txt, classes.txt; optional "
                        "annotations.json with boxes/pairs) instead of the built-in benchmark")
    p.add_argument("--seeds", type=int, default=None, help="training seeds per model (default 3)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated recipes; their baselines are added (default: all methods)")
    p.add_argument("--out", default=None, metavar="DIR", help="output directory (default runs/bench-accuracy-<time>)")
    p.add_argument("--videos-per-class", type=int, default=None,
                   help=f"training videos per class (default {DEFAULTS['videos_per_class']})")
    p.add_argument("--frames", type=int, default=16, help="frames per generated video (default 16)")
    p.add_argument("--order", choices=("seed", "method"), default="seed",
                   help="run every method for seed 0 first (seed, default), or every seed of a method first (method)")
    p.add_argument("--jobs", type=int, default=None, help="models trained at once (default: CPU cores, at most 2)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per model (default 1: the results then "
                   "do not depend on the machine's cores)")
    p.add_argument("--eval-every", type=int, default=None, metavar="E",
                   help=f"validate every E epochs while training: the training curves of the report (default "
                        f"{DEFAULTS['eval_every']}; 0: no validation; the test split is scored after training either "
                        f"way)")
    p.add_argument("--eval-per-class", type=int, default=None, metavar="N",
                   help=f"validation and test videos per class of the generated data (default "
                        f"{DEFAULTS['eval_per_class']})")
    p.add_argument("--quick", action="store_true",
                   help="a few-minute check of the pipeline: 2 epochs, 1 seed, 8 training videos a class "
                        "(every comparison then reads 'cannot tell')")


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
    backbone_hits, seen = 0, 0
    with evaluating(model):
        for batch in loader:
            clip = normalize(batch["clip"][:, 0], mean, std)
            extras = model(clip).extras
            for meter in meters.values():
                if meter.batch_key in batch:
                    meter.observe(extras, batch[meter.batch_key][:, 0], (clip.shape[-2], clip.shape[-1]))
            if "backbone_logits" in extras and batch["label"].dim() == 1:  # ART: the Eq. 10 readout, same model
                backbone_hits += int((extras["backbone_logits"].argmax(-1) == batch["label"]).sum())
                seen += len(batch["label"])
    out = eval_metrics.results(meters)
    if seen:
        out["backbone_top1"] = backbone_hits / seen
    return out


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
    row["threads"] = threads  # the last bits of a sum depend on the thread count, and training amplifies them
    row["budget_minutes"] = minutes
    row["budget_epochs"] = None if minutes is not None else cfg_dict["train"]["epochs"]
    (Path(row["run_dir"]) / ROW_FILE).write_text(json.dumps(row, indent=1, default=str) + "\n", encoding="utf-8")
    return row


def _threads(args: argparse.Namespace) -> int:
    """Torch threads per model: `--threads`, 1 unless given, never derived from the cores (a seeded run must
    give the same numbers on a 2-core and a 16-core machine)."""
    threads = getattr(args, "threads", 1)
    if threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    return threads


def _budget(args: argparse.Namespace, variants: list[str]) -> tuple[dict[str, int] | None, float | None]:
    """({variant: epochs} or None, minutes or None) from --epochs / --budget-minutes / --quick."""
    minutes = args.budget_minutes
    if minutes is not None:
        if minutes <= 0:
            raise ConfigError("--budget-minutes must be positive")
        return None, minutes
    text = args.epochs if args.epochs is not None else str(DEFAULT_EPOCHS)
    return parse_epochs(str(text), variants), None


def _apply_defaults(args: argparse.Namespace) -> None:
    """Options left unset get `--quick`'s values with --quick, else the defaults; the ones given are kept."""
    defaults = QUICK if getattr(args, "quick", False) else DEFAULTS
    for key, value in defaults.items():
        if getattr(args, key, None) is None and not (key == "epochs" and args.budget_minutes is not None):
            setattr(args, key, value)


def _generate_variants(args: argparse.Namespace, variants: list[str], out: Path, cores: int) -> dict[str, Path]:
    """The data root of every variant: the external dataset, or the built-in benchmark generated once under
    `out/data/` (kept when a finished generation with the same settings is already there)."""
    import json

    from ..data.synthetic import generate

    roots: dict[str, Path] = {}
    for variant in variants:
        if args.data:  # every recipe on the external dataset
            roots[variant] = Path(args.data).resolve()
            continue
        root = out / "data" / variant
        settings = {"variant": variant, "videos_per_class": args.videos_per_class, "frames": args.frames,
                    "eval_per_class": args.eval_per_class, "size": 64, "seed": 0}
        stamp = root / "bench_data.json"
        if stamp.is_file() and json.loads(stamp.read_text()) == settings:
            roots[variant] = root.resolve()
            print(f"reusing '{variant}' in {root}", flush=True)
            continue
        synth = generate(root, variant, videos_per_class=args.videos_per_class, size=64, frames=args.frames,
                         seed=0, workers=cores, eval_per_class=args.eval_per_class)
        roots[variant] = Path(synth.root).resolve()
        (roots[variant] / stamp.name).write_text(json.dumps(settings) + "\n", encoding="utf-8")
        print(f"generated '{variant}': {synth.counts} videos of {len(synth.class_names)} classes", flush=True)
    return roots


def _finished_row(run_dir: Path, epochs: int | None, minutes: float | None) -> dict[str, Any] | None:
    """The saved row of a run already finished with this budget (None: run it)."""
    import json

    from ..report import ROW_FILE

    path = run_dir / ROW_FILE
    if not path.is_file():
        return None
    row = json.loads(path.read_text())
    same = row.get("budget_epochs") == epochs and row.get("budget_minutes") == minutes
    return row if same else None


def _run_jobs(jobs: list[tuple[Any, int, dict[str, Any]]], minutes: float | None, workers: int, threads: int,
              started: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Every job (recipe, seed, config dict) through `bench_one`, `workers` at a time; (rows, failures)."""
    import torch

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
        return rows, failed
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
    return [done[i] for i in sorted(done)], failed


def load_average() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them ('n/a' where the OS has none)."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run(args: argparse.Namespace) -> int:
    import platform

    import torch

    from ..engine.experiment import recipe_config
    from ..recipes import DEMO_CONFIG, external_data_overrides
    from ..report import write_report

    _apply_defaults(args)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods is empty: name at least one recipe (see `actionlab demo --list`)")
    if args.seeds < 1 or args.eval_every < 0 or (args.eval_per_class is not None and args.eval_per_class < 1):
        raise ConfigError("--seeds and --eval-per-class must be at least 1, --eval-every at least 0")
    order = getattr(args, "order", "seed")
    runs = plan(methods, args.seeds, order)
    variants = list(dict.fromkeys(v for _, v, _ in runs))
    epochs, minutes = _budget(args, variants)
    budget = (f"{format_epochs(epochs)} epochs" if epochs and len(set(epochs.values())) == 1 else
              f"epochs {format_epochs(epochs)}" if epochs else f"{minutes:g} min")
    cores = os.cpu_count() or 1
    workers = max(1, min(args.jobs or min(2, cores), len(runs)))
    threads = _threads(args)
    out = Path(args.out or f"runs/bench-accuracy-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    data_extra = external_data_overrides(Path(args.data)) if args.data else []
    out.mkdir(parents=True, exist_ok=True)
    started, load_start = time.perf_counter(), load_average()
    print(f"actionlab bench accuracy: {len(runs)} runs ({args.seeds} seed(s)), {budget} of training each, "
          f"{workers} at a time, {threads} thread(s) each; writing to {out} (load average {load_start})", flush=True)
    roots = _generate_variants(args, variants, out, cores)

    jobs, reused = [], []
    for recipe, variant, seed in runs:
        label = "data" if args.data else variant
        name = f"{recipe.name}-{label}-s{seed}"
        run_epochs = epochs[variant] if epochs else None
        extra = [f"name={name}", f"train.seed={seed}", f"train.eval_every={args.eval_every}", *data_extra]
        extra += [f"train.epochs={run_epochs}"] if run_epochs is not None else []
        row = _finished_row(out / "runs" / name, run_epochs, minutes)
        if row is not None:
            reused.append(row)
            continue
        jobs.append((recipe, seed, recipe_config(recipe, DEMO_CONFIG, roots[variant], out / "runs", extra).to_dict()))
    if reused:
        print(f"{len(reused)} run(s) already finished with this budget in {out / 'runs'}: kept", flush=True)
    rows, failed = _run_jobs(jobs, minutes, workers, threads, started)
    rows = reused + rows
    if not rows:
        raise ConfigError("bench accuracy: every run failed:\n" + "\n".join(failed))
    elapsed = time.perf_counter() - started
    how = ("the same number of epochs for every model of a variant" if epochs is not None
           else "epochs set by timing a few steps")
    data = (f"dataset {Path(args.data).resolve()}" if args.data else
            f"{args.videos_per_class} training videos per class, {args.frames} frames, 64 px read at 32 px")
    budget_arg = f"--epochs {format_epochs(epochs)}" if epochs is not None else f"--budget-minutes {minutes:g}"
    reproduce = (f"actionlab bench accuracy {budget_arg} --seeds {args.seeds} --order {order} "
                 f"--methods {','.join(methods)}"
                 + (f" --eval-every {args.eval_every}" if args.eval_every else "")
                 + (f" --threads {threads}" if threads != 1 else "")
                 + (f" --data {args.data}" if args.data else
                    f" --videos-per-class {args.videos_per_class} --frames {args.frames}"
                    + (f" --eval-per-class {args.eval_per_class}" if args.eval_per_class else "")))
    header = (f"# actionlab bench accuracy\n\nMachine: {platform.machine()}, {cores} CPU core(s) "
              f"({platform.processor() or platform.platform()}), torch {torch.__version__}, no GPU used; load "
              f"average (1/5/15 min) {load_start} at the start, {load_average()} at the end. Budget: {budget} of "
              f"training per model ({how}), {args.seeds} seed(s), {workers} model(s) at a time with {threads} "
              f"thread(s) each; {data}. This invocation ran {len(jobs)} run(s) in {elapsed / 60:.1f} min"
              + (f" and kept {len(reused)} finished one(s)" if reused else "") + "."
              + (f" {len(failed)} run(s) failed: {'; '.join(failed)}." if failed else "")
              + f"\n\nReproduce: `{reproduce}`")
    paths = write_report(rows, out, header)
    print("\n" + paths["markdown"].read_text())
    print(f"everything is in {out}")
    return 0 if not failed else 1
