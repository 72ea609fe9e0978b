"""Jester (Materzynska et al. 2019) in its official layout.

    jester-v1-labels.csv                      one class per line
    jester-v1-{train,validation,test}.csv     "34870;Drumming Fingers"
    20bn-jester-v1/<id>/00001.jpg ...         JPEG frames, 1-based (options.frames_dir)
Horizontal flip is off by default (swipe left/right); `data.options.flip: true` turns it on.
"""

from __future__ import annotations

from ...config import DataConfig
from ._twenty_bn import load_20bn
from .base import Annotations, LineErrors


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    return load_20bn(cfg, split, errors, "jester-v1", "20bn-jester-v1")
