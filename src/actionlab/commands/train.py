"""actionlab train CONFIG [--set k=v ...] [--resume PATH|auto]: train a model from a config."""

from __future__ import annotations

import argparse

import yaml

from ..errors import NotBuiltError
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--resume", default=None, metavar="PATH|auto", help="checkpoint to resume from")
    p.add_argument("--check-config", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.check_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    raise NotBuiltError("'actionlab train' is not built yet (engine issue)")
