"""`actionlab data check`: scan a dataset's splits and report what would break training.

Per split: annotation lines that do not parse, videos that are missing, truncated,
corrupt or without frames (each one is opened and - unless `decode=False` - the frames
the test sampler takes are decoded), frame-count statistics (and how many videos are
shorter than `data.num_segments`), and the class histogram (empty classes flagged).
With `verify=N` (`--verify-frames --sample N`), each video's reads are also compared with a
sequential decode of the whole file (`verify.verify_video`): N random single frames and the
sampler's clips; every difference is a problem, named with the file, the frame and the offset.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..config import DataConfig
from ..errors import ConfigError, DataError
from .formats import UNLABELED, VideoRecord, load_annotations
from .readers import open_video
from .sampling import build_sampler
from .verify import Verified, verify_video


@dataclass
class SplitReport:
    split: str
    status: str = "ok"  # ok | not configured | not used | failed
    message: str = ""
    num_videos: int = 0
    class_names: list[str] = field(default_factory=list)
    annotation_errors: list[str] = field(default_factory=list)  # includes conflicts (one video, two labels)
    duplicates: list[str] = field(default_factory=list)  # one video listed twice with the same label
    notes: list[str] = field(default_factory=list)  # e.g. how the class count was inferred
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (source/path, reason)
    frame_counts: list[int] = field(default_factory=list)
    histogram: Counter = field(default_factory=Counter)  # readable videos per class (what training sees)
    unreadable_histogram: Counter = field(default_factory=Counter)  # unreadable or missing videos per class
    num_segments: int = 8
    verified: Verified | None = None  # --verify-frames: what the comparison with sequential decodes found
    verified_videos: int = 0
    folders_not_verified: int = 0  # frame folders: read image by image, nothing to number

    @property
    def problems(self) -> int:
        return len(self.annotation_errors) + len(self.duplicates) + len(self.unreadable) + \
            (self.status == "failed") + (self.status == "ok" and self.num_videos == 0) + \
            (len(self.verified.mismatches) if self.verified is not None else 0)


def _probe(record: VideoRecord, cfg: DataConfig, template: str, start: int, decode: bool) -> tuple[int, str | None]:
    """(frame count, None) or (0, reason)."""
    sampler = build_sampler(cfg.sampler, cfg.num_segments, cfg.frame_interval)
    try:
        with open_video(record.path, cfg.backend, frame_template=template, frame_start=start,
                        num_frames=record.num_frames, autorotate=cfg.autorotate) as video:
            n = video.num_frames
            if n <= 0:
                return 0, "no decodable frames"
            if decode:
                video.read(sampler(n, np.random.default_rng(0), False).reshape(-1))
            return n, None
    except DataError as e:
        return 0, str(e)
    except OSError as e:
        return 0, f"cannot read: {e}"


@contextlib.contextmanager
def _quiet_line_errors() -> Iterator[None]:
    """The report lists every skipped annotation line once: no log line for each on top (stderr)."""
    logger = logging.getLogger("actionlab.data")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _verify(record: VideoRecord, cfg: DataConfig, sample: int, test_clips: int, seed: int) -> Verified | None:
    """The reader against a sequential decode of the file; None for frame folders."""
    if os.path.isdir(record.path):
        return None
    try:
        return verify_video(record.path, {"backend": cfg.backend, "autorotate": cfg.autorotate}, sample,
                            cfg.num_segments, cfg.sampler, cfg.frame_interval, test_clips, seed)
    except DataError as e:
        return Verified(mismatches=[f"{record.path}: not verified: {e}"])


def check_split(cfg: DataConfig, split: str, *, limit: int | None = None, decode: bool = True, workers: int = 1,
                progress: Callable[[int, int], None] | None = None, validates: bool = True,
                verify: int | None = None, test_clips: int = 1) -> SplitReport:
    """One split's report.  `validates` False: nothing reads the val split (train.eval_every 0), so a val list
    file that does not exist is "not used", not a problem.  `verify`: compare `verify` random single frames and
    the sampler's clips (one training clip, `test_clips` test clips) of every readable video with a sequential
    decode (`--verify-frames --sample N`)."""
    report = SplitReport(split, num_segments=cfg.num_segments)
    if verify is not None:
        report.verified = Verified()
    try:
        with _quiet_line_errors():
            ann = load_annotations(cfg, split, on_error="skip")
    except ConfigError as e:
        if "is empty" in str(e):
            report.status, report.message = "not configured", str(e)
            return report
        raise
    except DataError as e:
        if split == "val" and not validates and str(e).startswith("annotation file not found"):
            report.status, report.message = "not used", f"{e}; nothing validates (train.eval_every is 0)"
            return report
        report.status, report.message = "failed", str(e)
        return report
    report.class_names = ann.class_names
    report.annotation_errors = list(ann.errors)
    report.duplicates = list(ann.duplicates)
    report.notes = list(ann.notes)
    records = ann.records[:limit] if limit else ann.records
    report.num_videos = len(records)
    done = 0

    def run(r: VideoRecord) -> tuple[VideoRecord, int, str | None, Verified | None]:
        n, reason = _probe(r, cfg, ann.frame_template, ann.frame_start, decode)
        checked = _verify(r, cfg, verify, test_clips, seed=len(r.path)) if verify is not None and reason is None \
            else None
        return r, n, reason, checked

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for r, n, reason, checked in pool.map(run, records):
            done += 1
            if reason is None:
                report.frame_counts.append(n)
            else:
                report.unreadable.append((r.source or r.path, reason))
            counter = report.histogram if reason is None else report.unreadable_histogram
            for c in (r.label if isinstance(r.label, tuple) else (r.label,)):
                if c != UNLABELED:
                    counter[c] += 1
            if report.verified is not None and reason is None:
                if checked is None:
                    report.folders_not_verified += 1
                else:
                    report.verified_videos += 1
                    report.verified.singles += checked.singles
                    report.verified.clips += checked.clips
                    report.verified.mismatches += checked.mismatches
            if progress is not None:
                progress(done, len(records))
    return report


def format_report(report: SplitReport, max_lines: int = 20) -> str:
    lines = [f"[{report.split}] {report.status}" + (f": {report.message}" if report.message else "")]
    if report.status != "ok":
        return "\n".join(lines)
    lines[0] = f"[{report.split}] {report.num_videos} videos, {len(report.class_names)} classes"
    lines.append(f"  annotation errors: {len(report.annotation_errors)}")
    lines += [f"    {m}" for m in report.annotation_errors[:max_lines]]
    conflicts = sum("conflict:" in m for m in report.annotation_errors)
    if conflicts:
        lines.append(f"    ({conflicts} of them conflicts: one video listed with two labels)")
    lines.append(f"  duplicate lines: {len(report.duplicates)}")
    lines += [f"    {m}" for m in report.duplicates[:max_lines]]
    lines += [f"  note: {m}" for m in report.notes]
    lines.append(f"  unreadable videos: {len(report.unreadable)}")
    lines += [f"    {src}: {reason}" for src, reason in report.unreadable[:max_lines]]
    hidden = len(report.annotation_errors[max_lines:]) + len(report.duplicates[max_lines:]) + \
        len(report.unreadable[max_lines:])
    if hidden:
        lines.append(f"    ... and {hidden} more")
    if report.frame_counts:
        counts = np.array(report.frame_counts)
        short = int((counts < report.num_segments).sum())
        lines.append(f"  frames per video: min {counts.min()}, median {int(np.median(counts))}, max {counts.max()}, "
                     f"mean {counts.mean():.1f}; {short} shorter than data.num_segments={report.num_segments}")
    if report.verified is not None:
        lines += format_verified(report, max_lines)
    if report.num_videos == 0:
        lines.append("  the split is empty")
    if report.class_names:
        lines += _class_lines(report)
    return "\n".join(lines)


def _class_lines(report: SplitReport) -> list[str]:
    """The class histogram of the readable videos (what training sees), unreadable / missing ones beside it."""
    names, hist, bad = report.class_names, report.histogram, report.unreadable_histogram
    empty = [names[i] for i in range(len(names)) if hist[i] == 0]
    values = [hist[i] for i in range(len(names))]
    not_counted = f" ({sum(bad.values())} unreadable or missing not counted)" if bad else ""
    if len(names) <= 30:
        lines = [f"  classes, readable videos only{not_counted}: " + ", ".join(
            f"{names[i]} {hist[i]}" + (f" (+{bad[i]} unreadable)" if bad[i] else "") for i in range(len(names)))]
    else:
        lines = [f"  readable videos per class: min {min(values)}, max {max(values)}{not_counted}"]
    lines.append(f"  classes without readable videos: {len(empty)}" + (f" ({', '.join(empty[:10])}"
                                                                      f"{', ...' if len(empty) > 10 else ''})"
                                                                      if empty else ""))
    return lines


def format_verified(report: SplitReport, max_lines: int = 20) -> list[str]:
    v = report.verified
    assert v is not None
    lines = [f"  frames verified against a sequential decode: {report.verified_videos} videos, {v.singles} single "
             f"frames and {v.clips} clips read: {len(v.mismatches)} mismatches"]
    if report.folders_not_verified:
        lines.append(f"    ({report.folders_not_verified} frame folders not verified: read image by image)")
    lines += [f"    {m}" for m in v.mismatches[:max_lines]]
    if len(v.mismatches) > max_lines:
        lines.append(f"    ... and {len(v.mismatches) - max_lines} more")
    return lines
