"""actionlab test CONFIG --checkpoint PATH [--views 2x3]: the papers' test protocols.

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

from ..errors import ConfigError
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="checkpoint to test (e.g. best.pt)")
    p.add_argument("--views", default=None, metavar="CLIPSxCROPS", help="test views (default: test.views)")
    p.add_argument("--split", default="test", choices=["test", "val"], help="which annotation list to test on")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write the results")


def run(args: argparse.Namespace) -> int:
    from ..data.sampling import parse_views
    from ..engine import distributed
    from ..engine.tester import evaluate_checkpoint

    cfg = config_from_args(args)
    views = args.views or cfg.test.views
    try:
        parse_views(views)
    except ConfigError as e:
        raise ConfigError(str(e).replace("config key 'test.views'", "--views")) from None
    cfg.test.views = views
    try:
        report = evaluate_checkpoint(cfg, Path(args.checkpoint), split=args.split,
                                 out_dir=Path(args.out) if args.out else None)
        is_main = distributed.current().is_main
    finally:
        distributed.cleanup()
    if is_main:
        print(report.summary())
        print(json.dumps(report.metrics))
        print(f"results in {report.out_dir}")
    return 0
