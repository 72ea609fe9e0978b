"""The per-file packet index behind the PyAV reader: one demux pass, the choice of decode path, an LRU.

Frame i is the i-th frame a full sequential decode yields.  Header frame counts are
hints (AVI headers count dropped frames), never a reason to refuse a file.

`scan` demuxes every packet once without decoding and records its timestamps and
keyframe flag, and picks the read path (`VideoIndex.read_path`):

- packet order: MPEG-4 Part 2 (DivX, Xvid, FFmpeg's mpeg4), whatever the container.  The
  scan also parses each packet's VOP headers and `mpeg4.number_frames` numbers the frames
  by replaying the decoder, packed B-frames and N-VOP placeholders included; timestamps are
  not used (in AVI they are the demuxer's guesses, and with one packed B-frame per anchor
  they increase and still name frame i + 1).
- keyframe runs: "frame i = the packet with the i-th smallest presentation timestamp",
  unless `exact_reason` finds a reason not to trust it:
  - a packet has no timestamp or two packets share one (MPEG-PS, raw streams);
  - packets are marked discard (edit lists: which frames the decoder drops is its business);
  - an AVI stream of a codec that may reorder frames (H.264, MPEG-2; `NO_REORDER_CODECS`
    lists the ones that cannot), or whose timestamps are not increasing.
- sequential, for those: decode from the start (frame count from one full decode, cached).

Open GOPs stay on the fast path: a run starts at the keyframe before a leading
picture (see `PyAVReader._key_for`).  The reader also checks each run as it decodes
and redoes the read sequentially (and keeps the file on that path) when one fails.

Scans are kept per process in a bounded LRU keyed by the file's identity (path, size, mtime
and a content fingerprint, `file_key`): an epoch over
the same files does not demux them again.  Packets of small files stay cached too, up to
a byte budget; beyond it only the index stays and runs are read after a container seek.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..paths import cache_root
from . import mpeg4
from .open_errors import ffmpeg_reason

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
    orientation: str | None = None  # what the display matrix makes ffmpeg apply (readers._ORIENT), once known
    display_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # frame i -> packet position
    display_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # frame i -> its pts
    packet_order: mpeg4.PacketOrder | None = None  # MPEG-4 Part 2: frames numbered by packet order (`mpeg4`)
    seek_by: str | None = None  # "dts" or "pts": the timestamp that identifies a packet after a seek (None: no seek)
    pos_of_seek_key: dict[int, int] = field(default_factory=dict)

    @property
    def read_path(self) -> str:
        """'keyframe runs' (by timestamps), 'packet order' (MPEG-4 Part 2) or 'sequential'."""
        if self.exact_reason is not None:
            return "sequential"
        return "packet order" if self.packet_order is not None else "keyframe runs"


#: bytes read at the start, the middle and the end of a file for its content fingerprint
FINGERPRINT_BLOCK = 16 * 1024
_FINGERPRINTS: dict[tuple[int, int, int, int, int], str] = {}
_FINGERPRINTS_KEPT = 1 << 20


def fingerprint(path: str, size: int) -> str:
    """A content fingerprint: a hash of the size and of 16 KiB at the start, the middle and the end.

    The start holds the container's headers and the end (AVI idx1, MP4 moov when written last) an index
    of every packet's size and offset, so another encode of the same size differs there; the middle block
    catches an in-place edit of the payload there.  An edit that keeps size and mtime and touches none of
    the three blocks is not seen.  Three reads per file: cheap next to one decode.
    """
    h = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        if size <= 3 * FINGERPRINT_BLOCK:
            h.update(f.read())
        else:
            for at in (0, size // 2 - FINGERPRINT_BLOCK // 2, size - FINGERPRINT_BLOCK):
                f.seek(at)
                h.update(f.read(FINGERPRINT_BLOCK))
    return h.hexdigest()


def file_key(path: str) -> tuple[str, int, int, str]:
    """A file's identity: (absolute path, size, mtime, content fingerprint).

    Path, size and mtime alone miss a file replaced by another of the same size whose old mtime was restored
    (`cp -p`, `rsync -t`, backup restores).  The fingerprint is computed once per process and inode state:
    (device, inode, size, mtime, ctime) - ctime changes with every write and cannot be set back - so a
    repeated open costs one stat.  Folders (frame folders) carry no fingerprint.
    """
    st = os.stat(path)
    memo = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    found = _FINGERPRINTS.get(memo)
    if found is None:
        found = "folder" if stat.S_ISDIR(st.st_mode) else fingerprint(path, st.st_size)
        if len(_FINGERPRINTS) >= _FINGERPRINTS_KEPT:
            _FINGERPRINTS.clear()
        _FINGERPRINTS[memo] = found
    return os.path.abspath(path), st.st_size, st.st_mtime_ns, found


#: codecs whose decoders never reorder frames (intra-only, or I/P only): in AVI, which stores no presentation
#: times, only these keep packet order = frame order.  MPEG-4 Part 2 is numbered from its VOPs (`mpeg4`).
NO_REORDER_CODECS = {
    "mjpeg", "mjpegb", "ljpeg", "jpegls", "msmpeg4v1", "msmpeg4v2", "msmpeg4", "msmpeg4v3", "wmv1", "wmv2",
    "h263", "h263i", "h263p", "flv", "flv1", "cinepak", "rawvideo", "huffyuv", "ffvhuff", "ffv1", "png",
    "dvvideo", "indeo2", "indeo3", "indeo4", "indeo5", "msvideo1", "msrle", "qtrle", "tscc", "zmbv", "utvideo",
    "magicyuv", "cljr", "svq1", "vp6", "vp6f", "vp6a", "mpeg1video_intra", "dnxhd", "prores", "v210", "rpza",
}


def exact_reason(container_format: str, pts: list[int | None], discard: list[bool], codec: str = "") -> str | None:
    """Why "frame i = i-th smallest packet pts" may be wrong for this file, or None (see the module docstring)."""
    if not pts:
        return None
    if "avi" in container_format.split(",") and codec and codec not in NO_REORDER_CODECS:
        # AVI timestamps are the demuxer's guesses: with B-frames (H.264, MPEG-2, packed MPEG-4) they can
        # increase and still name the wrong frame, so only codecs that never reorder are numbered by them
        return f"AVI with a {codec} stream (AVI stores no presentation times, {codec} may reorder frames)"
    if any(p is None for p in pts):
        return "packets without timestamps"
    if len(set(pts)) != len(pts):
        return "packets sharing a timestamp"
    if any(discard):
        return "discarded packets (edit list)"
    if "avi" in container_format.split(",") and any(b <= a for a, b in zip(pts, pts[1:])):  # type: ignore[operator]  # no None: checked above
        return "AVI with reordered (B-frame) timestamps"
    return None


def scan(container: Any, stream: Any, path: str, keep_packets: bool) -> VideoIndex:
    """Demux every packet of `stream` once (no decoding); MPEG-4 Part 2 packets are also parsed for their VOPs
    (after the demux, in one pass: `mpeg4.describe_packets`)."""
    import av

    pts: list[int | None] = []
    dts: list[int | None] = []
    keys: list[int] = []
    discard: list[bool] = []
    packets: list[Any] = []
    cc = stream.codec_context
    facts = mpeg4.StreamFacts() if cc.name == "mpeg4" else None
    payloads: list[bytes] = []
    if facts is not None and cc.extradata:
        facts.vol_in_extradata = mpeg4.parse_headers(bytes(cc.extradata), facts)
    size = 0
    index = stream.index
    try:
        for pkt in container.demux(stream):
            n = pkt.size
            if n == 0 or pkt.stream_index != index:
                continue  # end-of-stream markers; AVI drop chunks carry no frame; other streams
            if pkt.is_keyframe:
                keys.append(len(pts))
            pts.append(pkt.pts)
            dts.append(pkt.dts)
            discard.append(bool(pkt.is_discard))
            size += n
            if facts is not None:
                payloads.append(bytes(pkt))
            if keep_packets:
                packets.append(pkt)
    except av.error.FFmpegError as e:
        raise DataError(f"{path} is truncated or corrupt (after {len(pts)} packets: {ffmpeg_reason(e)})") from None
    check_complete(container, stream, path, pts)
    fmt = container.format.name
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    found = VideoIndex(path, pts, dts, keys, len(pts), exact_reason(fmt, pts, discard, cc.name),
                       float(rate) if rate else 0.0, int(cc.width), int(cc.height), cc.name, fmt,
                       packets if keep_packets else None, size if keep_packets else 0)
    derive(found, mpeg4.describe_packets(payloads, facts) if facts is not None else None, facts, any(discard))
    return found


def derive(index: VideoIndex, described: list[mpeg4.Packet] | None, facts: mpeg4.StreamFacts | None,
           discarded: bool = False) -> None:
    """What follows from a scan: packet-order numbering (MPEG-4), display order, seek keys (also on a reload)."""
    if facts is not None and described is not None:
        _number_by_packets(index, described, facts, discarded)
    if index.read_path == "keyframe runs" and index.pts:
        display_pts = np.asarray(index.pts, dtype=np.int64)
        order = np.argsort(display_pts, kind="stable")
        index.display_pos = order.astype(np.int64)
        index.display_pts = display_pts[order]
    _seek_keys(index)


def _number_by_packets(index: VideoIndex, described: list[mpeg4.Packet], facts: mpeg4.StreamFacts,
                       discarded: bool) -> None:
    """MPEG-4 Part 2: frames numbered by packet order when the stream's headers allow it, else sequential."""
    if facts.low_delay is None:
        facts.note("no VOL header")
    elif facts.has_b and facts.low_delay and not facts.vol_control:
        facts.note("B-VOPs in a stream whose VOL leaves low_delay to the decoder")
    if discarded:
        facts.note("discarded packets (edit list)")
    if facts.unsupported is None:
        index.packet_order = mpeg4.number_frames(described, facts)
        index.num_frames = index.packet_order.num_frames
        index.exact_reason = None
    elif index.exact_reason is None:
        index.exact_reason = f"MPEG-4 stream not numbered by packet order: {facts.unsupported}"


def _seek_keys(index: VideoIndex) -> None:
    """Per packet the timestamp that identifies it after a container seek: pts where they are unique (as the
    container stores them), in AVI the dts (the chunk number; its pts are guesses that depend on the packets
    before); none (no seeking: runs are read from the start) when neither is unique, and in MPEG-PS/TS, whose
    demuxer re-assembles packets differently after a seek (a run read there missed its frame)."""
    formats = set(index.container_format.split(","))
    if formats & {"mpeg", "mpegts", "mpegvideo"}:
        return
    order = (("dts", index.dts),) if "avi" in formats else (("pts", index.pts),)
    for name, stamps in order:
        known = [t for t in stamps if t is not None]
        if known and len(known) == len(stamps) and len(set(known)) == len(known):
            index.seek_by = name
            index.pos_of_seek_key = {int(t): i for i, t in enumerate(known)}
            return


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
        raise DataError(f"{path}: decoding failed after {i + 1} frames ({ffmpeg_reason(e)})") from None


class IndexCache:
    """Bounded LRU of scans keyed by the file's identity (`file_key`); thread-safe."""

    def __init__(self, entries: int = CACHE_ENTRIES, packet_bytes: int = CACHE_PACKET_BYTES, disk: bool = False):
        self.entries = entries
        self.packet_bytes = packet_bytes
        self.disk = disk  # backed by the on-disk scan store (`scan_store`): scans outlive the process
        self._data: OrderedDict[tuple[str, int, int, str], VideoIndex] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int, int, str]) -> VideoIndex | None:
        with self._lock:
            index = self._data.get(key)
            if index is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return index

    def put(self, key: tuple[str, int, int, str], index: VideoIndex) -> None:
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


#: the per-process cache the readers use (each DataLoader worker process has its own), backed by the on-disk
#: scan store that all of them share
INDEX_CACHE = IndexCache(disk=True)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=INDEX_CACHE._after_fork)


# --------------------------------------------------------------------------- decoded frame counts on disk


def _count_file() -> Path:
    return cache_root() / "decoded_frame_counts.json"


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
    """The decoded frame count of an exact-path file, if counted before (keyed by the file's identity)."""
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
