"""What `actionlab predict` on folders, timelines and batch prediction share: finding the videos,
the options they add to a host command, and the stand-alone `python -m` entry point.

`timeline.py` and `batch_predict.py` both import this module; neither imports the other.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import ActionlabError, ConfigError, DataError

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv",
                              ".3gp", ".ts"})


def find_videos(inputs: Sequence[str | Path]) -> list[str]:
    """Video files under the given folders (recursively, sorted) and the files given directly."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        elif path.is_file():
            found.append(str(path))
        else:
            raise DataError(f"no such file or folder: {path}")
    return list(dict.fromkeys(found))  # a file listed twice is predicted once


def videos_of(args: argparse.Namespace) -> list[str]:
    """`args.videos` (a list) or `args.video` (one), whichever the host command defines."""
    videos = getattr(args, "videos", None) or getattr(args, "video", None)
    if videos is None:
        raise ConfigError("no video given")
    return [str(v) for v in ([videos] if isinstance(videos, (str, Path)) else videos)]


def add_option(p: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    """Add an option unless the host command already has it (e.g. --topk, --device in `actionlab predict`)."""
    if any(f in p._option_string_actions for f in flags):
        return
    p.add_argument(*flags, **kwargs)


def add_timeline_arguments(p: argparse.ArgumentParser) -> None:
    """The timeline options of `actionlab timeline` and `actionlab predict` (where `--window` switches it on).

    Options the host command already has (e.g. --topk, --device, --html in `predict`) are left to it.
    """
    add_option(p, "--window", type=int, default=None, metavar="FRAMES",
               help="slide a window of FRAMES frames over the whole video and write a timeline (JSON, CSV, PNG)")
    add_option(p, "--stride", type=int, default=None, metavar="FRAMES",
               help="frames between window starts (default: window / 4)")
    add_option(p, "--out-dir", default="timelines",
               help="folder for <video>.timeline.{json,csv,png} (default: timelines)")
    add_option(p, "--out-video", default=None, metavar="OUT.mp4",
               help="also write the video (H.264, audio copied) with the top-k of each frame's window drawn on it; "
                    "with several videos, a folder")
    add_option(p, "--html", default=None, metavar="OUT.html",
               help="also write a page to watch the timeline offline (player, scores over time, top-5 on hover); "
                    "it plays --out-video, or OUT.labels.mp4 written beside it; with several videos, a folder")
    add_option(p, "--embed-video", action="store_true",
               help="put the video inside the --html page (one file to send) instead of beside it")
    add_option(p, "--batch-size", type=int, default=8,
               help="windows per forward pass (with --jsonl: videos per forward pass)")
    add_option(p, "--plot-classes", type=int, default=8, help="most classes drawn in the plot and on the page")
    add_option(p, "--no-plot", action="store_true", help="skip the PNG")
    add_option(p, "--topk", type=int, default=5, help="classes kept per window (and drawn on the video)")
    add_option(p, "--device", default="auto", help="auto, cpu, cuda, cuda:1")


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    """The folder options of `actionlab predict` (`--jsonl` switches batch prediction on)."""
    add_option(p, "--jsonl", default=None, metavar="OUT",
               help="predict every video under the given folders into OUT, one JSON line per video; resumable")
    add_option(p, "--views", default="1x1", help="clips x crops per video, as test.views (default 1x1)")
    add_option(p, "--batch-size", type=int, default=4, help="videos per forward pass")
    add_option(p, "--num-workers", type=int, default=2, help="DataLoader workers decoding videos")
    add_option(p, "--topk", type=int, default=5, help="classes per video")
    add_option(p, "--device", default="auto", help="auto, cpu, cuda, cuda:1")


def standalone_parser(prog: str, doc: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                      videos_help: str) -> argparse.ArgumentParser:
    """`python -m actionlab.<prog>`: CHECKPOINT VIDEOS... plus the module's own options."""
    p = argparse.ArgumentParser(prog=f"python -m actionlab.{prog}", description=doc.split("\n\n")[0])
    p.add_argument("checkpoint", help="training checkpoint (runs/<name>/checkpoints/best.pt)")
    p.add_argument("videos", nargs="+", help=videos_help)
    add_arguments(p)
    return p


def run_standalone(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int], name: str,
                   argv: list[str] | None = None) -> int:
    """Parse, run, and turn a user error into one line on stderr and its exit code."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ActionlabError as e:
        print(f"actionlab {name}: error: {e}", file=sys.stderr)
        return e.exit_code
