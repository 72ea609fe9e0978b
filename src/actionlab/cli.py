"""The one entry point: `actionlab <command> ...`.

Each command lives in `actionlab/commands/<name>.py` and exposes
`add_arguments(parser)` and `run(args) -> int`.  User errors (`ActionlabError`)
print one line and exit with the error's code (2 for bad input); a command
that is not built yet says so and exits 1.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from . import __version__
from .errors import ActionlabError

COMMANDS: dict[str, str] = {
    "train": "train a model from a config",
    "test": "test a checkpoint with the papers' protocols (clips x crops)",
    "predict": "predict the actions in video files",
    "demo": "the built-in demo: generated videos, methods vs baselines",
    "flops": "GMACs, parameters, activation memory and CPU latency of a model",
    "bench": "benchmarks that print their figures (data, model, accuracy)",
    "explain": "show where a model looked (Grad-CAM, actionness, tracklets, attention)",
    "data": "dataset tools: synth (built-in benchmark), check (scan a dataset)",
    "export": "export a checkpoint to ONNX or torch.export",
    "report": "tables and plots for finished runs",
    "list-pretrained": "pretrained tags (Kinetics, Something-Something, ImageNet) with source and accuracy",
}


# Commands whose runs pick their own thread counts per job (benchmarks time several settings)
OWN_THREADS = {"bench"}
HELP_FORMAT = argparse.RawDescriptionHelpFormatter  # the docstrings' example lines stay lines


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: the config's runtime.threads, else torch's default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actionlab", description="Video action recognition toolkit.",
                                     formatter_class=HELP_FORMAT)
    parser.add_argument("--version", action="version", version=f"actionlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"actionlab.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip(),
                           formatter_class=HELP_FORMAT)
        module.add_arguments(p)
        if name not in OWN_THREADS:
            add_threads_argument(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        if args.command not in OWN_THREADS:
            from .engine.runtime import set_threads

            set_threads(getattr(args, "threads", None))  # config commands fall back to runtime.threads
        return int(args._run(args) or 0)
    except ActionlabError as e:
        print(f"actionlab {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"actionlab {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # a full disk while writing a log, metrics or an export (checkpoints say more themselves)
        where = f" {e.filename}" if e.filename else ""
        print(f"actionlab {args.command}: error: cannot write{where}: no space left on the device "
              "(checkpoints are written atomically: the last one saved is intact)", file=sys.stderr)
        return 1
    except RuntimeError as e:  # a DataLoader worker killed by the OS outside training (test, predict): one line
        from .engine.workers import worker_died

        died = worker_died(e)
        if died is None:
            raise
        print(f"actionlab {args.command}: error: {died}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
