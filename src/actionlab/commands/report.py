"""actionlab report RUN_DIR [RUN_DIR ...] [--out DIR] [--readme README.md]: the comparison table, CSV, plots
and claims of finished runs.

RUN_DIR is a `bench accuracy` / `bench art` output directory, or any training run directory (or a folder of
them) that has been tested (`actionlab test` writes test_<split>_<views>/metrics.json), or a saved report
(results.json, art_ablations.json) or `bench tfe factors` results (factors.jsonl); runs of one method with
several seeds are averaged (mean +- std). `--readme FILE` rewrites the generated block of FILE (the table and
every claim, the TFE claims judged across the sweep) from these inputs:

    actionlab report benchmarks/results/accuracy.json benchmarks/results/art_ablations.json \\
        benchmarks/results/tfe_factors.jsonl --readme README.md
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="finished runs, directories holding them, or "
                   "saved result files")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write (default: RUN_DIR/report for one "
                   "RUN_DIR, else ./report)")
    p.add_argument("--readme", default=None, metavar="FILE", help="also rewrite FILE's generated block (table and "
                   "claims) from these results (default: no)")


def run(args: argparse.Namespace) -> int:
    from ..readme_claims import is_sweep_file, load_sweep_rows, readme_block, update_readme
    from ..report import load_rows, write_report

    inputs = [Path(d) for d in args.run_dirs]
    sweeps = [p for p in inputs if p.is_file() and is_sweep_file(p)]
    dirs = [p for p in inputs if p not in sweeps]
    rows = load_rows(dirs) if dirs else []
    if rows:
        out = Path(args.out) if args.out else (dirs[0] / "report" if len(dirs) == 1 and dirs[0].is_dir()
                                                else Path("report"))
        header = "# actionlab report\n\nRuns: " + ", ".join(f"`{d}`" for d in dirs)
        paths = write_report(rows, out, header)
        print(paths["markdown"].read_text())
        print("written: " + ", ".join(str(p) for p in paths.values()))
    sweep_rows = [r for p in sweeps for r in load_sweep_rows(p)]
    if getattr(args, "readme", None):
        block = readme_block(rows, sweep_rows, [str(p) for p in inputs])
        changed = update_readme(Path(args.readme), block)
        print(f"{args.readme}: generated block {'rewritten' if changed else 'already up to date'}")
    elif sweep_rows:
        print(readme_block([], sweep_rows, [str(p) for p in sweeps]))
    return 0
