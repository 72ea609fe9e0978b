"""actionlab flops MODEL_OR_CONFIG: GMACs, parameters, peak activation memory and CPU latency of a model.

    actionlab flops tsm_r50                          # 8 x 224 x 224, 174 classes (the SSv2 setting)
    actionlab flops tsm_r50 --frames 16 --latency    # also time CPU forwards (slow for big models)
    actionlab flops configs/tefe_r50_sthv1_8f.yaml   # the model, frames and size of a config
    actionlab flops tsm_r18_tiny --kwargs base_width=8 shift_div=4
    actionlab flops --all 'ts*'                      # markdown table of registered models (no latency)

GMACs are multiply-accumulates (what the papers call GFLOPs).  Where a paper prints a
figure for the model, it is shown beside ours with the difference and the reason for it.
Models add their figures in their own file: `ModelInfo(extra={"paper_figures": [{"frames": 8,
"size": 224, "gmacs": 33, "params_m": 24.3, "source": "...", "why": "..."}]})` (or the
shorthand `extra={"paper_gflops": 90}` at the model's default frames and size).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, ModelError

DEFAULT_NUM_CLASSES = 174  # Something-Something, the setting of the papers' cost tables


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="MODEL_OR_CONFIG", nargs="?", help="a registered model name or a YAML config")
    p.add_argument("--all", nargs="?", const="*", default=None, metavar="PATTERN",
                   help="instead: a markdown table (GMACs, params, paper figures) of every registered model "
                        "matching PATTERN, at its default frames and size")
    p.add_argument("--frames", type=int, default=None, help="T (default: the model's or the config's)")
    p.add_argument("--size", type=int, default=None, help="H = W (default: the model's or the config's)")
    p.add_argument("--num-classes", type=int, default=None,
                   help=f"classifier size (default: the config's, else {DEFAULT_NUM_CLASSES})")
    p.add_argument("--kwargs", nargs="+", default=[], metavar="KEY=VALUE", help="model kwargs, e.g. shift_div=4")
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                   help="config overrides when MODEL_OR_CONFIG is a config")
    p.add_argument("--latency", action="store_true",
                   help="also measure CPU latency (median of --repeats forwards; a minute or more for R50 models)")
    p.add_argument("--no-latency", action="store_true", help=argparse.SUPPRESS)  # the old default-off switch
    p.add_argument("--no-memory", action="store_true", help="skip the activation memory measurement")
    p.add_argument("--train-memory", action="store_true", help="also measure forward + backward peak memory")
    p.add_argument("--warmup", type=int, default=2, help="untimed forwards before timing")
    p.add_argument("--repeats", type=int, default=5, help="timed forwards (the median is reported)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def parse_kwargs(items: list[str]) -> dict[str, Any]:
    """['shift_div=4', 'consensus=max'] -> {'shift_div': 4, 'consensus': 'max'} (values read as YAML)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--kwargs: expected KEY=VALUE, got '{item}'")
        out[key] = yaml.safe_load(value)
    return out


def resolve_target(args: argparse.Namespace) -> tuple[str, dict[str, Any], int, int, int]:
    """(model name, kwargs, frames, size, num_classes) from a model name or a config file."""
    from ..models.registry import list_models, model_info

    target = args.target
    kwargs = parse_kwargs(args.kwargs)
    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        from ..config import load_config

        cfg = load_config(target, args.overrides)
        name = cfg.model.name
        kwargs = {**cfg.model.kwargs, **kwargs}
        frames = args.frames or kwargs.get("num_segments") or cfg.data.num_segments
        size = args.size or cfg.data.input_size
        num_classes = args.num_classes or cfg.model.num_classes or DEFAULT_NUM_CLASSES
    else:
        if target not in list_models():
            model_info(target)  # raises ModelError with close names
        info = model_info(target)
        name = target
        frames = args.frames or kwargs.get("num_segments") or info.num_frames
        size = args.size or info.input_size
        num_classes = args.num_classes or DEFAULT_NUM_CLASSES
    if frames < 1 or size < 1 or num_classes < 1:
        raise ConfigError(f"frames, size and num-classes must be positive, got {frames}, {size}, {num_classes}")
    return name, kwargs, int(frames), int(size), int(num_classes)


def _diff(ours: float, theirs: float | None) -> str:
    if theirs is None:
        return "-"
    return f"{100 * (ours - theirs) / theirs:+.1f}%"


def format_report(prof: Any, figures: list[dict[str, Any]], other: list[dict[str, Any]]) -> str:
    from ..profile import human_bytes

    lines = [
        f"model          {prof.model}" + (f"  kwargs {prof.kwargs}" if prof.kwargs else ""),
        f"input          1 x 3 x {prof.frames} x {prof.size} x {prof.size} (N C T H W), {prof.num_classes} classes",
        f"GMACs          {prof.gmacs:.2f}   (multiply-accumulates of conv/linear/matmul, torch.utils.flop_counter "
        f"FLOPs / 2; counted on {prof.counted_on})",
        f"parameters     {prof.params_m:.2f} M  ({prof.params:,}; trainable {prof.trainable_params:,})",
    ]
    if prof.peak_activation_bytes is not None:
        lines.append(f"peak act. mem  {human_bytes(prof.peak_activation_bytes)}  (inference, batch 1, tensors created "
                     "in the forward)")
    if prof.train_peak_bytes is not None:
        lines.append(f"train peak     {human_bytes(prof.train_peak_bytes)}  (forward + backward, batch 1)")
    if prof.latency is not None:
        lat = prof.latency
        lines.append(f"CPU latency    {lat.median_ms:.1f} ms/clip  (median of {len(lat.runs_ms)} after {lat.warmup} "
                     f"warm-up; min {lat.min_ms:.1f}, max {lat.max_ms:.1f}; {lat.threads} threads)")
    if figures:
        lines += ["", "paper figures at this setting (GFLOPs in the papers = GMACs):",
                  f"  {'source':<52} {'GMACs':>7} {'ours':>7} {'diff':>7} {'params M':>9} {'ours':>7} {'diff':>7}"]
        for f in figures:
            pm = f.get("params_m")
            lines.append(f"  {f.get('source', '')[:52]:<52} {f['gmacs']:>7} {prof.gmacs:>7.2f} "
                         f"{_diff(prof.gmacs, f['gmacs']):>7} {pm if pm is not None else '-':>9} "
                         f"{prof.params_m:>7.2f} {_diff(prof.params_m, pm):>7}")
            if f.get("why"):
                lines.append(f"      why: {f['why']}")
        if any(f.get("params_m") is not None for f in figures):
            lines.append(f"      params depend on the class count: ours at {prof.num_classes} classes")
    elif not other:
        lines += ["", "no paper prints a figure for this model"]
    if other:
        lines += ["", "paper figures at other settings: " + "; ".join(
            f"{f['gmacs']} G at {f['frames']} x {f.get('size', '?')} ({f.get('source', '')})" for f in other)]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..models.registry import create_model, model_info
    from ..profile import paper_figures, profile_model

    if args.all is not None:
        return _table(args.all, args.num_classes or DEFAULT_NUM_CLASSES)
    if not args.target:
        raise ConfigError("give a MODEL_OR_CONFIG (or --all)")
    name, kwargs, frames, size, num_classes = resolve_target(args)
    build_kwargs = dict(kwargs)
    if "num_segments" in kwargs and kwargs["num_segments"] != frames:
        raise ConfigError(f"--frames {frames} disagrees with num_segments={kwargs['num_segments']}")
    if frames != model_info(name).num_frames:  # only then: not every builder need take num_segments
        build_kwargs["num_segments"] = frames
    model = create_model(name, num_classes=num_classes, **build_kwargs)
    latency = args.latency and not args.no_latency
    steps = "GMACs, parameters" + ("" if args.no_memory else ", activation memory") + (
        f", CPU latency ({args.warmup} warm-up + {args.repeats} timed forwards, {torch.get_num_threads()} threads)"
        if latency else "")
    print(f"flops: {name} at {frames} x {size} x {size}: measuring {steps} ...", file=sys.stderr, flush=True)
    prof = profile_model(model, name, frames, size, num_classes, latency=latency,
                         memory=not args.no_memory, train_memory=args.train_memory, warmup=args.warmup,
                         repeats=args.repeats, kwargs=kwargs)
    figures = paper_figures(name, frames, size)
    other = [f for f in paper_figures(name) if f not in figures]
    if args.json:
        print(json.dumps({**prof.to_dict(), "paper_figures": figures}, default=str))
    else:
        print(format_report(prof, figures, other))
    return 0


def _table(pattern: str, num_classes: int) -> int:
    from ..models.registry import list_models
    from ..profile import markdown_table, model_table

    names = list_models(pattern)
    if not names:
        raise ModelError(f"no registered model matches '{pattern}'")
    print(markdown_table(model_table(names, num_classes), num_classes))
    return 0
