"""FineGym (Shao et al. 2020): Gym99 and Gym288 element-level labels.

    gym{99,288}_categories.txt            "Clabel: 0; set: 1; Glabel: 1; (VT) round-off, flic-flac ..."
    gym{99,288}_train_element_v1.1.txt    "<subaction id> <label>"
    gym{99,288}_val_element.txt           e.g. "A0xAXXysHUo_E_002407_002435_A_0003_0005 33"
    subactions/<subaction id>.mp4         the trimmed element clips (options.videos_dir, options.ext)
`options.version`: 99 (default) or 288, or use data.format gym99 / gym288.  Val and test
both use the val list (FineGym has no separate test labels).
"""

from __future__ import annotations

import re

from ...config import DataConfig
from ...errors import ConfigError, DataError
from .base import Annotations, LineErrors, VideoRecord, list_file, option, resolve, text_lines

CATEGORY = re.compile(r"^Clabel:\s*(\d+);\s*set:\s*(\d+);\s*Glabel:\s*(\d+);\s*(.*)$")


def categories(path, errors: LineErrors) -> list[str]:
    if not path.is_file():
        raise DataError(f"class list not found: {path}")
    names: dict[int, str] = {}
    for line_no, text in text_lines(path):
        m = CATEGORY.match(text)
        if not m:
            errors(path, line_no, f"expected 'Clabel: N; set: N; Glabel: N; name', got {text!r}")
            continue
        names[int(m.group(1))] = m.group(4).strip()
    return [names[i] for i in sorted(names)]


def load(cfg: DataConfig, split: str, errors: LineErrors, version: int | None = None) -> Annotations:
    version = int(version or option(cfg, "version", 99))
    if version not in (99, 288):
        raise ConfigError(f"config key 'data.options.version' for finegym must be 99 or 288, got {version}")
    names = categories(resolve(cfg, cfg.class_names or f"gym{version}_categories.txt"), errors)
    default = f"gym{version}_train_element_v1.1.txt" if split == "train" else f"gym{version}_val_element.txt"
    path = list_file(cfg, split, default)
    folder = option(cfg, "videos_dir", "subactions")
    ext = option(cfg, "ext", ".mp4")
    records = []
    for line_no, text in text_lines(path):
        parts = text.split()
        if len(parts) != 2:
            errors(path, line_no, f"expected '<subaction id> <label>', got {len(parts)} fields")
            continue
        if not parts[1].isdigit() or int(parts[1]) >= len(names):
            errors(path, line_no, f"bad label {parts[1]!r} (expected 0..{len(names) - 1})")
            continue
        records.append(VideoRecord(str(resolve(cfg, f"{folder}/{parts[0]}{ext}")), int(parts[1]), parts[0],
                                   f"{path}:{line_no}"))
    return Annotations(records, names)
