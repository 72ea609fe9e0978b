"""The built-in demo: generated videos, the methods against their baselines.

Not built yet beyond listing what the package holds: the data and engine
issues add the benchmark generation, training and the comparison table.
"""

from __future__ import annotations

import argparse

from .. import __version__
from ..models.registry import list_models


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", default="tsn,tsm", help="comma-separated methods to compare")


def run(args: argparse.Namespace) -> int:
    print(f"actionlab {__version__}")
    models = list_models()
    print(f"registered models ({len(models)}): {', '.join(models) or 'none yet'}")
    print("The demo's training and comparison are not built yet (engine issue); nothing was trained.")
    return 0
