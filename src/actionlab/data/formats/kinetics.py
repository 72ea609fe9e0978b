"""Kinetics-400/600/700 (Kay et al. 2017) from the official CSV files.

    train.csv / validate.csv / test.csv   header: label,youtube_id,time_start,time_end,split[,is_cc]
Videos are found through `options.path_template`, by default the layout the official
downloader writes:
    {split_dir}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4
where `{split_dir}` follows the row's `split` column (train / val / test: the validation CSV's rows
say val, so testing on validate.csv reads val/), mapped through `options.split_dirs` (default
{train: train, val: val, test: test}); a CSV without the column uses the split being read.
`{label_}` is the label with spaces replaced by underscores (for trees that rename class folders that way).
Classes: `data.class_names` if given, else the sorted labels of the training CSV (the
official order).  A test CSV without labels gives unlabeled records (label -1).
"""

from __future__ import annotations

from ...config import DataConfig
from ...errors import ConfigError
from .base import (
    UNLABELED,
    Annotations,
    LineErrors,
    VideoRecord,
    class_list,
    csv_rows,
    list_file,
    option,
    resolve,
)

DEFAULT_LISTS = {"train": "train.csv", "val": "validate.csv", "test": "test.csv"}
DEFAULT_TEMPLATE = "{split_dir}/{label}/{youtube_id}_{time_start:06d}_{time_end:06d}.mp4"
REQUIRED = ("youtube_id", "time_start", "time_end")


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    template = option(cfg, "path_template", DEFAULT_TEMPLATE)
    split_dirs = {"train": "train", "val": "val", "test": "test", **option(cfg, "split_dirs", {})}
    if cfg.class_names:
        names = class_list(resolve(cfg, cfg.class_names))
    else:
        train_csv = list_file(cfg, "train", DEFAULT_LISTS["train"])
        names = sorted({row["label"] for _, row in csv_rows(train_csv, REQUIRED + ("label",))
                        if "__bad__" not in row and row["label"]})
    index = {n: i for i, n in enumerate(names)}
    path = list_file(cfg, split, DEFAULT_LISTS[split])
    records = []
    for line_no, row in csv_rows(path, REQUIRED):
        if "__bad__" in row:
            errors(path, line_no, row["__bad__"])
            continue
        try:
            start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        except (ValueError, OverflowError):  # not a number, or nan / inf
            errors(path, line_no, f"bad time_start/time_end {row['time_start']!r}, {row['time_end']!r}")
            continue
        label_name = row.get("label") or ""
        if label_name:
            if label_name not in index:
                errors(path, line_no, f"unknown label {label_name!r} (not among the {len(names)} classes)")
                continue
            label = index[label_name]
        else:
            label = UNLABELED
        try:
            rel = template.format(split_dir=split_dirs.get(row.get("split") or split, split_dirs[split]),
                                  label=label_name, label_=label_name.replace(" ", "_"),
                                  youtube_id=row["youtube_id"], time_start=start, time_end=end)
        except (KeyError, IndexError, ValueError) as e:
            raise ConfigError(f"config key 'data.options.path_template' {template!r}: {e}") from None
        records.append(VideoRecord(str(resolve(cfg, rel)), label, f"{row['youtube_id']}_{start:06d}_{end:06d}",
                                   f"{path}:{line_no}"))
    return Annotations(records, names)
