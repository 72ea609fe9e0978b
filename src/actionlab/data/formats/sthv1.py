"""Something-Something V1 (Goyal et al. 2017) in its official layout.

    something-something-v1-labels.csv                  one class per line
    something-something-v1-{train,validation,test}.csv "100218;Something falling like a feather or paper"
    20bn-something-something-v1/<id>/00001.jpg ...     JPEG frames, 1-based (options.frames_dir)
Horizontal flip is off by default (left/right classes); `data.options.flip: true` turns it on.
"""

from __future__ import annotations

from ...config import DataConfig
from ._twenty_bn import load_20bn
from .base import Annotations, LineErrors


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    return load_20bn(cfg, split, errors, "something-something-v1", "20bn-something-something-v1")
