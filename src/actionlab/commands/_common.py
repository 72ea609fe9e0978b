"""Helpers shared by the commands."""

from __future__ import annotations

import argparse

from ..config import Config, load_config


def add_config_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("config", nargs=None if required else "?", help="YAML config file (see configs/)")
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                   help="dotted overrides, e.g. --set optim.lr=0.01 data.num_segments=16")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), getattr(args, "overrides", []))
