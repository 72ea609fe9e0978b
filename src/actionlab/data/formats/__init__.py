"""Dataset formats: one module per dataset, each parsing the official layout into `Annotations`.

`data.format` names: generic, ucf101, hmdb51, kinetics (kinetics400/600/700), sthv1, sthv2,
jester, diving48, finegym (gym99, gym288), charades, ntu (ntu60, ntu120).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

from ...config import DataConfig
from ...errors import ConfigError
from .base import UNLABELED, Annotations, LineErrors, VideoRecord, effective_on_error, log

__all__ = ["FORMATS", "UNLABELED", "Annotations", "LineErrors", "VideoRecord", "effective_on_error",
           "load_annotations"]

# name -> (module, extra keyword arguments of its `load`)
FORMATS: dict[str, tuple[str, dict]] = {
    "generic": ("generic", {}),
    "ucf101": ("ucf101", {}),
    "hmdb51": ("hmdb51", {}),
    "kinetics": ("kinetics", {}),
    "kinetics400": ("kinetics", {}),
    "kinetics600": ("kinetics", {}),
    "kinetics700": ("kinetics", {}),
    "sthv1": ("sthv1", {}),
    "sthv2": ("sthv2", {}),
    "jester": ("jester", {}),
    "diving48": ("diving48", {}),
    "finegym": ("finegym", {}),
    "gym99": ("finegym", {"version": 99}),
    "gym288": ("finegym", {"version": 288}),
    "charades": ("charades", {}),
    "ntu": ("ntu", {}),
    "ntu60": ("ntu", {"version": 60}),
    "ntu120": ("ntu", {"version": 120}),
}


def format_loader(name: str) -> Callable[[DataConfig, str, LineErrors], Annotations]:
    if name not in FORMATS:
        raise ConfigError(f"config key 'data.format': unknown format {name!r}; known: {', '.join(FORMATS)}")
    module, extra = FORMATS[name]
    load = importlib.import_module(f"{__name__}.{module}").load
    return functools.partial(load, **extra) if extra else load


def load_annotations(cfg: DataConfig, split: str, on_error: str | None = None) -> Annotations:
    """Parse the annotation of `split` ("train", "val", "test") for `cfg.format`.

    Bad lines raise DataError naming file:line, or with on_error="skip" are logged and
    listed in `Annotations.errors`.  Checked here for every format: labels inside the class list,
    a label on every train/val record, no video listed twice with different labels in a
    single-label format (a conflict: an error); a video listed twice with the same label is a
    duplicate (kept, listed in `Annotations.duplicates`, reported by `data check`).
    """
    errors = LineErrors(on_error or effective_on_error(cfg.on_error, split, "line"))
    ann = format_loader(cfg.format)(cfg, split, errors)
    _check_records(ann, split, errors)
    ann.errors.extend(errors.messages)
    return ann


def _labels_of(record: VideoRecord) -> tuple[int, ...]:
    return record.label if isinstance(record.label, tuple) else (record.label,)


def _check_records(ann: Annotations, split: str, errors: LineErrors) -> None:
    """Class range, missing labels, duplicates and conflicts (see `load_annotations`)."""
    k = len(ann.class_names)
    labeled = sum(1 for r in ann.records if _labels_of(r) != (UNLABELED,))
    bad: set[int] = set()
    for i, r in enumerate(ann.records):
        labels = _labels_of(r)
        if labels == (UNLABELED,):
            if split != "test" or labeled:  # a test list without any label is a legitimate unlabeled test set
                why = f"a {split} list needs one" if split != "test" else "the other entries of this list have one"
                errors(r.source or r.path, None, f"no label for {r.video_id or r.path} ({why})")
                bad.add(i)
        elif any(not 0 <= c < k for c in labels):
            c = next(c for c in labels if not 0 <= c < k)
            errors(r.source or r.path, None, f"label {c} is outside the {k} classes of the class list")
            bad.add(i)
    first: dict[str, int] = {}
    conflicted: set[str] = set()
    for i, r in enumerate(ann.records):
        if i in bad:
            continue
        j = first.setdefault(r.path, i)
        if j == i:
            continue
        other = ann.records[j]
        if set(_labels_of(other)) == set(_labels_of(r)) or ann.multi_label:
            ann.duplicates.append(f"{r.source}: {r.video_id or r.path} listed again (first at {other.source})")
        else:
            here, there = (ann.class_names[_labels_of(x)[0]] for x in (r, other))
            errors(r.source or r.path, None, f"conflict: {r.video_id or r.path} is listed with label {here!r} "
                                             f"here and {there!r} at {other.source}")
            conflicted.add(r.path)
    if ann.duplicates:
        log.warning("%d videos are listed more than once with the same label (first: %s)", len(ann.duplicates),
                    ann.duplicates[0])
    if bad or conflicted:  # on_error=skip (raise stopped above): drop them; a conflict drops every listing
        ann.records = [r for i, r in enumerate(ann.records) if i not in bad and r.path not in conflicted]
