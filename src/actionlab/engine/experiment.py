"""One recipe on the built-in benchmark: config -> (calibrated) training -> test -> cost.

Used by `actionlab demo` (and usable by `bench accuracy`):

    cfg = recipe_config(recipe, "configs/demo.yaml", data_root, work_dir)
    row = run_recipe(recipe, cfg, minutes=3)      # a dict: accuracy, within-pair accuracy, GMACs, ...

A time budget is turned into a number of epochs before training starts: a few
timed steps measure the clip rate of this model on this machine, and the
schedule then runs to completion in about that many minutes (a run cut off
mid-schedule would compare half-trained models).
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..config import Config, apply_overrides, from_dict, read_yaml
from ..recipes import Recipe


def recipe_config(recipe: Recipe, base_config: str | Path | dict[str, Any], data_root: str | Path,
                  work_dir: str | Path, extra: list[str] | None = None) -> Config:
    """The base config (`recipes.DEMO_CONFIG` or a YAML file) + the benchmark's location + the recipe's overrides."""
    data = copy.deepcopy(base_config) if isinstance(base_config, dict) else read_yaml(base_config)
    overrides = [f"data.root={Path(data_root).resolve()}", f"train.work_dir={work_dir}"]
    overrides += recipe.config_overrides() + list(extra or [])
    cfg = from_dict(apply_overrides(data, overrides))
    return cfg


class _Calibrated(Exception):
    pass


def calibrate_epochs(cfg: Config, minutes: float, steps: int = 8) -> tuple[int, float]:
    """(epochs that fit in `minutes` of training, measured seconds per epoch).

    Runs `steps` + 1 steps of the real loop (data loading included; the first step is not timed:
    lazy initialisation) in a scratch run directory that is removed afterwards.
    """
    from .trainer import train

    stamps: list[float] = []

    def timer(state: Any, logs: dict[str, float]) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) > steps:
            raise _Calibrated

    probe = from_dict(cfg.to_dict())
    probe.train.epochs, probe.train.eval_every, probe.train.log_every = 10**6, 0, 10**9
    scratch = Path(tempfile.mkdtemp(prefix="actionlab-calibrate-"))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                train(probe, run_dir=scratch, on_step=timer)
            except _Calibrated:
                pass
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    per_step = (stamps[-1] - stamps[0]) / max(1, len(stamps) - 1)
    epoch_s = per_step * math.ceil(_batches_per_epoch(cfg) / max(1, cfg.train.accumulate))
    return max(1, int(minutes * 60 // epoch_s)), epoch_s


def _batches_per_epoch(cfg: Config) -> int:
    from ..data import build_dataset

    n = len(build_dataset(cfg, "train"))
    return max(1, n // cfg.data.batch_size)


def model_cost(cfg: Config, num_classes: int) -> dict[str, float]:
    """GMACs and parameters (millions) of the configured model for one clip of the configured size.

    The model is a fresh copy with random weights: what a model says about its weights (e.g. ART's "the semantic
    bank is random" without class names) is not about the trained run, so its warnings are not shown here.
    """
    import logging

    from ..profile import clip_shape, count_macs, count_params
    from .build import build_model

    models_log = logging.getLogger("actionlab.models")
    level = models_log.level
    models_log.setLevel(logging.ERROR)
    try:
        model = build_model(cfg, num_classes, load_pretrained=False).eval()
        macs, _ = count_macs(model, clip_shape(cfg.data.num_segments, cfg.data.input_size))
    finally:
        models_log.setLevel(level)
    params, _ = count_params(model)
    return {"gmacs": macs / 1e9, "params_m": params / 1e6}


def class_pairs(data_root: Path, class_names: list[str]) -> list[tuple[int, int]]:
    """The dataset's pairs of classes that differ only in time order, as class indices ([] if it declares none)."""
    from ..metrics import read_class_pairs

    return read_class_pairs(data_root, class_names)


METHOD_METRIC_KEYS = ("fidelity_auc", "fidelity_mass", "fidelity_chance", "pointing_any", "pointing_chance",
                      "actionness_in_box", "actionness_in_box_chance")


def run_recipe(recipe: Recipe, cfg: Config, minutes: float | None = None, max_epochs: int = 60) -> dict[str, Any]:
    """Train (for `minutes` if given, else cfg.train.epochs), test on the test split, measure the cost."""
    from ..metrics import pair_accuracy
    from .tester import evaluate_checkpoint
    from .trainer import train

    epoch_s = float("nan")
    if minutes is not None:
        epochs, epoch_s = calibrate_epochs(cfg, minutes)
        cfg.train.epochs = min(max_epochs, epochs)
    start = time.perf_counter()
    result = train(cfg)
    train_s = time.perf_counter() - start
    checkpoint = result.last_checkpoint
    assert checkpoint is not None
    start = time.perf_counter()
    report = evaluate_checkpoint(cfg, checkpoint, split="test", progress=True)
    test_s = time.perf_counter() - start
    pairs = class_pairs(Path(cfg.data.root), report.class_names)
    within = pair_accuracy(report.result.scores, report.result.labels, pairs)
    history = result.history
    return {
        "recipe": recipe.name,
        "model": cfg.model.name,
        "baseline": recipe.baseline,
        "variant": recipe.variant,
        "run_dir": str(result.run_dir),
        "checkpoint": str(checkpoint),
        "test_dir": str(report.out_dir),
        "epochs": cfg.train.epochs,
        "epoch_seconds_estimated": epoch_s,
        "train_seconds": train_s,
        "train_clips_per_s": sum(r["clips_per_s"] for r in history) / max(1, len(history)),
        "test_videos": len(report.result.indices),
        "test_clips_per_s": len(report.result.indices) / max(1e-9, test_s),
        "top1": report.metrics["top1"],
        "top5": report.metrics["top5"],
        "mean_class_accuracy": report.metrics.get("mean_class_accuracy"),
        "within_pair": within,
        "within_pair_by_pair": {f"{report.class_names[a]}/{report.class_names[b]}":
                                pair_accuracy(report.result.scores, report.result.labels, [(a, b)]) for a, b in pairs},
        "pairs": len(pairs),
        "classes": len(report.class_names),
        "final_train_loss": history[-1].get("train_loss") if history else None,
        # the method's own metrics, where the test data carry their annotation (`actionlab test` reports them)
        **{k: report.metrics[k] for k in METHOD_METRIC_KEYS if k in report.metrics},
        **model_cost(cfg, len(report.class_names)),
    }


def run_recipe_in_worker(recipe: Recipe, cfg_dict: dict[str, Any], minutes: float | None, threads: int,
                         prefix: str) -> dict[str, Any]:
    """`run_recipe` in a worker process: its own thread count, output lines (progress too) prefixed with the
    recipe name.  The streams are restored afterwards (the demo also calls it in its own process)."""
    import sys

    torch.set_num_threads(threads)
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PrefixStream(out, prefix), PrefixStream(err, prefix)
    try:
        return run_recipe(recipe, from_dict(cfg_dict), minutes)
    finally:
        sys.stdout, sys.stderr = out, err


class PrefixStream:
    """A text stream that prefixes every line (parallel runs share one terminal); never a tty."""

    def __init__(self, stream: Any, prefix: str):
        self.stream, self.prefix, self._at_line_start = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                out.append(self.prefix)
            out.append(piece.replace("\r", ""))
            self._at_line_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False
