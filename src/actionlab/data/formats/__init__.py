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
from .base import UNLABELED, Annotations, LineErrors, VideoRecord

__all__ = ["FORMATS", "UNLABELED", "Annotations", "LineErrors", "VideoRecord", "load_annotations"]

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
    listed in `Annotations.errors`.
    """
    errors = LineErrors(on_error or cfg.on_error)
    ann = format_loader(cfg.format)(cfg, split, errors)
    ann.errors.extend(errors.messages)
    return ann
