"""Something-Something V2 (Goyal et al. 2017) in its official layout.

    labels/labels.json                       {"Approaching something with your camera": "0", ...}
    labels/{train,validation,test}.json      [{"id": "78687", "label": "...", "template": "Holding [something]
                                               next to [something]", "placeholders": [...]}, ...] (test: ids only)
    20bn-something-something-v2/<id>.webm    (options.videos_dir, options.ext)
The class of an entry is its template with the brackets removed.  Horizontal flip is
off by default; with `data.options.flip: true` a flip also swaps every class whose name
turns into another class when 'left' and 'right' are exchanged (e.g. "Pushing something
from left to right").
"""

from __future__ import annotations

import re

from ...config import DataConfig
from .base import UNLABELED, Annotations, LineErrors, VideoRecord, list_file, option, read_json, resolve

LEFT_RIGHT = re.compile(r"\b(left|right)\b")


def left_right_pairs(names: list[str]) -> dict[int, int]:
    """Class swaps under a horizontal flip: names equal after exchanging 'left' and 'right'."""
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for i, name in enumerate(names):
        swapped = LEFT_RIGHT.sub(lambda m: "right" if m.group(1) == "left" else "left", name)
        if swapped != name and swapped in index:
            out[i] = index[swapped]
    return out


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    labels_path = resolve(cfg, cfg.class_names or option(cfg, "labels_file", "labels/labels.json"))
    mapping = read_json(labels_path)
    if not isinstance(mapping, dict):
        errors(labels_path, None, "expected a JSON object {class name: index}")
        mapping = {}
    names_by_index = {}
    for name, idx in mapping.items():
        try:
            names_by_index[int(idx)] = name
        except (TypeError, ValueError):
            errors(labels_path, None, f"bad class index {idx!r} for {name!r}")
    names = [names_by_index[i] for i in sorted(names_by_index)]
    index = {n: i for i, n in enumerate(names)}
    default = {"train": "labels/train.json", "val": "labels/validation.json", "test": "labels/test.json"}[split]
    path = list_file(cfg, split, default)
    entries = read_json(path)
    if not isinstance(entries, list):
        errors(path, None, "expected a JSON list of {id, template, ...} entries")
        entries = []
    folder = option(cfg, "videos_dir", "20bn-something-something-v2")
    ext = option(cfg, "ext", ".webm")
    # train/validation entries carry their class in 'template'; only the official test list has ids alone
    labeled = split != "test" or any(isinstance(e, dict) and "template" in e for e in entries)
    records = []
    for n, entry in enumerate(entries):
        where = f"entry {n}"
        if not isinstance(entry, dict) or "id" not in entry:
            errors(path, None, f"{where}: expected an object with an 'id'")
            continue
        vid = str(entry["id"])
        if labeled and not isinstance(entry.get("template"), str):
            errors(path, None, f"{where} (id {vid}): no 'template' string (the class of a labelled entry)")
            continue
        if "template" in entry:
            name = str(entry["template"]).replace("[", "").replace("]", "")
            if name not in index:
                errors(path, None, f"{where} (id {vid}): template {entry['template']!r} is not a class of "
                                   f"{labels_path.name}")
                continue
            label = index[name]
        else:
            label = UNLABELED
        records.append(VideoRecord(str(resolve(cfg, f"{folder}/{vid}{ext}")), label, vid, f"{path}:{where}"))
    return Annotations(records, names, flip_allowed=False, flip_label_map=left_right_pairs(names))
