"""actionlab test: not built yet."""

from __future__ import annotations

import argparse

from ..errors import NotBuiltError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    raise NotBuiltError("'actionlab test' is not built yet")
