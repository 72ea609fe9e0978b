"""HMDB51 (Kuehne et al. 2011) in its official layout.

    hmdb51_org/<class>/<video>.avi                          (options.videos_dir)
    testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt "<video>.avi 1"   (options.splits_dir)
In a split file 1 = training, 2 = testing, 0 = unused.  Classes are the sorted class
names of the split files; val and test both use the testing videos.  The split files
are the annotation, so `data.*_list` are not used.
"""

from __future__ import annotations

from ...config import DataConfig
from ...errors import DataError
from .base import Annotations, LineErrors, VideoRecord, check_split, option, reject_lists, resolve, text_lines


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    reject_lists(cfg, "hmdb51", "its splits come from options.splits_dir and data.split")
    k = check_split(cfg, (1, 2, 3), "hmdb51")
    splits_dir = resolve(cfg, option(cfg, "splits_dir", "testTrainMulti_7030_splits"))
    videos_dir = option(cfg, "videos_dir", "hmdb51_org")
    suffix = f"_test_split{k}.txt"
    if not splits_dir.is_dir():
        raise DataError(f"split directory not found: {splits_dir} (data.options.splits_dir)")
    files = sorted(p for p in splits_dir.iterdir() if p.name.endswith(suffix))
    if not files:
        raise DataError(f"no '*{suffix}' split files in {splits_dir}")
    names = [p.name[: -len(suffix)] for p in files]
    wanted = "1" if split == "train" else "2"
    records = []
    for label, (name, path) in enumerate(zip(names, files)):
        for line_no, text in text_lines(path):
            parts = text.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                errors(path, line_no, f"expected '<video>.avi 0|1|2', got {text!r}")
                continue
            if parts[1] == wanted:
                records.append(VideoRecord(str(resolve(cfg, f"{videos_dir}/{name}/{parts[0]}")), label, parts[0],
                                           f"{path}:{line_no}"))
    return Annotations(records, names)
