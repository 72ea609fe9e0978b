"""What every dataset format module returns, and the helpers they share.

A format module exposes `load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations`
where split is "train", "val" or "test".  Paths in the config are relative to
`data.root` unless absolute; `data.train_list`/`val_list`/`test_list` override
the official split files where a format has them.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...config import DataConfig
from ...errors import ConfigError, DataError

log = logging.getLogger("actionlab.data")

SPLITS = ("train", "val", "test")
UNLABELED = -1  # test sets that ship without labels (Kinetics/SSv2/Jester test)


@dataclass
class VideoRecord:
    """One video (file or frame folder) of a split."""

    path: str  # absolute path of the video file or frame folder
    label: int | tuple[int, ...]  # class index, a tuple of them (multi-label) or UNLABELED
    video_id: str = ""
    source: str = ""  # "annotation_file:line" for error messages
    num_frames: int | None = None  # known from the annotation (frame folders), else read from the video
    time_segments: tuple[tuple[int, float, float], ...] = ()  # (class, start s, end s): Charades
    action_frames: tuple[tuple[int, int], ...] = ()  # [start, end) frame ranges of the action (synthetic)
    distractor_frames: tuple[tuple[int, int], ...] = ()  # [start, end) frame ranges of distractors (synthetic)
    boxes: np.ndarray | None = None  # float32 [num_frames, 4] x1,y1,x2,y2 per frame (NaN unknown)


@dataclass
class Annotations:
    """A parsed split: records plus what the dataset needs to know about the format."""

    records: list[VideoRecord]
    class_names: list[str]
    multi_label: bool = False
    flip_allowed: bool = True  # False for SSv1/SSv2/Jester (left/right matters)
    flip_label_map: dict[int, int] = field(default_factory=dict)  # class swaps under a horizontal flip
    frame_template: str = "{:05d}.jpg"
    frame_start: int = 1
    errors: list[str] = field(default_factory=list)  # skipped annotation lines (on_error=skip)
    duplicates: list[str] = field(default_factory=list)  # a video listed again with the same label(s)
    notes: list[str] = field(default_factory=list)  # what a user should know, e.g. class names inferred


def effective_on_error(on_error: str, split: str, what: str = "video") -> str:
    """data.on_error "auto" for unreadable videos: skip (counted, logged) in training and its validation,
    raise for the test split; for bad annotation lines (what="line"): raise - they are found before a run
    starts, so failing fast costs nothing, and a half-parsed list would silently shrink the data."""
    if on_error == "auto":
        return "raise" if split == "test" or what == "line" else "skip"
    return on_error


class LineErrors:
    """A bad annotation line: raise DataError naming file:line, or (on_error=skip) log, count and go on."""

    def __init__(self, on_error: str = "raise"):
        self.on_error = on_error
        self.messages: list[str] = []

    def __call__(self, file: str | os.PathLike, line: int | None, message: str) -> None:
        where = f"{file}:{line}" if line is not None else str(file)
        text = f"{where}: {message}"
        if self.on_error != "skip":
            raise DataError(text)
        self.messages.append(text)
        log.warning("skipped annotation: %s", text)


# --------------------------------------------------------------------------- paths and options


def root_of(cfg: DataConfig) -> Path:
    return Path(cfg.root).expanduser() if cfg.root else Path(".")


def resolve(cfg: DataConfig, path: str | os.PathLike) -> Path:
    """A path from the config or an annotation: absolute as is, else relative to data.root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else root_of(cfg) / p


def list_file(cfg: DataConfig, split: str, default: str | None = None) -> Path:
    """The annotation file of a split: data.{split}_list, else the format's official default."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: expected train, val or test")
    given = getattr(cfg, f"{split}_list")
    if not given and default is None:
        raise ConfigError(f"config key 'data.{split}_list' is empty: name the annotation file of the {split} split")
    path = Path(given).expanduser() if given else None
    if path is not None and (path.is_absolute() or path.exists()):
        out = path
    else:
        out = resolve(cfg, given or default)  # type: ignore[arg-type]  # a name here (the path case is above)
    if not out.is_file():
        key = f"data.{split}_list" if given else f"the {split} split file"
        shown = out if out.is_absolute() else f"{out} (= {out.resolve()})"  # relative to the working directory
        raise DataError(f"annotation file not found: {shown} ({key})")
    return out


def option(cfg: DataConfig, key: str, default: Any) -> Any:
    value = cfg.options.get(key, default)
    if default is not None and value is not None and not isinstance(value, type(default)):
        if isinstance(default, float) and isinstance(value, int):
            return float(value)
        raise ConfigError(f"config key 'data.options.{key}' expects {type(default).__name__}, got {value!r}")
    return value


def reject_lists(cfg: DataConfig, fmt: str, why: str) -> None:
    for split in SPLITS:
        if getattr(cfg, f"{split}_list"):
            raise ConfigError(f"config key 'data.{split}_list' is not used by data.format '{fmt}' ({why})")


def check_split(cfg: DataConfig, valid: tuple[int, ...], fmt: str) -> int:
    if cfg.split not in valid:
        raise ConfigError(f"config key 'data.split' for {fmt} must be one of {list(valid)}, got {cfg.split}")
    return cfg.split


# --------------------------------------------------------------------------- file readers


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, stripped text) of the non-empty, non-comment lines."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            for i, line in enumerate(f, 1):
                text = line.strip()
                if text and not text.startswith("#"):
                    yield i, text
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except OSError as e:
        raise DataError(f"cannot read annotation file {path}: {e.strerror}") from None


def not_utf8(path: Path) -> DataError:
    """'FILE:LINE: not UTF-8 ...' naming the first byte that does not decode (a Latin-1 list, say).

    Python decodes a text file in chunks, so the error's own offset is not the file's: the file is read
    again as bytes to find the line."""
    data = Path(path).read_bytes()
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        data[start:].decode("utf-8")
        return DataError(f"{path}: not a UTF-8 text file")
    except UnicodeDecodeError as e:
        at = start + e.start
    line = data.count(b"\n", 0, at) + 1
    column = at - (data.rfind(b"\n", 0, at) + 1) + 1
    return DataError(f"{path}:{line}: not UTF-8 text (byte 0x{data[at]:02x} at column {column}; "
                     "save the file as UTF-8)")


def read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except OSError as e:
        raise DataError(f"cannot read annotation file {path}: {e.strerror}") from None


def csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row dict) of a CSV with a header holding at least `required`."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            missing = [c for c in required if c not in fields]
            if missing:
                raise DataError(f"{path}:1: CSV header lacks column(s) {', '.join(missing)} (has {', '.join(fields)})")
            for row in reader:
                if None in row:  # more fields than the header
                    yield reader.line_num, {"__bad__": f"{len(fields) + len(row[None])} fields, header has "
                                                      f"{len(fields)}"}
                    continue
                if any(v is None for v in row.values()):
                    yield reader.line_num, {"__bad__": f"fewer fields than the header's {len(fields)}"}
                    continue
                yield reader.line_num, row
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except OSError as e:
        raise DataError(f"cannot read annotation file {path}: {e.strerror}") from None


def class_list(path: Path) -> list[str]:
    """One class name per line."""
    return [text for _, text in text_lines(path)]


def parse_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
