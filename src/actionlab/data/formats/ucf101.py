"""UCF101 (Soomro et al. 2012) in its official layout.

    UCF-101/<Class>/v_<Class>_gXX_cYY.avi             (options.videos_dir)
    ucfTrainTestlist/classInd.txt                     "1 ApplyEyeMakeup" (1-based)
    ucfTrainTestlist/trainlist0{1,2,3}.txt            "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ucfTrainTestlist/testlist0{1,2,3}.txt             "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
`data.split` picks the split (1-3); val and test both use the test list (the standard protocol).
Test lines carry no label: it comes from the class folder, matched case-insensitively
because the official lists spell one folder `HandstandPushups` and its files `HandStandPushups`.
"""

from __future__ import annotations

from ...config import DataConfig
from ...errors import DataError
from .base import Annotations, LineErrors, VideoRecord, check_split, list_file, option, resolve, text_lines


def class_index(cfg: DataConfig, errors: LineErrors) -> list[str]:
    """classInd.txt (or data.class_names) -> class names in label order."""
    splits_dir = option(cfg, "splits_dir", "ucfTrainTestlist")
    path = resolve(cfg, cfg.class_names or f"{splits_dir}/classInd.txt")
    if not path.is_file():
        raise DataError(f"class list not found: {path}")
    names: dict[int, str] = {}
    for line_no, text in text_lines(path):
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit():
            errors(path, line_no, f"expected 'index ClassName', got {text!r}")
            continue
        names[int(parts[0])] = parts[1]
    return [names[i] for i in sorted(names)]


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    k = check_split(cfg, (1, 2, 3), "ucf101")
    splits_dir = option(cfg, "splits_dir", "ucfTrainTestlist")
    videos_dir = option(cfg, "videos_dir", "UCF-101")
    names = class_index(cfg, errors)
    by_name = {n.lower(): i for i, n in enumerate(names)}
    default = f"{splits_dir}/{'trainlist' if split == 'train' else 'testlist'}0{k}.txt"
    path = list_file(cfg, split, default)
    records = []
    for line_no, text in text_lines(path):
        parts = text.split()
        if len(parts) not in (1, 2):
            errors(path, line_no, f"expected 'Class/video.avi [label]', got {len(parts)} fields")
            continue
        video = parts[0]
        folder = video.split("/")[0].lower() if "/" in video else None
        if len(parts) == 2:
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(names):
                errors(path, line_no, f"bad label {parts[1]!r} (expected 1..{len(names)} from classInd.txt)")
                continue
            label = int(parts[1]) - 1
        elif folder in by_name:
            label = by_name[folder]
        else:
            errors(path, line_no, f"class folder of {video!r} is not in classInd.txt")
            continue
        records.append(VideoRecord(str(resolve(cfg, f"{videos_dir}/{video}")), label, video.rsplit("/", 1)[-1],
                                   f"{path}:{line_no}"))
    return Annotations(records, names)
