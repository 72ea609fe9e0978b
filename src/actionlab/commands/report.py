"""actionlab report RUN_DIR [RUN_DIR ...] [--out DIR]: the comparison table, CSV, plots and claims of finished runs.

RUN_DIR is a `bench accuracy` output directory, or any training run directory (or a folder of them)
that has been tested (`actionlab test` writes test_<split>_<views>/metrics.json); runs of one method
with several seeds are averaged (mean +- std).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished runs, or directories holding them")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write (default: RUN_DIR/report for one "
                   "RUN_DIR, else ./report)")


def run(args: argparse.Namespace) -> int:
    from ..report import load_rows, write_report

    dirs = [Path(d) for d in args.run_dirs]
    out = Path(args.out) if args.out else (dirs[0] / "report" if len(dirs) == 1 else Path("report"))
    rows = load_rows(dirs)
    header = "# actionlab report\n\nRuns: " + ", ".join(f"`{d}`" for d in dirs)
    paths = write_report(rows, out, header)
    print(paths["markdown"].read_text())
    print("written: " + ", ".join(str(p) for p in paths.values()))
    return 0
