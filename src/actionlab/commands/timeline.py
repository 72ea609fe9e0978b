"""actionlab timeline VIDEO... --model TAG|CHECKPOINT [--window 64 --stride 16] [--out-video OUT.mp4] [--html OUT.html]

    actionlab timeline talk.mp4 --model tsm_r50.k400 --out-video talk.labels.mp4 --html talk.html
    actionlab timeline long.avi --checkpoint runs/tsm/best.pt --window 64 --stride 16
    actionlab timeline videos/ --model runs/tsm/best.pt --html pages/        # a page per video

Slides a window over each whole video and scores every window (the model's own test
sampler picks its frames), then writes <out-dir>/<video>.timeline.{json,csv,png}.
`--out-video` writes the video again (H.264, same size and frame rate, rotation applied,
the audio copied) with the top-k of the window shown at each frame drawn on it and a
strip of the top-1 score so far along the bottom; it is decoded, drawn and encoded while
the model works.  `--html` writes one page that works offline: the video, a chart of the
class scores over time whose cursor follows playback (click to seek, hover for the top-5).
The page plays --out-video, or OUT.labels.mp4 written beside it (`--embed-video`: inside it).
A frame shows the window whose centre is nearest to it.  `actionlab predict VIDEO
--window ...` runs the same.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from ..errors import ConfigError, DataError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..video_inputs import add_timeline_arguments

    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (or folders holding them)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="TAG|PATH", help="a pretrained tag (tsm_r50.k400), a training "
                       "checkpoint, a folder from `export --format hub`, or a Hugging Face Hub repo id")
    which.add_argument("--checkpoint", metavar="PATH", help="training checkpoint (best.pt / last.pt)")
    p.add_argument("--weights", metavar="FILE", default=None,
                   help="with a --model tag: the release's file, downloaded by hand (no download)")
    add_timeline_arguments(p)
    p.set_defaults(window=64)


def run(args: argparse.Namespace) -> int:
    args.checkpoint = args.model or args.checkpoint
    return run_timeline(args)


def _output(option: str, value: str | None, video: str, many: bool, suffix: str) -> Path | None:
    """The file an --out-video / --html value names for `video` (a folder when several videos are given)."""
    if value is None:
        return None
    path = Path(value)
    if many or path.is_dir() or value.endswith(("/", os.sep)):
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{option} {value}: with several videos it must be a folder")
        return path / f"{Path(video).stem}{suffix}"
    return path


def run_timeline(args: argparse.Namespace) -> int:
    """Timelines of `args.videos` with `args.checkpoint` (JSON/CSV/PNG, and the annotated video and page when
    asked); prints where they were written."""
    from ..api import load
    from ..engine.logs import Progress
    from ..timeline import annotated_timeline, video_timeline, write_timeline
    from ..video_inputs import find_videos, videos_of

    if not args.window:
        raise ConfigError("--window is required for a timeline")
    stride = args.stride or max(1, args.window // 4)
    videos = find_videos(videos_of(args))  # folders are searched for video files
    if not videos:
        raise DataError(f"no video files in {', '.join(videos_of(args))}")
    many = len(videos) > 1
    predictor = load(args.checkpoint, device=getattr(args, "device", "auto"), weights=getattr(args, "weights", None))
    topk = getattr(args, "topk", 5)
    for video in videos:
        out_video = _output("--out-video", getattr(args, "out_video", None), video, many, ".labels.mp4")
        page = _output("--html", getattr(args, "html", None), video, many, ".html")
        embed = bool(getattr(args, "embed_video", False))
        with tempfile.TemporaryDirectory(prefix="actionlab-page-") as tmp:
            if page is not None and out_video is None:  # the page needs a video a browser plays
                out_video = Path(tmp) / f"{page.stem}.mp4" if embed else page.with_suffix(".labels.mp4")
            if out_video is not None:
                out_video.parent.mkdir(parents=True, exist_ok=True)
            bar = Progress(f"{Path(video).name}: windows", None)

            def progress(done: int, total: int, bar: Progress = bar) -> None:
                bar.total = total
                bar.update(done)

            common = dict(window=args.window, stride=stride, topk=topk,
                          batch_size=getattr(args, "batch_size", 8) or 8, progress=progress)
            if out_video is not None:
                tl = annotated_timeline(predictor, video, out_video, **common)
            else:
                tl = video_timeline(predictor, video, **common)
            bar.close()
            paths = write_timeline(tl, getattr(args, "out_dir", None) or "timelines",
                                   plot=not getattr(args, "no_plot", False),
                                   max_classes=getattr(args, "plot_classes", 8))
            if page is not None:
                paths["html"] = tl.to_html(page, embed=embed, max_classes=getattr(args, "plot_classes", 8))
            if tl.annotated is not None and not (embed and getattr(args, "out_video", None) is None):
                paths["video"] = tl.annotated.path
        _print_summary(video, tl, paths)
    return 0


def _print_summary(video: str, tl, paths: dict) -> None:
    best = max(tl.windows, key=lambda w: w.scores[0]) if tl.windows else None
    peak = f", top window {best.start:.1f}-{best.end:.1f}s: {best.labels[0]} {best.scores[0]:.3f}" if best else ""
    print(f"{video}: {len(tl.windows)} windows over {tl.duration:.1f}s{peak}")
    for kind, path in paths.items():
        extra = ""
        if kind == "video":
            a = tl.annotated
            audio = f"audio {a.audio}" if a.audio else "no audio in the input"
            padded = ", padded to even sides" if a.padded else ""
            extra = f" ({a.frames} frames {a.width}x{a.height}, {audio}{padded})"
        print(f"  {kind}: {path}{extra}")
