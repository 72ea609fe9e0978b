"""actionlab predict VIDEO_OR_FOLDER ... --checkpoint PATH | --model NAME [--topk 5]: the actions in video files.

    actionlab predict video.mp4 --model tsm_r50.k400           # Kinetics-400 labels, weights downloaded once
    actionlab predict video.mp4 --model tsm_r50.k400 --weights TSM_kinetics_RGB_resnet50_...e50.pth
    actionlab predict video.mp4 --model exported_dir            # or a Hugging Face Hub repo id: org/name
    actionlab predict video.mp4 --checkpoint runs/tsm/last.pt

`actionlab list-pretrained` lists the tags --model takes.

Prints a table of the top classes and scores of every video (folders are searched for
video files) and, with `--json OUT`, writes them as JSON (`--json -` prints the JSON
instead of the table).  A file that cannot be read does not stop the others: the failures
are listed after the results and the exit code is 1.  The preprocessing is the checkpoint's own test pipeline
(`actionlab.api`), so any video the readers handle works.

`--html OUT.html` also writes one self-contained page listing every video with its top-5
and the failures with their reason.

Long videos and big folders (see `actionlab timeline` and `actionlab.batch_predict`):
`--window FRAMES [--stride S]` writes a timeline per video (as `actionlab timeline`; with
`--out-video` / `--html` the annotated video and its page); `--jsonl OUT` predicts every
video of the folders into a resumable JSON-lines file with DataLoader workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..video_inputs import add_batch_arguments, add_timeline_arguments

    p.add_argument("videos", nargs="+", metavar="VIDEO_OR_FOLDER", help="video files and folders of videos")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", metavar="PATH", help="training checkpoint (best.pt / last.pt)")
    which.add_argument("--model", metavar="NAME", help="a pretrained tag (tsm_r50.k400; see `actionlab "
                       "list-pretrained`), a folder from `export --format hub`, or a Hugging Face Hub repo id")
    p.add_argument("--weights", metavar="FILE", default=None,
                   help="with a --model tag: the release's file, downloaded by hand (no download)")
    p.add_argument("--topk", type=int, default=5, help="classes shown per video")
    p.add_argument("--views", default=None, metavar="CLIPSxCROPS",
                   help="test views averaged per video (default 1x1, or the release's with --protocol release)")
    p.add_argument("--protocol", default="single", choices=["single", "release"],
                   help="with a --model tag: single (one clip, one centre crop, the release's own resize and "
                        "sampling) or release (the multi-view test its reported accuracy used)")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the predictions as JSON ('-': stdout)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1")
    p.add_argument("--html", default=None, metavar="OUT.html",
                   help="also write a page listing every video with its top-5 and the failures (offline, one file); "
                        "with --window: the timeline page (see `actionlab timeline --help`)")
    add_timeline_arguments(p)  # --window / --stride ...: a timeline of long videos
    add_batch_arguments(p)  # --jsonl ...: resumable folder prediction


def run(args: argparse.Namespace) -> int:
    from ..models.pretrained import WeightsUnavailable

    try:
        return _run(args)
    except WeightsUnavailable as e:  # the command line's words for the Python API's weights=FILE
        if not (args.window or args.jsonl):
            e.cli_message += " or pass --weights FILE"
        raise


def _run(args: argparse.Namespace) -> int:
    if args.model:
        args.checkpoint = args.model
    if args.weights and args.jsonl:
        from ..errors import ConfigError

        raise ConfigError("--weights works with plain prediction and --window; for --jsonl put the file in the "
                          "torch hub cache (the path the download error names)")
    if args.protocol != "single" and args.views:
        from ..errors import ConfigError

        raise ConfigError(f"--protocol {args.protocol} sets the views itself; drop --views {args.views}")
    if args.protocol != "single" and (args.window or args.jsonl):
        from ..errors import ConfigError

        raise ConfigError("--protocol release scores whole videos; --window / --jsonl take the single-view protocol")
    if args.window:
        from .timeline import run_timeline

        return run_timeline(args)
    if args.jsonl:
        from ..batch_predict import run_batch

        code = run_batch(args)
        if args.html:
            _page_from_jsonl(args)
        return code
    from ..api import load, parse_views
    from ..batch_predict import find_videos, predict_files, print_failures
    from ..engine.logs import Progress
    from ..engine.reports import format_table

    if args.views:
        parse_views(args.views)
    videos = find_videos(args.videos)
    if not videos:
        from ..errors import DataError

        raise DataError(f"no video files in {', '.join(args.videos)}")
    predictor = load(args.checkpoint, device=args.device, weights=args.weights, protocol=args.protocol)
    args.views = args.views or predictor.views
    predictor.check_views(args.views)
    bar = Progress("predict: videos", len(videos), enabled=len(videos) > 1)  # stderr: stdout keeps the table
    results, failures = predict_files(predictor, videos, topk=args.topk, views=args.views,
                                      progress=lambda done, total: bar.update(done))
    bar.close()
    if args.json != "-" and results:
        rows = [{"video": r["video"], "top-1": r["top"][0]["label"], "score": f"{r['top'][0]['score']:.3f}",
                 f"top-{args.topk}": ", ".join(f"{t['label']} {t['score']:.2f}" for t in r["top"])} for r in results]
        print(format_table(rows, ["video", "top-1", "score", f"top-{args.topk}"]))
    text = json.dumps({"checkpoint": str(args.checkpoint), "views": args.views, "predictions": results,
                       "failures": [{"video": v, "error": e} for v, e in failures]}, indent=1)
    if args.json == "-":
        print(text)
    elif args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
        print(f"JSON: {args.json}", file=sys.stderr)
    if args.html:
        from ..annotate.page import write_folder_page

        write_folder_page(args.html, results, failures, str(args.checkpoint), args.views)
        print(f"page: {args.html}", file=sys.stderr)
    print_failures(failures, len(videos))  # after the results: one bad file never costs the good ones theirs
    return 1 if failures else 0


def _page_from_jsonl(args: argparse.Namespace) -> None:
    """The folder page of every video in `--jsonl` (this run's lines and earlier runs'; a video's last line)."""
    from ..annotate.page import write_folder_page
    from ..batch_predict import _read_lines

    last = {str(r["video"]): r for _, r in _read_lines(Path(args.jsonl))}
    results = [r for r in last.values() if "error" not in r]
    failures = [(v, str(r["error"])) for v, r in last.items() if "error" in r]
    write_folder_page(args.html, results, failures, str(args.checkpoint), args.views or "1x1")
    print(f"page: {args.html}", file=sys.stderr)
