"""actionlab test [CONFIG] --checkpoint PATH [--views 2x3] | --model TAG --data ROOT: the papers' test protocols.

    actionlab test --checkpoint runs/tsm/checkpoints/best.pt --views 2x3   # the config saved in the checkpoint
    actionlab test configs/tsm_r50_sthv2_8f.yaml --checkpoint best.pt --set data.root=/data/sthv2
    actionlab test --model tsm_r50.sthv2 --data /data/sthv2   # a released model, its release's own protocol

`--model TAG` evaluates a released model on a dataset in its official layout (Kinetics-400, SSv2) with the
test pipeline of its release (`--protocol release`: sampling, resize and crop arithmetic, views, averaging
as the release's code does them; `--protocol single`: one clip, one centre crop) and prints the accuracy
the release reports beside the measured one.

Every test video is sampled as CLIPS x CROPS views (1x1, 2x3, 10x3, ...); the scores of
the views are averaged (softmax probabilities, or logits with `--set test.average=logit`),
at most `test.max_views_per_forward` views per forward pass.  Prints top-1, top-5, mean
class accuracy and mAP, and writes metrics, per-video predictions (JSON and CSV) and the
confusion matrix next to the checkpoint (`<run>/test_<split>_<views>/`) or to `--out`.
Where the data carry them it also reports: within-pair accuracy, when the dataset declares pairs of
classes (a "pairs" key in annotations.json - [["move_left", "move_right"], ...] - or data.yaml, or a
pairs.txt of two class names a line; docs/datasets.md); temporal fidelity (annotated action frames);
the pointing game / actionness in box (per-frame boxes).
Under torchrun the videos are split over the processes, each scored exactly once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, required=False)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", metavar="PATH", help="checkpoint to test (e.g. best.pt)")
    which.add_argument("--model", metavar="TAG", help="a released model (tsm_r50.k400; `actionlab list-pretrained`), "
                       "tested with its release's own protocol on --data (or the CONFIG's data)")
    p.add_argument("--weights", metavar="FILE", default=None, help="with --model: the release's file, downloaded by "
                   "hand")
    p.add_argument("--data", metavar="ROOT", default=None,
                   help="with --model: the dataset root in its official layout (Kinetics-400: annotations/"
                        "validate.csv + val/; SSv2: labels/ + 20bn-something-something-v2/)")
    p.add_argument("--protocol", default="release", choices=["release", "single"],
                   help="with --model: release (the multi-view test its reported accuracy used) or single "
                        "(1 clip, 1 centre crop)")
    p.add_argument("--views", default=None, metavar="CLIPSxCROPS", help="test views (default: test.views)")
    p.add_argument("--split", default=None, choices=["test", "val"],
                   help="which annotation list to test on (default: test; with --model: val, the split the "
                        "releases report)")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write the results")


def checkpoint_config(checkpoint: Path, overrides: list[str]) -> Config:
    """The config a training checkpoint was saved with, `--set` overrides on top."""
    from ..config import apply_overrides, from_dict
    from ..engine.checkpoint import load_checkpoint

    if not checkpoint.is_file():
        raise ConfigError(f"checkpoint not found: {checkpoint}")
    data = load_checkpoint(checkpoint).get("config")
    if not data:
        raise ConfigError(f"{checkpoint} carries no config: give the CONFIG file as well")
    return from_dict(apply_overrides(data, overrides))


_TAG_FORMATS = {"kinetics400": "kinetics", "sthv2": "sthv2"}


def tag_config(args: argparse.Namespace):
    """(config, tag) for `test --model TAG`: the dataset from CONFIG or --data, the tag's own test pipeline."""
    from ..config import load_config
    from ..engine.tester import apply_tag_protocol
    from ..errors import ModelError
    from ..models.pretrained import get_pretrained

    tag = get_pretrained(args.model)
    if not tag.is_video:
        raise ModelError(f"{tag.name} is an ImageNet backbone, not a video model")
    if args.views:
        raise ConfigError("--model tests with the release's views (--protocol release or single); drop --views")
    overrides = list(args.overrides)
    if not args.config:
        if not args.data:
            raise ConfigError(f"--model {tag.name} needs the dataset: --data ROOT (its official layout) or a CONFIG")
        overrides = [f"data.format={_TAG_FORMATS[tag.labels or '']}", f"data.root={args.data}"] + overrides
        root = Path(args.data)
        if tag.labels == "kinetics400":  # the official CSVs, in annotations/ as the download unpacks them
            csv = "annotations/validate.csv" if (root / "annotations/validate.csv").is_file() else "validate.csv"
            labels = Path(__file__).resolve().parent.parent / "labels" / "kinetics400.txt"
            overrides += [f"data.val_list={csv}", f"data.class_names={labels}"]
    cfg = load_config(args.config, overrides)
    return apply_tag_protocol(cfg, tag, args.protocol), tag


def run_tag(args: argparse.Namespace) -> int:
    from ..engine.runtime import set_threads
    from ..engine.tester import evaluate_pretrained

    cfg, tag = tag_config(args)
    if not args.threads:
        set_threads(cfg.runtime.threads)
    report = evaluate_pretrained(cfg, tag, split=args.split or "val", weights=args.weights,
                                 out_dir=Path(args.out) if args.out else None, progress=True)
    m = report.metrics
    twice = ", twice_sample" if cfg.data.twice_sample else ""
    print(f"{tag.name}, {args.protocol} protocol ({cfg.test.views} views{twice}"
          f", crop {cfg.data.input_size}, {cfg.data.test_style} resize/crop, {cfg.test.average} average) on "
          f"{report.info['videos']} videos: measured top-1 {100 * m['top1']:.2f}, top-5 {100 * m['top5']:.2f}")
    print(f"the release reports: {tag.accuracy}")
    print(f"results (metrics.json, predictions, confusion matrix) in {report.out_dir}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.model:
        return run_tag(args)
    for flag in ("weights", "data"):
        if getattr(args, flag):
            raise ConfigError(f"--{flag} goes with --model TAG")
    args.split = args.split or "test"
    from ..data.sampling import parse_views
    from ..engine import distributed
    from ..engine.runtime import set_threads
    from ..engine.tester import evaluate_checkpoint

    cfg = config_from_args(args) if args.config else checkpoint_config(Path(args.checkpoint), args.overrides)
    if args.threads:
        cfg.runtime.threads = args.threads
    else:
        set_threads(cfg.runtime.threads)
    views = args.views or cfg.test.views
    try:
        parse_views(views)
    except ConfigError as e:
        raise ConfigError(str(e).replace("config key 'test.views'", "--views")) from None
    cfg.test.views = views
    try:
        report = evaluate_checkpoint(cfg, Path(args.checkpoint), split=args.split,
                                 out_dir=Path(args.out) if args.out else None, progress=True)
        is_main = distributed.current().is_main
    finally:
        distributed.cleanup()
    if is_main:
        print(report.summary())
        print(f"results (metrics.json, predictions, confusion matrix) in {report.out_dir}")
    return 0
