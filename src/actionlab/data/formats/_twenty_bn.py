"""Shared parser of the 20BN CSV lists (Something-Something V1 and Jester): 'id;label' lines."""

from __future__ import annotations

from ...config import DataConfig
from .base import UNLABELED, Annotations, LineErrors, VideoRecord, class_list, list_file, option, resolve, text_lines


def load_20bn(cfg: DataConfig, split: str, errors: LineErrors, prefix: str, frames_dir: str) -> Annotations:
    names = class_list(resolve(cfg, cfg.class_names or f"{prefix}-labels.csv"))
    index = {n: i for i, n in enumerate(names)}
    suffix = {"train": "train", "val": "validation", "test": "test"}[split]
    path = list_file(cfg, split, f"{prefix}-{suffix}.csv")
    folder = option(cfg, "frames_dir", frames_dir)
    records = []
    for line_no, text in text_lines(path):
        parts = text.split(";")
        if len(parts) > 2 or not parts[0].strip().isdigit():
            errors(path, line_no, f"expected 'id;label', got {text!r}")
            continue
        vid = parts[0].strip()
        if len(parts) == 2:
            if parts[1] not in index:
                errors(path, line_no, f"unknown label {parts[1]!r} (not in {prefix}-labels.csv)")
                continue
            label = index[parts[1]]
        else:
            label = UNLABELED
        records.append(VideoRecord(str(resolve(cfg, f"{folder}/{vid}")), label, vid, f"{path}:{line_no}"))
    return Annotations(records, names, flip_allowed=False,
                       frame_template=option(cfg, "frame_template", "{:05d}.jpg"),
                       frame_start=option(cfg, "frame_start", 1))
