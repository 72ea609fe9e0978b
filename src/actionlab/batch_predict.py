"""Batch prediction over a folder: one JSONL line per video, resumable.

    actionlab predict CHECKPOINT videos/ --jsonl predictions.jsonl [--views 2x3] [--num-workers 4]

Videos (every file with a video extension under the folders given, sorted) are
decoded and preprocessed by DataLoader workers and scored in batches.  Each
line is written and flushed as soon as its batch is scored:

    {"video": "videos/a.mp4", "label": "juggling", "score": 0.91, "top": [{"label": ..., "score": ...}, ...]}
    {"video": "videos/broken.mp4", "error": "cannot open video ...: Invalid data found when processing input"}

Running the same command again skips every video that already has a prediction, so an
interrupted run resumes where it stopped.  A video whose line is an error is tried again on
every run (its old line is replaced by the new result): a file fixed since, or one a worker
could not read under memory pressure, gets its prediction, and one still bad is reported
again.  The videos that failed in this run (earlier failures included) are listed at the end
and the exit code is 1 while any fails.  A line cut short by a crash is dropped on resume and
its video predicted again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from .api import Predictor, Preprocess, load_clips, top_classes
from .engine.logs import Progress
from .errors import ActionlabError, ConfigError, DataError
from .video_inputs import add_batch_arguments, find_videos, run_standalone, standalone_parser, videos_of

# what reading one bad file can raise: it is that file's failure, never the run's
READ_ERRORS = (ActionlabError, OSError, RuntimeError, ValueError)


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def predict_files(predictor: Predictor, videos: Sequence[str], *, topk: int = 5, views: str = "1x1",
                  progress: Callable[[int, int], None] | None = None
                  ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """([{"video", "label", "top", ...}], [(video, error)]): one unreadable file does not stop the others.
    progress(done, total) after each video."""
    results, failures = [], []
    for i, video in enumerate(videos, 1):
        try:
            prediction = predictor.predict(video, topk=topk, views=views)
        except READ_ERRORS as e:
            failures.append((video, first_line(e)))
        else:
            results.append({"video": video, **prediction.to_dict()})
        if progress is not None:
            progress(i, len(videos))
    return results, failures


def print_failures(failures: Sequence[tuple[str, str]], total: int, file: Any = None) -> None:
    """The list of videos that got no prediction, after the results (stderr by default)."""
    if not failures:
        return
    stream = file or sys.stderr
    print(f"{len(failures)} of {total} videos failed (no prediction):", file=stream)
    for video, error in failures:  # the path once: most errors name it already
        print(f"  {error}" if video in error else f"  {video}: {error}", file=stream)


def _read_lines(jsonl: Path) -> list[tuple[str, dict[str, Any]]]:
    """(line, record) of every line of `jsonl`; a trailing partial line (a crash mid-write) is cut off."""
    if not jsonl.is_file():
        return []
    data = jsonl.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        with open(jsonl, "r+b") as f:
            f.truncate(keep)
        data = data[:keep]
    out = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            str(record["video"])
        except (ValueError, KeyError, TypeError):
            raise DataError(f"{jsonl}:{number} is not a prediction line (expected JSON with a 'video' key)") from None
        out.append((line, record))
    return out


def read_done(jsonl: Path) -> set[str]:
    """Videos that already have a prediction in `jsonl` (an error line does not count: it is retried)."""
    return {str(r["video"]) for _, r in _read_lines(jsonl) if "error" not in r}


def drop_failures(jsonl: Path, retry: set[str]) -> list[str]:
    """Remove the error lines of the videos in `retry` from `jsonl` (rewritten atomically), so that each video
    keeps one line once it is tried again; returns those videos."""
    lines = _read_lines(jsonl)
    dropped = [str(r["video"]) for _, r in lines if "error" in r and str(r["video"]) in retry]
    if dropped:
        tmp = jsonl.with_name(f".{jsonl.name}.tmp")
        tmp.write_text("".join(line + "\n" for line, r in lines
                               if not ("error" in r and str(r["video"]) in retry)), encoding="utf-8")
        os.replace(tmp, jsonl)
    return dropped


class VideoFiles(Dataset):
    """Items {"video": path, "clip": uint8 [V, 3, T, S, S]} or {"video": path, "error": message}."""

    def __init__(self, videos: Sequence[str], preprocess: Preprocess, views: str = "1x1"):
        self.videos = list(videos)
        self.preprocess = preprocess
        self.views = views

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict[str, Any]:
        video = self.videos[i]
        try:
            return {"video": video, "clip": load_clips(video, self.preprocess, self.views)}
        except READ_ERRORS as e:  # one bad file must not stop the run
            return {"video": video, "error": first_line(e)}


def collate_videos(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the clips of the readable videos; keep the failures beside them."""
    good = [x for x in items if "clip" in x]
    return {"videos": [x["video"] for x in good],
            "clips": torch.stack([x["clip"] for x in good]) if good else None,
            "errors": [(x["video"], x["error"]) for x in items if "error" in x]}


@dataclass
class BatchSummary:
    predicted: int  # lines written in this run with a prediction
    failed: int  # lines written in this run with an error
    skipped: int  # videos that already had a prediction
    jsonl: Path
    failures: list[tuple[str, str]] = field(default_factory=list)  # (video, error) of this run
    retried: int = 0  # videos that had failed in an earlier run and were tried again


def predict_folder(predictor: Predictor, inputs: Sequence[str | Path], jsonl: str | Path, *, topk: int = 5,
                   views: str = "1x1", batch_size: int = 4, num_workers: int = 2,
                   progress: Callable[[int, int], None] | None = None) -> BatchSummary:
    """Predict every video under `inputs` that `jsonl` holds no prediction of yet (earlier failures are tried
    again), appending one line per video."""
    jsonl = Path(jsonl)
    videos = find_videos(inputs)
    done = read_done(jsonl)
    todo = [v for v in videos if v not in done]
    summary = BatchSummary(0, 0, len(videos) - len(todo), jsonl)
    summary.retried = len(drop_failures(jsonl, set(todo)))
    if not todo:
        return summary
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(VideoFiles(todo, predictor.preprocess, views), batch_size=max(1, batch_size),
                        num_workers=max(0, num_workers), collate_fn=collate_videos,
                        persistent_workers=False, prefetch_factor=2 if num_workers > 0 else None)
    model = predictor.model_name
    with open(jsonl, "a", encoding="utf-8") as out:
        for batch in loader:
            lines = []
            if batch["clips"] is not None:
                scores = predictor.batch_scores(batch["clips"])
                for video, row in zip(batch["videos"], scores):
                    top = top_classes(row, predictor.class_names, topk)
                    lines.append({"video": video, "label": top.label, "score": round(top.score, 6),
                                  **top.to_dict(), "model": model, "views": views})
                    summary.predicted += 1
            for video, error in batch["errors"]:
                lines.append({"video": video, "error": error})
                summary.failures.append((video, error))
                summary.failed += 1
            out.write("".join(json.dumps(line) + "\n" for line in lines))
            out.flush()
            os.fsync(out.fileno())  # a line on disk is a video that a resumed run skips
            if progress is not None:
                progress(summary.predicted + summary.failed, len(todo))
    return summary


# --------------------------------------------------------------------------- command line


def run_batch(args: argparse.Namespace) -> int:
    """Predict `args.videos` (folders or files) with `args.checkpoint` into `args.jsonl`."""
    from .api import load

    if not args.jsonl:
        raise ConfigError("--jsonl OUT is required for batch prediction")
    inputs = videos_of(args)
    predictor = load(args.checkpoint, device=getattr(args, "device", "auto"))

    bar = Progress("videos", None)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done)

    s = predict_folder(predictor, inputs, args.jsonl, topk=getattr(args, "topk", 5),
                       views=getattr(args, "views", "1x1") or "1x1", batch_size=getattr(args, "batch_size", 4) or 4,
                       num_workers=getattr(args, "num_workers", 2), progress=progress)
    bar.close()
    retried = f" ({s.retried} that had failed before were tried again)" if s.retried else ""
    print(f"{s.jsonl}: {s.predicted} predicted, {s.failed} failed{retried}, {s.skipped} already there")
    print_failures(s.failures, s.predicted + s.failed)
    return 1 if s.failed else 0


def build_parser() -> argparse.ArgumentParser:
    return standalone_parser("batch_predict", __doc__, add_batch_arguments,
                             "folders (searched recursively) and video files")


def main(argv: list[str] | None = None) -> int:
    return run_standalone(build_parser(), run_batch, "predict", argv)


if __name__ == "__main__":
    sys.exit(main())
