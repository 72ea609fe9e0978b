"""actionlab bench BENCHMARK ...: benchmarks that print their figures (`actionlab bench BENCHMARK --help`).

  data      clips/s of actionlab's reader vs a naive full decode; DataLoader workers
  loader    CONFIG: training loader alone vs the model step (would the model wait on data?); --train R:
            `actionlab train` vs a plain PyTorch loop side by side, as a ratio
  model     CPU latency of models side by side, as ratios to a baseline
  accuracy  trains and tests every method against its baseline on the built-in benchmark
  export    PyTorch eager vs ONNX Runtime latency per clip, as a ratio; which methods export
  tfe       TFE vs vanilla temporal attention: cue-correlation sweep with fidelity, FLOPs, adversary
  timeline  the annotated video (`timeline --out-video`) vs the plain timeline, CPU and wall time, as a ratio
  threads   torch CPU threads on a busy machine: 1 thread vs torch's default vs actionlab's (OpenMP wait policy)
  art       ART's ablations (no MTC, gamma1, random/learned queries, K, frozen backbone) vs its backbone
"""

from __future__ import annotations

import argparse
import importlib

from ..errors import NotBuiltError

BENCHMARKS = {
    "data": "reader and DataLoader throughput",
    "loader": "CONFIG: loader alone vs model step; `actionlab train` vs a plain loop",
    "model": "model latency side by side",
    "accuracy": "every method vs its baseline on the built-in benchmark",
    "export": "PyTorch eager vs ONNX Runtime latency; which methods export",
    "tfe": "TFE vs vanilla attention: correlation sweep, fidelity, FLOPs, adversary",
    "timeline": "annotated video vs plain timeline: CPU and wall time ratio",
    "threads": "1 thread vs torch's default vs actionlab's on a busy machine",
    "art": "ART's parts ablated one at a time on the fine-grained variant, against its backbone",
}


def _module(name: str):
    try:
        return importlib.import_module(f"actionlab.bench.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"actionlab.bench.{name}":
            return None
        raise


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, help_text in BENCHMARKS.items():
        module = _module(name)
        q = sub.add_parser(name, help=help_text, description=((module and module.__doc__) or help_text).strip())
        if module is not None:
            module.add_arguments(q)
        q.set_defaults(_bench=name)


def run(args: argparse.Namespace) -> int:
    module = _module(args._bench)
    if module is None:
        raise NotBuiltError(f"'actionlab bench {args._bench}' is not built yet")
    return int(module.run(args) or 0)
