"""Diving48 (Li et al. 2018) in its official layout.

    Diving48_vocab.json                 [[takeoff, somersault, twist, flight], ...] one per class
    Diving48_V2_train.json / _test.json [{"vid_name": "-mmq0PT-u8k_00155", "label": 0,
                                          "start_frame": 0, "end_frame": 184}, ...]
    rgb/<vid_name>.mp4                  (options.videos_dir; the released trimmed clips)
`options.version` "V2" (default, the cleaned labels) or "V1" (Diving48_train.json).  Class
names join the four vocabulary fields with '_'; val and test both use the test list.
"""

from __future__ import annotations

from ...config import DataConfig
from ...errors import ConfigError
from .base import Annotations, LineErrors, VideoRecord, list_file, option, read_json, resolve


def load(cfg: DataConfig, split: str, errors: LineErrors) -> Annotations:
    version = option(cfg, "version", "V2")
    if version not in ("V1", "V2"):
        raise ConfigError(f"config key 'data.options.version' for diving48 must be V1 or V2, got {version!r}")
    tag = "Diving48_V2_" if version == "V2" else "Diving48_"
    vocab_path = resolve(cfg, cfg.class_names or option(cfg, "vocab", "Diving48_vocab.json"))
    vocab = read_json(vocab_path)
    if not isinstance(vocab, list):
        errors(vocab_path, None, "expected a JSON list of [takeoff, somersault, twist, flight]")
        vocab = []
    names = ["_".join(str(p) for p in v) if isinstance(v, list) else str(v) for v in vocab]
    path = list_file(cfg, split, f"{tag}{'train' if split == 'train' else 'test'}.json")
    entries = read_json(path)
    if not isinstance(entries, list):
        errors(path, None, "expected a JSON list of {vid_name, label} entries")
        entries = []
    folder = option(cfg, "videos_dir", "rgb")
    ext = option(cfg, "ext", ".mp4")
    records = []
    for n, entry in enumerate(entries):
        where = f"entry {n}"
        if not isinstance(entry, dict) or "vid_name" not in entry or "label" not in entry:
            errors(path, None, f"{where}: expected an object with 'vid_name' and 'label'")
            continue
        label = entry["label"]
        if not isinstance(label, int) or not 0 <= label < len(names):
            errors(path, None, f"{where} ({entry['vid_name']}): bad label {label!r} (expected 0..{len(names) - 1})")
            continue
        vid = str(entry["vid_name"])
        records.append(VideoRecord(str(resolve(cfg, f"{folder}/{vid}{ext}")), label, vid, f"{path}:{where}"))
    return Annotations(records, names)
