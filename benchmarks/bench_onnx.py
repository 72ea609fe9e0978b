"""PyTorch eager vs ONNX Runtime CPU latency per clip (TSM-R50 8x224, batch 1), side by side in one run.

    python benchmarks/bench_onnx.py [--methods] [--repeats 20] [--threads 2]

The same as `actionlab bench export` (see `actionlab/bench/export.py` for the method); results are in
benchmarks/deploy.md.
"""

from __future__ import annotations

import argparse
import sys

from actionlab.bench import export as bench_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench_export.add_arguments(parser)
    return bench_export.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
