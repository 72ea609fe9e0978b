"""actionlab data {synth,check}: dataset tools.

  synth OUT    write the built-in temporal benchmark (H.264 videos, generic lists, annotations)
  check CONFIG scan a dataset: unreadable videos, bad annotation lines, frame counts, class
               histogram; with --verify-frames, every video's reads against a sequential decode;
               exits 1 when something is wrong
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from ..errors import ConfigError
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    s = sub.add_parser("synth", help="write the built-in temporal benchmark",
                       description="Write generated videos whose classes differ only in time order or direction.")
    s.add_argument("out", help="output directory")
    s.add_argument("--variant", default="order", choices=["order", "finegrained", "distractor"],
                   help="order: time-reversed class pairs (TSN vs TSM); finegrained: a small moving part (ART); "
                        "distractor: a misleading cue on some frames (TFE)")
    s.add_argument("--classes", default=None,
                   help="comma-separated classes (default: move_right,move_left,rotate_cw,rotate_ccw,grow,shrink,"
                        "a_then_b,b_then_a)")
    s.add_argument("--videos-per-class", type=int, default=20, help="training videos per class")
    s.add_argument("--eval-per-class", type=int, default=None, help="val and test videos per class (default N/4, >= 4)")
    s.add_argument("--size", type=int, default=64, help="frame side in pixels")
    s.add_argument("--frames", type=int, default=32, help="frames per video (a multiple of num_segments)")
    s.add_argument("--fps", type=int, default=12, help="frame rate written into the MP4 files (default 12)")
    s.add_argument("--seed", type=int, default=0, help="seed of the generated videos (same seed, same files)")
    s.add_argument("--cue-prob", type=float, default=0.9, help="distractor variant: label/cue correlation in train/val")
    s.add_argument("--test-cue", default="random", choices=["random", "conflict"],
                   help="distractor variant: the test videos' cue (conflict: always another class's cue)")
    s.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes rendering and encoding")
    c = sub.add_parser("check", help="scan a dataset and report problems",
                       description="Scan a dataset's splits; exit 1 when a video or annotation line is bad.")
    add_config_arguments(c)
    c.add_argument("--splits", nargs="+", default=["train", "val", "test"], choices=["train", "val", "test"],
                   help="which annotation lists to check (default: all three)")
    c.add_argument("--limit", type=int, default=None, help="check only the first N videos of each split")
    c.add_argument("--no-decode", action="store_true", help="only open the videos (faster; misses broken frames)")
    c.add_argument("--workers", type=int, default=None, help="threads (default data.num_workers)")
    c.add_argument("--verify-frames", action="store_true",
                   help="decode each video sequentially and compare it with what the reader returns for random "
                        "single frames and the configured sampler's clips; every mismatch is listed (file, frame, "
                        "offset) and makes the exit code 1")
    c.add_argument("--sample", type=int, default=8, metavar="N",
                   help="with --verify-frames: random single frames read per video (default 8)")


def run(args: argparse.Namespace) -> int:
    if args.data_command == "synth":
        return _synth(args)
    return _check(args)


def _synth(args: argparse.Namespace) -> int:
    from ..data.synthetic import generate

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if args.workers < 1:
        raise ConfigError("--workers must be >= 1")
    from ..engine.logs import Progress

    start = time.perf_counter()
    bar = Progress("data synth: videos written", None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    result = generate(args.out, args.variant, args.videos_per_class, args.size, args.frames, args.seed,
                      classes=classes, eval_per_class=args.eval_per_class, fps=args.fps, cue_prob=args.cue_prob,
                      workers=args.workers, test_cue=args.test_cue, progress=progress)
    bar.close()
    total = sum(result.counts.values())
    print(f"wrote {total} videos ({', '.join(f'{k} {v}' for k, v in result.counts.items())}) of "
          f"{len(result.class_names)} classes to {result.root} in {time.perf_counter() - start:.1f} s")
    print(f"data config: {result.config}  (use it as `_base_` or pass its values)")
    return 0


def data_root_line(cfg: Any, config: str | None) -> str:
    """Where data.root points: a relative root is relative to the working directory (as every path on the
    command line), which is said - with the config file's folder as a hint when the lists are there instead."""
    from pathlib import Path

    root = cfg.data.root or "."
    given = Path(root).expanduser()
    if given.is_absolute():
        return f"data.root: {given}"
    line = f"data.root: {given.resolve()} ('{root}' in the config, relative to the working directory)"
    beside = Path(config).parent / given if config else None
    lists = [n for n in (cfg.data.train_list, cfg.data.test_list) if n and not Path(n).is_absolute()]
    if (beside is not None and beside.resolve() != given.resolve() and lists
            and not any((given / n).is_file() for n in lists) and any((beside / n).is_file() for n in lists)):
        line += (f"; the lists are in the config's folder {beside.resolve()}: run from there or give an absolute "
                 "data.root")
    return line


def _check(args: argparse.Namespace) -> int:
    from ..data.check import check_split, format_report
    from ..data.sampling import parse_views
    from ..engine.logs import Progress

    cfg = config_from_args(args)
    workers = args.workers if args.workers is not None else max(1, cfg.data.num_workers)
    print(data_root_line(cfg, args.config))
    if args.sample < 1:
        raise ConfigError("--sample must be >= 1")
    problems = 0
    checked = 0
    for split in args.splits:
        bar = Progress(f"[{split}] videos checked", None)

        def progress(done: int, total: int, bar: Progress = bar) -> None:
            bar.total = total
            bar.update(done)

        report = check_split(cfg.data, split, limit=args.limit, decode=not args.no_decode, workers=workers,
                             progress=progress, validates=cfg.train.eval_every > 0,
                             verify=args.sample if args.verify_frames else None,
                             test_clips=parse_views(cfg.test.views)[0])
        bar.close()
        print(format_report(report))
        problems += report.problems
        checked += report.status not in ("not configured", "not used")
    if checked == 0:
        raise ConfigError("no split to check: set data.train_list / val_list / test_list (or use an official format)")
    print(f"{'OK' if problems == 0 else f'{problems} problem(s) found'}")
    return 0 if problems == 0 else 1
