"""Charades (Sigurdsson et al. 2016): 157-way multi-label with per-action time segments.

    Charades_v1_classes.txt          "c000 Holding some clothes"
    Charades_v1_{train,test}.csv     header id,subject,scene,quality,relevance,verified,script,objects,
                                     descriptions,actions,length; actions = "c092 11.90 21.20;c147 0.00 12.60"
    Charades_v1_480/<id>.mp4         (options.videos_dir, options.ext)
Labels become a multi-hot target; the (class, start s, end s) segments are kept on each
record (`time_segments`) and give the items an `action_mask` (the sampled frame lies in some
annotated action) for temporal-fidelity evaluation.  Val and test both use the test CSV.
"""

from __future__ import annotations

from ...config import DataConfig
from ...errors import DataError
from .base import Annotations, LineErrors, VideoRecord, csv_rows, list_file, option, resolve, text_lines


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    classes_path = resolve(cfg, cfg.class_names or "Charades_v1_classes.txt")
    if not classes_path.is_file():
        raise DataError(f"class list not found: {classes_path}")
    codes, names = [], []
    for line_no, text in text_lines(classes_path):
        code, _, name = text.partition(" ")
        if not (code.startswith("c") and code[1:].isdigit()):
            errors(classes_path, line_no, f"expected 'cNNN name', got {text!r}")
            continue
        codes.append(code)
        names.append(name.strip())
    index = {c: i for i, c in enumerate(codes)}
    path = list_file(cfg, split, f"Charades_v1_{'train' if split == 'train' else 'test'}.csv")
    folder = option(cfg, "videos_dir", "Charades_v1_480")
    ext = option(cfg, "ext", ".mp4")
    records = []
    for line_no, row in csv_rows(path, ("id", "actions")):
        if "__bad__" in row:
            errors(path, line_no, row["__bad__"])
            continue
        segments, bad = [], None
        for item in filter(None, (s.strip() for s in row["actions"].split(";"))):
            parts = item.split()
            try:
                if len(parts) != 3 or parts[0] not in index:
                    raise ValueError
                start, end = float(parts[1]), float(parts[2])
                if not 0 <= start <= end < float("inf"):  # also refuses nan
                    raise ValueError
                segments.append((index[parts[0]], start, end))
            except ValueError:
                bad = item
                break
        if bad is not None:
            errors(path, line_no, f"bad action {bad!r} (expected 'cNNN start end', 0 <= start <= end, with a class of "
                                  f"{classes_path.name})")
            continue
        labels = tuple(sorted({c for c, _, _ in segments}))
        vid = row["id"]
        records.append(VideoRecord(str(resolve(cfg, f"{folder}/{vid}{ext}")), labels, vid, f"{path}:{line_no}",
                                   time_segments=tuple(segments)))
    return Annotations(records, names, multi_label=True)
