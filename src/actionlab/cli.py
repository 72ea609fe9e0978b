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
import os
import sys
from typing import Any

from . import __version__
from .errors import ActionlabError
from .threads import configure_openmp

COMMANDS: dict[str, str] = {
    "train": "train a model from a config",
    "test": "test a checkpoint with the papers' protocols (clips x crops)",
    "predict": "predict the actions in video files",
    "timeline": "scores over time of long videos: JSON/CSV/PNG, an annotated video, a page to watch them",
    "demo": "the built-in demo: generated videos, methods vs baselines",
    "flops": "GMACs, parameters, activation memory and CPU latency of a model",
    "bench": "benchmarks that print their figures (data, loader, model, accuracy, export, tfe, timeline, threads, art)",
    "explain": "show where a model looked (Grad-CAM, actionness, tracklets, attention)",
    "data": "dataset tools: synth (built-in benchmark), check (scan a dataset)",
    "export": "export a checkpoint to ONNX, torch.export or a shareable folder (hub)",
    "report": "tables and plots for finished runs",
    "list-pretrained": "pretrained tags (Kinetics, Something-Something, ImageNet) with source and accuracy",
}


# Commands whose runs pick their own thread counts per job (benchmarks time several settings)
OWN_THREADS = {"bench"}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The docstrings' example lines stay lines, and every option with a default says it in its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default in (None, False, True, [], argparse.SUPPRESS)
                or "default" in text.lower() or text == argparse.SUPPRESS):
            return action.help
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})"


class Parser(argparse.ArgumentParser):
    """argparse with `HelpFormatter`; subcommands' parsers are of this class too (argparse's parser_class)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def add_threads_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads (default: the config's runtime.threads, else the cores not busy with "
                        "other work when the command starts)")


def command_of(argv: list[str]) -> str | None:
    """The subcommand named in `argv` (its first word that is no option), None when there is none."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser.  With `only`, just that command's module is imported and its options added; the
    others are listed by name (what `actionlab --help` and `actionlab CMD ...` need: no command module
    imports torch at module level, and the one run imports it when it runs)."""
    parser = Parser(prog="actionlab", description="Video action recognition toolkit.")
    parser.add_argument("--version", action="version", version=f"actionlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name, help=help_text, add_help=False)
            continue
        module = importlib.import_module(f"actionlab.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=(module.__doc__ or help_text).strip())
        module.add_arguments(p)
        if name not in OWN_THREADS and "--threads" not in p._option_string_actions:  # demo: its own meaning
            add_threads_argument(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_of(argv)
    parser = build_parser(command if command in COMMANDS else "")  # "": names only
    args = parser.parse_args(argv)  # --help and bad arguments end here, without torch
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    configure_openmp()  # before anything imports torch: OpenMP reads it when torch loads
    try:
        if args.command not in OWN_THREADS:
            from .engine.runtime import set_threads

            set_threads(getattr(args, "threads", None))  # config commands fall back to runtime.threads
        return int(args._run(args) or 0)
    except ActionlabError as e:
        message = getattr(e, "cli_message", e)  # an error whose advice differs on the command line
        print(f"actionlab {args.command}: error: {message}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:  # `actionlab list-pretrained | head`: the reader left; nothing more to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - Python flushes stdout at exit
        return 0
    except KeyboardInterrupt as e:  # training says what it saved and the command that resumes it
        print(f"actionlab {args.command}: interrupted" + (f": {e}" if str(e) else ""), file=sys.stderr)
        return 130
    except (OSError, RuntimeError) as e:
        from .errors import os_error_in

        io_error = os_error_in(e)  # torch reports a failed write as RuntimeError with the OSError as its context
        if io_error is not None and io_error.errno in (errno.ENOSPC, errno.EDQUOT):
            # a full disk while writing a log, metrics or an export (checkpoints say more themselves)
            where = f" {io_error.filename}" if io_error.filename else ""
            print(f"actionlab {args.command}: error: cannot write{where}: no space left on the device "
                  "(checkpoints are written atomically: the last one saved is intact)", file=sys.stderr)
            return 1
        if not isinstance(e, RuntimeError):
            raise
        from .engine.workers import worker_died  # a DataLoader worker killed by the OS outside training: one line

        died = worker_died(e)
        if died is None:
            raise
        print(f"actionlab {args.command}: error: {died}", file=sys.stderr)
        return 1

if __name__ == "__main__":
    sys.exit(main())
