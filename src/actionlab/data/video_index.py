"""The per-file packet index behind the PyAV reader: one demux pass, the choice of decode path, an LRU.

Frame i is the i-th frame a full sequential decode yields.  Header frame counts are
hints (AVI headers count dropped frames), never a reason to refuse a file.

`scan` demuxes every packet once without decoding and records its timestamps and
keyframe flag.  `exact_reason` then decides whether "frame i = the packet with the
i-th smallest presentation timestamp" can be trusted, so that frames can be read
by decoding runs that start at keyframes.  It cannot be trusted, and the reader
decodes sequentially from the start instead (frame count taken from one full decode,
cached), when

- a packet has no timestamp or two packets share one (MPEG-PS, raw streams);
- packets are marked discard (edit lists: which frames the decoder drops is its business);
- an AVI stream's timestamps are not increasing: AVI stores decode order only, so its
  timestamps are made up, and with (packed) B-frames they do not name the frame a packet
  shows (Megamind.avi: packets 1 2 4 3 5 7 6, frames come out as 1 2 3 5 4 6 8 7).

Open GOPs stay on the fast path: a run starts at the keyframe before a leading
picture (see `PyAVReader._key_for`).  The reader also checks each fast-path run as it
decodes (output timestamps increase, every wanted frame appears) and moves the file to
the exact path when one does not.

Scans are kept per process in a bounded LRU keyed by (path, size, mtime): an epoch over
the same files does not demux them again.  Packets of small files stay cached too, up to
a byte budget; beyond it only the index stays and runs are read after a container seek.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

#: scans kept per process (each DataLoader worker has its own) and the packet bytes they may hold together:
#: at most ~128 MB of packets plus ~0.1 MB of index per 10 s clip, per worker.  Packets matter: a cache hit
#: with packets costs 0.90-0.96x of a first read on 10 s H.264 clips, an index-only hit (container seek) 1.07x
CACHE_ENTRIES = 256
CACHE_PACKET_BYTES = 128 * 1024 * 1024


@dataclass
class VideoIndex:
    """What one demux pass (and, on the exact path, one counting decode) learns about a file."""

    path: str
    pts: list[int | None]
    dts: list[int | None]
    keys: list[int]  # decode positions of keyframe packets
    num_frames: int
    exact_reason: str | None  # why keyframe runs are not exact (None: they are)
    fps: float
    width: int
    height: int
    codec: str
    container_format: str
    packets: list[Any] | None = None
    packet_bytes: int = 0
    rotation: int | None = None  # display rotation in degrees counter-clockwise, once a frame was decoded
    display_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # frame i -> packet position
    display_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # frame i -> its pts
    pos_of_pts: dict[int, int] = field(default_factory=dict)


def file_key(path: str) -> tuple[str, int, int]:
    st = os.stat(path)
    return os.path.abspath(path), st.st_size, st.st_mtime_ns


def exact_reason(container_format: str, pts: list[int | None], discard: list[bool]) -> str | None:
    """Why "frame i = i-th smallest packet pts" may be wrong for this file, or None (see the module docstring)."""
    if not pts:
        return None
    if any(p is None for p in pts):
        return "packets without timestamps"
    if len(set(pts)) != len(pts):
        return "packets sharing a timestamp"
    if any(discard):
        return "discarded packets (edit list)"
    if "avi" in container_format.split(",") and any(b <= a for a, b in zip(pts, pts[1:])):  # type: ignore[operator]
        return "AVI with reordered (B-frame) timestamps"
    return None


def scan(container: Any, stream: Any, path: str, keep_packets: bool) -> VideoIndex:
    """Demux every packet of `stream` once (no decoding)."""
    import av

    pts: list[int | None] = []
    dts: list[int | None] = []
    keys: list[int] = []
    discard: list[bool] = []
    packets: list[Any] = []
    size = 0
    try:
        for pkt in container.demux(stream):
            if pkt.stream is None or pkt.stream.index != stream.index or pkt.size == 0:
                continue  # other streams; end-of-stream markers; AVI drop chunks carry no frame
            if pkt.is_keyframe:
                keys.append(len(pts))
            pts.append(pkt.pts)
            dts.append(pkt.dts)
            discard.append(bool(pkt.is_discard))
            size += pkt.size
            if keep_packets:
                packets.append(pkt)
    except av.error.FFmpegError as e:
        raise DataError(f"{path} is truncated or corrupt (after {len(pts)} packets: {e})") from None
    check_complete(container, stream, path, pts)
    fmt = container.format.name
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    cc = stream.codec_context
    index = VideoIndex(path, pts, dts, keys, len(pts), exact_reason(fmt, pts, discard), float(rate) if rate else 0.0,
                       int(cc.width), int(cc.height), cc.name, fmt, packets if keep_packets else None,
                       size if keep_packets else 0)
    if index.exact_reason is None and pts:
        display_pts = np.asarray(pts, dtype=np.int64)
        order = np.argsort(display_pts, kind="stable")
        index.display_pos = order.astype(np.int64)
        index.display_pts = display_pts[order]
        index.pos_of_pts = {int(p): i for i, p in enumerate(pts)}  # type: ignore[arg-type]
    return index


def check_complete(container: Any, stream: Any, path: str, pts: list[int | None]) -> None:
    """A truncated file demuxes cleanly but ends early: its frames stop well before the header's duration.

    The stream duration (AVI: the header's frame count, dropped frames included) is compared with where
    the last frame ends, so a valid file with drop chunks (tree.avi: 444 listed, 68 stored) passes.
    """
    known = [p for p in pts if p is not None]
    tb = stream.time_base
    if not known or not tb:
        return
    rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
    start = float((stream.start_time or 0) * tb)
    end = float(max(known) * tb) + 1.0 / rate - start
    if "avi" in container.format.name.split(",") and stream.frames:
        duration = stream.frames * float(tb)  # AVI: one tick per frame, the header counts them (drops included)
    elif stream.duration:
        duration = float(stream.duration * tb)
    elif container.duration and len(container.streams) == 1:  # over all streams: only trusted for video-only
        duration = container.duration / 1e6
    else:
        return
    if duration - end > max(3.0 / rate, 0.05 * duration):
        raise DataError(f"{path} is truncated: its header says {duration:.2f} s, the frames end at {end:.2f} s")


def decode_sequential(container: Any, stream: Any, path: str, stop: int | None = None) -> Iterator[tuple[int, Any]]:
    """(i, frame) for the frames of a plain sequential decode, in the order it yields them; the one definition."""
    import av

    i = -1
    try:
        for i, frame in enumerate(container.decode(stream)):
            yield i, frame
            if stop is not None and i >= stop:
                return
    except av.error.FFmpegError as e:
        raise DataError(f"{path}: decoding failed after {i + 1} frames ({e})") from None


class IndexCache:
    """Bounded LRU of scans keyed by (path, size, mtime); thread-safe."""

    def __init__(self, entries: int = CACHE_ENTRIES, packet_bytes: int = CACHE_PACKET_BYTES):
        self.entries = entries
        self.packet_bytes = packet_bytes
        self._data: OrderedDict[tuple[str, int, int], VideoIndex] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int, int]) -> VideoIndex | None:
        with self._lock:
            index = self._data.get(key)
            if index is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return index

    def put(self, key: tuple[str, int, int], index: VideoIndex) -> None:
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old.packet_bytes
            if index.packet_bytes > self.packet_bytes:  # too big to keep: the index alone
                index = replace(index, packets=None, packet_bytes=0)
            self._data[key] = index
            self._bytes += index.packet_bytes
            while len(self._data) > self.entries or self._bytes > self.packet_bytes:
                _, dropped = self._data.popitem(last=False)
                self._bytes -= dropped.packet_bytes

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a forked worker must not inherit a lock another thread held


#: the per-process cache the readers use (each DataLoader worker process has its own)
INDEX_CACHE = IndexCache()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=INDEX_CACHE._after_fork)


# --------------------------------------------------------------------------- decoded frame counts on disk


def _count_file() -> Path:
    base = os.environ.get("ACTIONLAB_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "actionlab")
    return Path(base) / "decoded_frame_counts.json"


def _count_key(path: str) -> str:
    return "|".join(str(x) for x in file_key(path))


def _load_counts() -> dict[str, int]:
    try:
        with open(_count_file(), encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def cached_count(path: str) -> int | None:
    """The decoded frame count of an exact-path file, if counted before (keyed by path, size, mtime)."""
    n = _load_counts().get(_count_key(path))
    return n if isinstance(n, int) else None


def store_count(path: str, n: int) -> None:
    file = _count_file()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        data = _load_counts()
        data[_count_key(path)] = int(n)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, file)
    except OSError:
        pass  # a read-only home: counting again next time is the only cost
