"""actionlab demo [--methods tsn,tsm] [--epochs E] [--out DIR]: the methods against their baselines.

1. generates the built-in temporal benchmark (real MP4 files; the variant each recipe needs),
2. trains every requested recipe and the baseline it is compared with for the same number of epochs
   (`--epochs`: an epoch budget, so the same seed prints the same table on every machine, idle or busy -
   only the time differs), one torch thread per model (results depend on the thread count), two models
   at a time on a multi-core machine (each in its own process),
3. tests them on the held-out test split and measures their cost (GMACs, parameters),
4. prints the comparison table (top-1, within-pair accuracy against its 50% chance level, the method's
   own metric where the data carry its annotation, GMACs, params), the within-pair accuracy of every
   pair, the predictions of each model on a few held-out videos, and the time each step took,
5. writes everything (data, runs, checkpoints, tables as Markdown and JSON) to one run directory,
   named at the end; `actionlab report DIR` then checks the papers' claims on it.

The numbers are whatever the runs give: nothing is tuned after the fact.  One seed gives no verdict on
a claim (the rule needs the spread over seeds): `actionlab bench accuracy --seeds 3` gives one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..errors import ConfigError

DEFAULT_EPOCHS = 30
# A measured run of the default demo (tsn + tsm, 48 training videos a class, 16 frames) on the 2-core
# development machine, for the expected time printed at the start (see README: "The two commands").
@dataclass(frozen=True)
class Reference:
    videos_per_class: int
    fixed_s: float  # data generation, process start, test, cost and predictions
    epoch_s: float  # one epoch of tsn and tsm side by side
    where: str


REFERENCE = Reference(videos_per_class=48, fixed_s=60.0, epoch_s=5.0, where="the 2-core development machine when idle")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", default="tsn,tsm", help="comma-separated recipes (their baselines are added); "
                   "see `--list`")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                   help="training epochs of every model (the budget: the same on every machine)")
    p.add_argument("--out", default=None, metavar="DIR", help="run directory (default runs/demo-<time>)")
    p.add_argument("--videos-per-class", type=int, default=48, help="training videos per class")
    p.add_argument("--frames", type=int, default=16, help="frames per generated video")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of every run")
    p.add_argument("--jobs", type=int, default=None, help="models trained at once (default: CPU cores, at most 2)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch CPU threads of each model (a fixed count: the results depend on it)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="train and test on an external dataset in the generic format (train.txt, test.txt, "
                        "classes.txt; optional val.txt and annotations.json) instead of the built-in benchmark")
    p.add_argument("--list", action="store_true", help="list the recipes with their settings and exit")


def recipe_settings(recipe: Any) -> str:
    """What a recipe changes on top of the demo config: its model kwargs and config overrides, as `--set` strings."""
    return " ".join(o for o in recipe.config_overrides() if not o.startswith(("model.name=", "name="))) or "-"


def _list_recipes() -> int:
    from ..recipes import DEMO_CONFIG, all_recipes
    from ._common import format_records

    records = [{"head": f"{r.name}  ({r.variant}; vs {r.baseline or '-'}; model {r.model})",
                "": r.description, "settings": recipe_settings(r)} for r in all_recipes().values()]
    print(format_records(records, ["", "settings"]))
    d, o = DEMO_CONFIG["data"], DEMO_CONFIG["optim"]
    print(format_records([{"head": "Every recipe starts from the demo config (configs/demo.yaml):", "": (
        f"{d['num_segments']} segments, {d['input_size']} px crops of {d['scale_size']} px frames, batch "
        f"{d['batch_size']}, {o['name']} lr {o['lr']} ({o['schedule']}, warmup {o['warmup_epochs']} epoch), weight "
        f"decay {o['weight_decay']}, clip_grad {o['clip_grad']}, model.kwargs {DEMO_CONFIG['model']['kwargs']}; "
        "'settings' are a recipe's changes to it. Epochs: --epochs (demo, bench accuracy).")}], [""]))
    return 0


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None or value != value else format(value, spec)


# the method's own metric, shown where some row has it: (row key, its chance key, column title)
METHOD_METRICS = [("fidelity_auc", None, "fidelity AUC"), ("pointing_any", "pointing_chance", "pointing (chance)"),
                  ("actionness_in_box", "actionness_in_box_chance", "in box (uniform)")]


def comparison_table(rows: list[dict[str, Any]]) -> str:
    """What the runs measured: the same for the same seed on every machine (timings: `timing_table`)."""
    from ..engine.reports import format_table

    table = []
    for r in rows:
        row = {"method": r["recipe"], "model": r["model"], "vs": r["baseline"] or "-", "epochs": str(r["epochs"]),
               "top-1": _fmt(r["top1"], ".3f"), "top-1 chance": _fmt(1 / r["classes"], ".3f"),
               "within-pair": _fmt(r.get("within_pair"), ".3f"), "pair chance": "0.500" if r.get("pairs") else "-"}
        for key, chance, title in METHOD_METRICS:
            if any(x.get(key) is not None for x in rows):
                row[title] = _fmt(r.get(key), ".3f") + (f" ({_fmt(r.get(chance), '.3f')})" if chance and
                                                        r.get(key) is not None else "")
        row.update({"GMACs": _fmt(r["gmacs"], ".3f"), "params (M)": _fmt(r["params_m"], ".3f")})
        table.append(row)
    return format_table(table, list(table[0]))


def timing_table(rows: list[dict[str, Any]]) -> str:
    """How long each model took here (differs between machines and with their load)."""
    from ..engine.reports import format_table

    table = [{"method": r["recipe"], "train min": _fmt(r["train_seconds"] / 60, ".1f"),
              "train clips/s": _fmt(r["train_clips_per_s"], ".1f"), "test clips/s": _fmt(r["test_clips_per_s"], ".1f")}
             for r in rows]
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

    class_names = [c.strip() for c in (data_root / "classes.txt").read_text().splitlines() if c.strip()]
    picked: list[tuple[str, int]] = []
    for line in (data_root / "test.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        label = int(parts[-1]) if parts[-1].isdigit() else class_names.index(parts[-1]) \
            if parts[-1] in class_names else -1
        if label >= 0 and sum(1 for _, y in picked if y == label) < per_class:
            picked.append((parts[0], label))
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


def expected_minutes(jobs: Sequence[tuple[Any, Any]], epochs: int, videos_per_class: int, workers: int) -> str:
    """The expected time, scaled from `REFERENCE` (tsn and tsm); other methods cost more per epoch."""
    ref = REFERENCE
    rounds = -(-len(jobs) // workers)  # models trained one after the other per process
    seconds = (ref.fixed_s + ref.epoch_s * epochs * videos_per_class / ref.videos_per_class) * rounds
    known = all(r.name in ("tsn", "tsm") for r, _ in jobs)
    return (f"about {seconds / 60:.0f} min on {ref.where}" + ("" if known else " if the methods cost what tsn "
            "does per epoch (most cost more: `actionlab flops MODEL`)") + "; longer on a busy machine")


def _generate(jobs: Sequence[tuple[Any, Any]], args: argparse.Namespace, out: Path, cores: int) -> dict[str, Path]:
    """The benchmark variant of every job, generated once (or the external dataset), with progress."""
    from ..data.synthetic import generate
    from ..engine.logs import Progress

    roots: dict[str, Path] = {}
    for variant in dict.fromkeys(v for _, v in jobs):
        if args.data:  # every recipe on the external dataset
            roots[variant] = Path(args.data).resolve()
            continue
        t0 = time.perf_counter()
        bar = Progress(f"generating the '{variant}' benchmark: videos", None, stream=sys.stdout)

        def progress(done: int, total: int, bar: Any = bar) -> None:
            bar.total = total
            bar.update(done)

        synth = generate(out / "data" / variant, variant, videos_per_class=args.videos_per_class, size=64,
                         frames=args.frames, seed=args.seed, workers=cores, progress=progress)
        bar.close()
        roots[variant] = synth.root
        print(f"generated the '{variant}' benchmark: {synth.counts} videos of {len(synth.class_names)} classes in "
              f"{time.perf_counter() - t0:.0f} s -> {synth.root}", flush=True)
    return roots


def _train_all(configs: Sequence[tuple[Any, Any, Any]], workers: int, threads: int) -> dict[tuple[str, str], Any]:
    """Train + test + cost of every (recipe, variant), `workers` at a time, each with `threads` torch threads."""
    import torch

    from ..engine.experiment import run_recipe_in_worker

    results: dict[tuple[str, str], dict[str, Any]] = {}
    started = time.perf_counter()

    def finished(key: tuple[str, str]) -> None:
        print(f"demo: {len(results)} of {len(configs)} models trained and tested ({key[0]} done; "
              f"{(time.perf_counter() - started) / 60:.1f} min)", flush=True)

    if workers == 1:
        torch.set_num_threads(threads)
        for recipe, variant, cfg in configs:
            results[(recipe.name, variant)] = run_recipe_in_worker(recipe, cfg.to_dict(), None, threads,
                                                                   f"[{recipe.name}] ")
            finished((recipe.name, variant))
        return results
    # a fresh process per model: its own thread setting, stdout prefix and memory
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_recipe_in_worker, recipe, cfg.to_dict(), None, threads,
                               f"[{recipe.name}] "): (recipe.name, variant) for recipe, variant, cfg in configs}
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            finished(futures[future])
    return results


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list_recipes()
    from ..engine.experiment import recipe_config
    from ..recipes import DEMO_CONFIG, external_data_overrides, runs_with_baselines

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods is empty: name at least one recipe (see `actionlab demo --list`)")
    if args.epochs < 1 or args.threads < 1:
        raise ConfigError(f"--epochs and --threads must be at least 1, got {args.epochs} and {args.threads}")
    jobs = runs_with_baselines(methods)
    data_extra = external_data_overrides(Path(args.data)) if args.data else []
    cores = os.cpu_count() or 1
    workers = max(1, min(args.jobs or min(2, cores), len(jobs)))
    out = Path(args.out or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"actionlab demo: {', '.join(f'{r.name} ({v})' for r, v in jobs)}; {args.epochs} epochs each, "
          f"{args.threads} thread(s) per model, {workers} at a time on {cores} cores; writing to {out}\n"
          f"expected time: {expected_minutes(jobs, args.epochs, args.videos_per_class, workers)} (each model "
          "prints its progress and ETA)", flush=True)

    roots = _generate(jobs, args, out, cores)
    configs = []
    for recipe, variant in jobs:
        cfg = recipe_config(recipe, DEMO_CONFIG, roots[variant], out / "runs",
                            [f"name={recipe.name}-{'data' if args.data else variant}", f"train.seed={args.seed}",
                             f"train.epochs={args.epochs}", *data_extra])
        configs.append((recipe, variant, cfg))
    results = _train_all(configs, workers, args.threads)
    rows = [results[(r.name, v)] for r, v in jobs]
    print("demo: predicting a few held-out videos with every model ...", flush=True)
    text = results_text(rows, jobs, roots)
    elapsed = time.perf_counter() - started
    timing = (f"## Time (this machine; the tables above are the same on every machine for the same seed)\n\n"
              f"{timing_table(rows)}\n\nThe whole demo took {elapsed / 60:.1f} min ({workers} model(s) at a time, "
              f"{args.threads} thread(s) each, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}).")
    print("\n" + text + "\n\n" + timing)
    (out / "results.md").write_text("# actionlab demo\n\n" + text + "\n\n" + timing + "\n", encoding="utf-8")
    settings = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    summary = {"args": settings, "rows": rows, "seconds": elapsed}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\neverything is in {out}\nthe papers' claims on these runs: actionlab report {out}")
    return 0


def results_text(rows: list[dict[str, Any]], jobs: Sequence[tuple[Any, Any]], roots: dict[str, Path]) -> str:
    """The tables a seed fixes: comparison, within-pair by pair, predictions on held-out videos."""
    sections = []
    for variant in roots:
        variant_rows = [r for r, (_, v) in zip(rows, jobs) if v == variant]
        sections.append(f"## '{variant}' benchmark: test split, views 1x1\n\n{comparison_table(variant_rows)}")
        if variant_rows[0].get("pairs"):
            sections.append(f"## Within-pair accuracy by pair ('{variant}'; chance 0.5)\n\n{pairs_table(variant_rows)}")
        sections.append(f"## Predictions on held-out videos ('{variant}')\n\n"
                        f"{predictions_table(variant_rows, roots[variant])}")
    sections.append("within-pair: how often the true class outscores its time-reversed twin (chance 0.5). "
                    "One seed: `actionlab report` calls every claim 'cannot tell' (no spread over seeds); "
                    "`actionlab bench accuracy --methods M --seeds 3` gives verdicts.")
    return "\n\n".join(sections)
