"""actionlab test [CONFIG] --checkpoint PATH [--views 2x3]: the papers' test protocols.

    actionlab test --checkpoint runs/tsm/checkpoints/best.pt --views 2x3   # the config saved in the checkpoint
    actionlab test configs/tsm_r50_sthv2_8f.yaml --checkpoint best.pt --set data.root=/data/sthv2

Every test video is sampled as CLIPS x CROPS views (1x1, 2x3, 10x3, ...); the scores of
the views are averaged (softmax probabilities, or logits with `--set test.average=logit`),
at most `test.max_views_per_forward` views per forward pass.  Prints top-1, top-5, mean
class accuracy and mAP, and writes metrics, per-video predictions (JSON and CSV) and the
confusion matrix next to the checkpoint (`<run>/test_<split>_<views>/`) or to `--out`.
Under torchrun the videos are split over the processes, each scored exactly once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, required=False)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint to test (e.g. best.pt)")
    p.add_argument("--views", default=None, metavar="CLIPSxCROPS", help="test views (default: test.views)")
    p.add_argument("--split", default="test", choices=["test", "val"], help="which annotation list to test on")
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


def run(args: argparse.Namespace) -> int:
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
        print(json.dumps(report.metrics))
        print(f"results in {report.out_dir}")
    return 0
