"""Generic lists for custom data (and the built-in benchmark).

One video per line, paths relative to `data.root`:
    path label                 single label: a class index, or a class name when class names are given
    path label1,label2,...     multi-label (the dataset becomes multi-label)
    path num_frames label(s)   MMAction2's raw-frame lists (a frame folder with a known count)
A label made of digits is an index (0-based) even when the class names are digits too.
Class names: `data.class_names` (one per line), else `options.classes` (a list), else
"0".."K-1" with K = the largest label + 1.
Frame folders: `options.frame_template` ("{:05d}.jpg") and `options.frame_start` (1).
Per-video annotations (the built-in benchmark writes them): `options.annotations`, a JSON file
{"videos": {path: {"action_frames": [[s, e]], "distractor_frames": [[s, e]], "boxes": [[x1, y1, x2, y2]
or null per frame]}}}; by default `annotations.json` next to the list file is used when present.
"""

from __future__ import annotations

import numpy as np

from ...config import DataConfig
from ...errors import DataError
from .base import (
    Annotations,
    LineErrors,
    VideoRecord,
    class_list,
    list_file,
    log,
    option,
    read_json,
    resolve,
    text_lines,
)


def _labels(text: str, names: dict[str, int] | None = None) -> tuple[int, ...] | None:
    """'3' -> (3,); '1,4' -> (1, 4); 'juggling' -> (index of juggling,) when the class names are known."""
    out = []
    for p in text.split(","):
        p = p.strip()
        if p.lstrip("-").isdigit():
            out.append(int(p))
        elif names is not None and p in names:
            out.append(names[p])
        else:
            return None
    return tuple(out)


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    path = list_file(cfg, split)
    names: list[str] | None = None
    if cfg.class_names:
        names = class_list(resolve(cfg, cfg.class_names))
    elif option(cfg, "classes", None):
        names = [str(c) for c in cfg.options["classes"]]
    records: list[VideoRecord] = []
    multi = bool(option(cfg, "multi_label", False))
    index = {n: i for i, n in enumerate(names)} if names is not None else None
    for line_no, text in text_lines(path):
        tokens = text.split()
        if len(tokens) < 2:
            errors(path, line_no, f"expected 'path label', got {text!r}")
            continue
        num_frames = None
        if len(tokens) >= 3 and tokens[-2].isdigit():
            num_frames = int(tokens[-2])
            video = " ".join(tokens[:-2])
        else:
            video = " ".join(tokens[:-1])
        labels = _labels(tokens[-1], index)
        if labels is None or any(c < 0 for c in labels):
            expected = ("a class index, a class name" if names is not None else
                        "a class index (class names need data.class_names or options.classes)")
            errors(path, line_no, f"bad label {tokens[-1]!r} (expected {expected}, or a comma-separated list)")
            continue
        if names is not None and any(c >= len(names) for c in labels):
            where = cfg.class_names or "options.classes"
            errors(path, line_no, f"label {max(labels)} out of range ({len(names)} classes in {where})")
            continue
        multi = multi or len(labels) > 1 or "," in tokens[-1]
        records.append(VideoRecord(str(resolve(cfg, video)), labels if len(labels) > 1 else labels[0], video,
                                   f"{path}:{line_no}", num_frames))
    if multi:
        for r in records:
            if isinstance(r.label, int):
                r.label = (r.label,)
    notes: list[str] = []
    if names is None:
        names = _inferred_names(cfg, split, path, records, notes)
    _attach_annotations(cfg, path, records)
    return Annotations(records, names, multi_label=multi,
                       frame_template=option(cfg, "frame_template", "{:05d}.jpg"),
                       frame_start=option(cfg, "frame_start", 1), notes=notes)


def _max_label(records: list[VideoRecord]) -> tuple[int, str]:
    """(largest label, the line that has it); (-1, '') for no records."""
    best, where = -1, ""
    for r in records:
        top = max(r.label) if isinstance(r.label, tuple) else r.label
        if top > best:
            best, where = top, r.source
    return best, where


def _inferred_names(cfg: DataConfig, split: str, path, records: list[VideoRecord], notes: list[str]) -> list[str]:
    """No class names given: "0".."K-1", K = the largest label of the *training* list + 1 (every split of a
    dataset has the same classes), said in `notes` with where K came from and how many classes have no video."""
    top, where = _max_label(records)
    source = path
    if split != "train" and cfg.train_list:
        try:
            train = load(cfg, "train", LineErrors("skip"))
        except DataError:
            train = None  # the training list is unreadable: this split's own labels are all there is
        if train is not None and train.records:
            top, where = _max_label(train.records)
            source = list_file(cfg, "train")
            for r in records:
                labels = r.label if isinstance(r.label, tuple) else (r.label,)
                if max(labels) > top:
                    raise DataError(f"{r.source}: label {max(labels)} is not a class of the training list {source} "
                                    f"(its largest label is {top}; give data.class_names)")
    if top < 0:  # no labelled line to count classes from (an empty or unlabelled list)
        raise DataError(f"{source}: no labelled line to infer the classes from; give data.class_names")
    k = top + 1
    used = {c for r in records for c in (r.label if isinstance(r.label, tuple) else (r.label,))}
    empty = k - len(used)
    notes.append(f"no data.class_names: inferred {k} classes from the largest label {top} ({where})"
                 + (f"; {empty} of them have no video in {path.name}" if empty > 0 else ""))
    if empty > 0:
        log.warning("%s", notes[-1])
    return [str(i) for i in range(k)]


def _attach_annotations(cfg: DataConfig, list_path, records: list[VideoRecord]) -> None:
    given = option(cfg, "annotations", None)
    ann_path = resolve(cfg, given) if given else list_path.parent / "annotations.json"
    if not ann_path.is_file():
        if given:
            raise DataError(f"annotation file not found: {ann_path} (data.options.annotations)")
        return
    data = read_json(ann_path)
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise DataError(f"{ann_path}: expected a JSON object with a 'videos' mapping")
    for r in records:
        entry = videos.get(r.video_id)
        if entry is None:
            continue
        try:
            r.action_frames = tuple((int(s), int(e)) for s, e in entry.get("action_frames", []))
            r.distractor_frames = tuple((int(s), int(e)) for s, e in entry.get("distractor_frames", []))
            boxes = entry.get("boxes")
            if boxes is not None:
                r.boxes = np.array([b if b is not None else [np.nan] * 4 for b in boxes], dtype=np.float32)
                if r.boxes.ndim != 2 or r.boxes.shape[1] != 4:
                    raise ValueError("boxes must be [x1, y1, x2, y2] or null per frame")
                _check_boxes(r.boxes, data.get("size"))
        except (TypeError, ValueError, OverflowError) as e:
            raise DataError(f"{ann_path}: bad entry for {r.video_id!r}: {e}") from None


def _check_boxes(boxes: np.ndarray, size: object) -> None:
    """Pixel boxes x1 < x2, y1 < y2, inside the frame (`size` x `size` when the file gives it).

    Boxes in 0-1 units would pass through the crop arithmetic as sub-pixel boxes and come out NaN, so
    the pointing score would silently vanish: they are refused here.  Units are judged on all boxes of the
    video (most of them within [0, 1]), not on the largest coordinate alone: 0-1 boxes that overshoot
    the border a little (x2 = 1.02) are still 0-1 boxes."""
    known = ~np.isnan(boxes).any(axis=1)
    if not known.any():
        return
    b = boxes[known]
    frame = int(np.flatnonzero(known)[0])
    if not np.isfinite(b).all():
        raise ValueError("boxes must be finite numbers")
    bad = np.flatnonzero((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]))
    if bad.size:
        raise ValueError(f"box {b[bad[0]].tolist()} of frame {int(np.flatnonzero(known)[bad[0]])} is empty "
                         f"(expected x1 < x2 and y1 < y2)")
    unit_like = ((b >= -0.5) & (b <= 1.5)).all(axis=1)  # in pixels: a box within 1.5 px of the corner
    if unit_like.sum() * 2 > len(b):  # judged on all boxes: one coordinate past 1 (1.02) does not make pixels
        raise ValueError(f"boxes look like 0-1 units ({int(unit_like.sum())} of {len(b)} boxes have every "
                         f"coordinate between -0.5 and 1.5; largest coordinate {float(b.max()):.3g}, frame {frame}); "
                         f"expected pixels of the video frame")
    limit = float(size) if isinstance(size, (int, float)) and not isinstance(size, bool) else np.inf
    outside = np.flatnonzero((b[:, 2] <= 0) | (b[:, 3] <= 0) | (b[:, 0] >= limit) | (b[:, 1] >= limit))
    if outside.size:  # a box may reach past the border, but not lie wholly outside the frame
        raise ValueError(f"box {b[outside[0]].tolist()} of frame {int(np.flatnonzero(known)[outside[0]])} lies "
                         f"outside the frame" + (f" ({size}x{size} pixels)" if np.isfinite(limit) else ""))
