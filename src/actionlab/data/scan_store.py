"""Scans kept on disk: one demux pass per file and identity, shared by epochs, DataLoader workers and runs.

The per-process scan LRU (`video_index.INDEX_CACHE`, 256 files) cannot hold a dataset (UCF101 has 13,320
files, Kinetics-400 ~240,000): without this store every epoch demuxed and parsed every file again, which
measured 31% of an epoch's loading CPU time on 2,000 small Xvid AVIs (benchmarks/loader.md).  Each scan is
written as one small JSON file under `$ACTIONLAB_CACHE_DIR/scans` (default `~/.cache/actionlab/scans`),
named by a hash of the file's identity (`video_index.file_key`: path, size, mtime, content fingerprint), so
a changed or replaced video is scanned again.  Written atomically (a rename), read by every process; a
missing, unreadable or foreign entry is a miss, never an error.  JSON, not pickle: loading runs no code.

What is stored is what the scan learnt without its packets (timestamps, keyframes, the path and its reason,
the frame count, MPEG-4 VOP descriptions); what follows from them (display order, packet-order numbering,
seek keys) is derived again on load, by the same functions the scan uses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..paths import cache_root
from . import mpeg4
from .video_index import VideoIndex, derive

#: bump when the stored layout or the scan's meaning changes: older entries are then ignored
VERSION = 1


def store_dir() -> Path:
    return cache_root() / "scans"


def _entry(key: tuple[Any, ...]) -> Path:
    digest = hashlib.sha1("|".join(str(k) for k in key).encode()).hexdigest()
    return store_dir() / digest[:2] / f"{digest}.json"


def _encode(key: tuple[Any, ...], index: VideoIndex) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": VERSION, "key": list(key), "pts": index.pts, "dts": index.dts, "keys": index.keys,
        "num_frames": index.num_frames, "exact_reason": index.exact_reason, "fps": index.fps, "width": index.width,
        "height": index.height, "codec": index.codec, "container_format": index.container_format,
        "orientation": index.orientation,
    }
    order = index.packet_order
    if order is not None:
        data["mpeg4"] = {
            "facts": dataclasses.asdict(order.facts),
            "packets": [[p.size, int(p.starts_with_vos), int(p.has_vol), [[v.type, int(v.coded), v.offset]
                                                                          for v in p.vops]] for p in order.packets],
        }
    return data


def save(key: tuple[Any, ...], index: VideoIndex) -> None:
    """Write the scan of the file with identity `key` (best effort: a read-only cache folder only costs time)."""
    path = _entry(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(_encode(key, index), separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def load(key: tuple[Any, ...], file: str) -> VideoIndex | None:
    """The stored scan of the file with identity `key`, its derived fields rebuilt; None when there is none."""
    try:
        data = json.loads(_entry(key).read_text(encoding="utf-8"))
        if data.get("version") != VERSION or data.get("key") != list(key):
            return None
        index = VideoIndex(file, data["pts"], data["dts"], data["keys"], int(data["num_frames"]),
                           data["exact_reason"], float(data["fps"]), int(data["width"]), int(data["height"]),
                           data["codec"], data["container_format"], orientation=data["orientation"])
        described, facts = None, None
        if "mpeg4" in data:
            facts = mpeg4.StreamFacts(**data["mpeg4"]["facts"])
            described = [mpeg4.Packet(tuple(mpeg4.Vop(t, bool(c), o) for t, c, o in vops), size, bool(vos), bool(vol))
                         for size, vos, vol, vops in data["mpeg4"]["packets"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    derive(index, described, facts)
    return index
