"""Frame-exact video readers: `read(path, indices) -> uint8 [T, H, W, 3]`.

Frame index i always means the i-th frame that a full sequential decode of the
file yields, whatever the container and codec and whether frames are fetched
sparsely or densely.  Header frame counts are hints, never a reason to refuse a file.
Frames come out as ffmpeg shows them: the display matrix (rotation metadata, e.g. phone
videos, and mirroring) is applied as the `ffmpeg` tool's autorotate does - turns of 90, 180
and 270 degrees, horizontal and vertical flips - unless `autorotate=False` (config
`data.autorotate`).

PyAV backend (default, no system packages).  Opening a file demuxes it once
without decoding (`video_index.scan`, a few ms for a 10 s clip; kept per process in an
LRU keyed by the file's identity, so later epochs skip it).  The scan picks one of three
paths; on each, frame i is the i-th frame of a full sequential decode, whatever was read
before in the process:

- keyframe runs (timestamps can be trusted): frame i is the packet with the i-th smallest
  presentation timestamp.  Reading plans *runs*: each starts at a keyframe from which
  the wanted frame decodes correctly (open-GOP leading pictures start one keyframe
  earlier) and feeds packets forward; consecutive wanted frames share a run when that
  is cheaper than restarting.  Packets of frames that are not wanted are decoded with
  `skip_frame=NONREF` (most B-frames are not decoded at all); reference frames decode
  exactly as in a sequential decode, so the output is bit-identical.  Each run is
  checked as it decodes (output timestamps increase, every wanted frame comes out).
- packet order (MPEG-4 Part 2: DivX, Xvid, FFmpeg's mpeg4, packed or not - the UCF101 and
  HMDB51 format): timestamps are not used at all.  The scan reads each packet's VOP headers
  and `mpeg4` replays the decoder to number every output; runs start at coded I-VOPs, skip
  the B-VOPs no wanted frame needs, and every output's picture type and the run's output
  count are checked against the replay.
- sequential (packets without or with shared timestamps, discarded packets, AVI streams of
  codecs that may reorder frames such as H.264): decode from the start to the last wanted
  frame; the frame count comes from one full decode, cached on disk.

A run that fails its check is redone by a sequential decode (the file then stays on that
path in this process: slower, never different).  See `video_index` and benchmarks/data.md
for which files take which path.

Only kept frames are converted to RGB.  Packets stay in memory for files up to
`max_packet_bytes`; larger files are re-read with a verified container seek.

torchcodec backend (when importable): `VideoDecoder(seek_mode="exact")` only for files on
the keyframe-run path outside MPEG-PS/TS; every other file stays with PyAV (torchcodec
0.13 fails on or mis-reads them: it numbers AVI frames by the guessed timestamps), and so
do rotated files with `autorotate=False` (it always rotates, the same way as PyAV here);
the tests check it returns the same frames as PyAV.

Frame folders (Something-Something V1, Jester: `{video_id}/{frame:05d}.jpg`,
1-based) are read through the same interface when `path` is a directory.
JPEGs are decoded with Pillow when it is importable (libjpeg-turbo, straight to
RGB; TSM and MMAction2 load frames with it too), else with PyAV's MJPEG/PNG
decoder, so no extra dependency is required; with bilinear chroma up-sampling the
two agree within a few grey levels.
"""

from __future__ import annotations

import bisect
import os
import re
import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ..errors import DataError, require
from . import mpeg4, scan_store
from .display import display_matrix, frame_to_rgb, orientation, swaps_sides
from .open_errors import open_failure
from .video_index import (
    INDEX_CACHE,
    IndexCache,
    VideoIndex,
    cached_count,
    decode_sequential,
    file_key,
    scan,
    store_count,
)

BACKENDS = ("auto", "pyav", "torchcodec")
DEFAULT_FRAME_TEMPLATE = "{:05d}.jpg"
#: restarting a run at a later keyframe costs a decoder drain + flush: about this many packets' decode
RESTART_COST_PACKETS = 2
#: decoders that queue packets internally (dav1d): a skip_frame set for one packet does not apply to that packet,
#: so their runs decode every frame (a fresh dav1d decoder dropped a wanted frame under per-packet skipping)
QUEUEING_DECODERS = {"libdav1d", "libaom-av1", "av1"}
#: files up to this size keep their demuxed packets in memory (no second read, no seek)
MAX_PACKET_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class VideoInfo:
    """What `video_info` reports about a video file or frame folder."""

    num_frames: int
    fps: float
    width: int
    height: int
    codec: str
    container: str


class VideoReader(Protocol):
    """An open video: `num_frames`, `fps`, `read(indices)`; use as a context manager."""

    path: str
    num_frames: int
    fps: float

    def read(self, indices: Any) -> torch.Tensor: ...

    def close(self) -> None: ...

    def __enter__(self) -> VideoReader: ...

    def __exit__(self, *exc: Any) -> None: ...


# --------------------------------------------------------------------------- helpers


def _as_indices(indices: Any) -> np.ndarray:
    arr = np.asarray(indices, dtype=np.int64).reshape(-1)
    return arr


def _check_range(path: str, idx: np.ndarray, n: int) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise DataError(f"{path}: frame index {bad} out of range (the video has {n} frames)")


def _wanted(path: str, indices: Any, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(requested indices, their sorted unique values), checked against the frame count."""
    idx = _as_indices(indices)
    if num_frames == 0:
        raise DataError(f"{path} has no decodable frames")
    _check_range(path, idx, num_frames)
    return idx, np.unique(idx)


def _gather(path: str, unique: np.ndarray, frames: list[np.ndarray | None], idx: np.ndarray) -> torch.Tensor:
    """Stack the decoded unique frames and gather them in the requested order (duplicates allowed)."""
    missing = [int(unique[i]) for i, f in enumerate(frames) if f is None]
    if missing:
        raise DataError(f"{path}: frame {missing[0]} could not be decoded (truncated or corrupt video?)")
    decoded = [f for f in frames if f is not None]  # all of them (checked above)
    shapes = {f.shape for f in decoded}
    if len(shapes) > 1:
        raise DataError(f"{path}: frames have different sizes {sorted(shapes)}")
    stacked = torch.from_numpy(np.stack(decoded)) if decoded else torch.empty((0, 0, 0, 3), dtype=torch.uint8)
    pos = np.searchsorted(unique, idx)
    if np.array_equal(pos, np.arange(len(unique))):
        return stacked
    return stacked[torch.from_numpy(pos)]


class _ClosesOnExit:
    """`with reader:` closes it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------- PyAV


@dataclass
class _Run:
    start: int  # decode position of the keyframe packet the run starts at
    end: int  # decode position of the last packet that must be fed
    wanted: dict[int, int]  # pts -> slot in the unique-index list


class _NotExact(Exception):
    """A keyframe run produced what the index did not predict: the file moves to the exact (sequential) path."""


class PyAVReader(_ClosesOnExit):
    """Frame-exact reader on PyAV (see the module docstring for the algorithm).

    threads: decoder threads; 1 (the default) suits DataLoader workers and lets
    the reader skip non-reference frames; more threads use frame threading and
    decode every frame of a run.
    autorotate: apply the display matrix (rotation side data) as ffmpeg does; False keeps the stored
    orientation.
    cache: the scan cache (`video_index.INDEX_CACHE` by default, None for none).
    """

    def __init__(self, path: str | os.PathLike, threads: int = 1, max_packet_bytes: int = MAX_PACKET_BYTES,
                 autorotate: bool = True, cache: IndexCache | None = INDEX_CACHE):
        import av

        self._av = av
        self.path = str(path)
        self.threads = max(1, int(threads))
        self.autorotate = bool(autorotate)
        self._cache = cache
        if not os.path.isfile(self.path):
            raise DataError(f"video file not found: {self.path}")
        self._container = self._open()
        try:
            self._key = file_key(self.path)
            index = cache.get(self._key) if cache is not None else None
            if index is None:
                index = self._stored_or_scanned(self._key[1] <= max_packet_bytes)
                if cache is not None:
                    cache.put(self._key, index)
            self._use(index)
        except BaseException:
            self.close()
            raise

    def _stored_or_scanned(self, keep_packets: bool) -> VideoIndex:
        """The file's scan from the on-disk store (`scan_store`, with the shared cache only), else a new scan.

        Stored are the scans a later epoch, worker or run would pay for beyond the demux its read needs:
        MPEG-4 packet order (the VOP parse and replay), the sequential path (a read needs no packets) and
        files too large to keep their packets (read through container seeks).  A small file on the
        keyframe-run path is scanned again: its scan is the demux, and a read from a stored scan would
        demux it anyway.  A stored scan has no packets: small files demux them again (no parsing)."""
        disk = self._cache is not None and self._cache.disk
        index = scan_store.load(self._key, self.path) if disk else None
        if index is not None:
            if keep_packets and index.read_path != "sequential":
                index.packets, index.packet_bytes = self._demux_all(len(index.pts))
            return index
        index = scan(self._container, self._stream, self.path, keep_packets)
        if index.exact_reason is not None:
            index.num_frames = self._count_decoded()
        if disk and (index.read_path != "keyframe runs" or not keep_packets):
            scan_store.save(self._key, index)
        return index

    def _demux_all(self, expected: int) -> tuple[list[Any] | None, int]:
        """Every packet of the stream (what the scan kept), or None when the count is not the stored one."""
        try:
            packets = [p for p in self._container.demux(self._stream) if p.size]
        except self._av.error.FFmpegError:
            packets = []
        if len(packets) != expected:
            return None, 0
        return packets, sum(p.size for p in packets)

    def _use(self, index: VideoIndex) -> None:
        self._index = index
        self._packets = index.packets
        self.num_frames = index.num_frames
        self.fps = index.fps
        self.codec = index.codec
        self.container_format = index.container_format
        self.exact_reason = index.exact_reason
        self.read_path = index.read_path

    @property
    def orientation(self) -> str:
        """What the first frame's display matrix makes ffmpeg apply ('' none, 'hflip', 'cclock', ...: `_ORIENT`)."""
        if self._index.orientation is None:
            self._reopen()
            frame = next((f for _, f in decode_sequential(self._container, self._stream, self.path, 0)), None)
            self._index.orientation = orientation(display_matrix(frame)) if frame is not None else ""
        return self._index.orientation

    @property
    def width(self) -> int:
        """Width of the frames `read` returns (after autorotate)."""
        turned = self.autorotate and swaps_sides(self.orientation)
        return self._index.height if turned else self._index.width

    @property
    def height(self) -> int:
        turned = self.autorotate and swaps_sides(self.orientation)
        return self._index.width if turned else self._index.height

    # -- opening and counting
    def _open(self) -> Any:
        av = self._av
        try:
            container = av.open(self.path, metadata_errors="ignore")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
            raise open_failure(self.path, e) from None
        if not container.streams.video:
            container.close()
            raise DataError(f"{self.path} has no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        cc.thread_count = self.threads
        if self.threads > 1:
            cc.thread_type = "AUTO"
        self._stream = stream
        return container

    def _reopen(self) -> None:
        self._container.close()
        self._container = self._open()

    def _count_decoded(self) -> int:
        """Exact path: the frame count is what a full sequential decode yields (cached on disk, per file)."""
        cached = cached_count(self.path)
        if cached is not None:
            return cached
        self._reopen()
        n = sum(1 for _ in decode_sequential(self._container, self._stream, self.path))
        store_count(self.path, n)
        return n

    def _demote(self, reason: str) -> None:
        """A run did not decode as its plan said: from now on this file is read sequentially (and counted by
        decoding).  Only speed depends on this: the read that found it is redone sequentially."""
        index = replace(self._index, exact_reason=f"checked while decoding: {reason}", packet_order=None)
        index.num_frames = self._count_decoded()
        if self._cache is not None:
            self._cache.put(self._key, index)
            if self._cache.disk:
                scan_store.save(self._key, index)
        self._use(index)

    # -- reading
    def read(self, indices: Any) -> torch.Tensor:
        idx, unique = _wanted(self.path, indices, self.num_frames)
        if self.read_path != "sequential":
            try:
                if self.read_path == "packet order":
                    return _gather(self.path, unique, self._read_packet_runs(unique), idx)
                return _gather(self.path, unique, self._read_runs(unique, self._plan(unique)), idx)
            except _NotExact as e:
                self._demote(str(e))
                _check_range(self.path, idx, self.num_frames)
        return _gather(self.path, unique, self._read_sequential(unique), idx)

    def _key_for(self, frame: int) -> int:
        """Decode position of the latest keyframe from which `frame` decodes correctly.

        It must precede the frame's packet in decode order and not follow the frame in display
        order (open-GOP leading pictures need the keyframe before).
        """
        index = self._index
        pos = int(index.display_pos[frame])
        target_pts = int(index.display_pts[frame])
        k = bisect.bisect_right(index.keys, pos) - 1
        while k > 0 and index.pts[index.keys[k]] > target_pts:  # type: ignore[operator]  # keyframes have pts
            k -= 1
        return index.keys[k] if k >= 0 else 0

    def _plan(self, unique: np.ndarray) -> list[_Run]:
        display_pos, display_pts = self._index.display_pos, self._index.display_pts
        targets = sorted((int(display_pos[f]), slot, int(f)) for slot, f in enumerate(unique))
        runs: list[_Run] = []
        for pos, slot, frame in targets:
            key = self._key_for(frame)
            pts = int(display_pts[frame])
            if runs and key <= runs[-1].end + RESTART_COST_PACKETS:
                run = runs[-1]
                run.end = max(run.end, pos)
                run.wanted[pts] = slot
                # a leading picture of the run's keyframe needs the keyframe before it: start earlier,
                # merging with the previous run when they now (nearly) touch
                run.start = min(run.start, key)
                while len(runs) > 1 and runs[-1].start <= runs[-2].end + RESTART_COST_PACKETS:
                    last = runs.pop()
                    runs[-1].end = max(runs[-1].end, last.end)
                    runs[-1].start = min(runs[-1].start, last.start)
                    runs[-1].wanted.update(last.wanted)
            else:
                runs.append(_Run(key, pos, {pts: slot}))
        return runs

    def _decode_run(self, packets: Any, run: _Run, frames: list[np.ndarray | None]) -> None:
        """Feed `packets` (decode positions run.start..run.end), drain, keep the wanted frames.

        Checks what the index predicts: output timestamps increase and every wanted frame comes out;
        otherwise `_NotExact` (the caller moves the file to the sequential path).
        """
        av = self._av
        cc = self._stream.codec_context
        skipping = self.threads == 1 and cc.name not in QUEUEING_DECODERS
        mode = None
        last = [None]

        def keep(decoded: list[Any]) -> None:
            for frame in decoded:
                if frame.pts is None or (last[0] is not None and frame.pts <= last[0]):
                    raise _NotExact(f"decoder output timestamps {last[0]} then {frame.pts}")
                last[0] = frame.pts
                slot = run.wanted.get(frame.pts)
                if slot is not None and frames[slot] is None:
                    frames[slot] = frame_to_rgb(frame, self.autorotate)
                    if self._index.orientation is None:
                        self._index.orientation = orientation(display_matrix(frame))

        try:
            for pkt in packets:
                if skipping:
                    want = "DEFAULT" if pkt.pts in run.wanted else "NONREF"
                    if want != mode:
                        cc.skip_frame = mode = want
                keep(cc.decode(pkt))
            if skipping:
                cc.skip_frame = "DEFAULT"
            keep(cc.decode(None))
        except av.error.FFmpegError as e:
            raise _NotExact(f"decoding a keyframe run failed ({e})") from None
        finally:
            if skipping:
                cc.skip_frame = "DEFAULT"
            cc.flush_buffers()
        missing = [pts for pts, s in run.wanted.items() if frames[s] is None]
        if missing:
            raise _NotExact(f"the frame with timestamp {missing[0]} did not come out of its keyframe run")

    def _read_runs(self, unique: np.ndarray, runs: list[_Run]) -> list[np.ndarray | None]:
        frames: list[np.ndarray | None] = [None] * len(unique)
        for run in runs:
            self._decode_run(self._run_packets(run.start, run.end), run, frames)
        return frames

    def _run_packets(self, start: int, end: int) -> Any:
        if self._packets is not None:
            return self._packets[start: end + 1]
        return self._seek_packets(start, end)

    # -- MPEG-4 Part 2 by packet order
    def _read_packet_runs(self, unique: np.ndarray) -> list[np.ndarray | None]:
        order = self._index.packet_order
        assert order is not None
        runs = mpeg4.plan(order, [int(f) for f in unique], RESTART_COST_PACKETS, skip_b=self.threads == 1)
        frames: list[np.ndarray | None] = [None] * len(unique)
        for run in runs:
            self._decode_packet_run(order, self._run_packets(run.start, run.stop), run, frames)
        return frames

    def _decode_packet_run(self, order: mpeg4.PacketOrder, packets: Any, run: mpeg4.PacketRun,
                           frames: list[np.ndarray | None]) -> None:
        """Feed the run's packets from a flushed decoder and drain it; output k is the run's k-th predicted VOP.

        Every output's picture type is checked against that VOP's coding type and the count against the
        replay: any difference raises `_NotExact` (the read is redone by a sequential decode).
        """
        av = self._av
        cc = self._stream.codec_context
        skipping = bool(run.skip_b)
        seen = [0]

        def keep(decoded: list[Any]) -> None:
            for frame in decoded:
                k = seen[0]
                if k >= len(run.outputs):
                    raise _NotExact(f"a run from packet {run.start} returned more frames than its VOPs give")
                vid = run.outputs[k]
                expected = mpeg4.PICT_TYPE[order.packets[vid[0]].vops[vid[1]].type]
                if int(frame.pict_type) != expected:
                    raise _NotExact(f"output {k} of the run from packet {run.start} is not the VOP of packet {vid[0]}")
                seen[0] = k + 1
                slot = run.wanted.get(vid)
                if slot is not None and frames[slot] is None:
                    frames[slot] = frame_to_rgb(frame, self.autorotate)
                    if self._index.orientation is None:
                        self._index.orientation = orientation(display_matrix(frame))

        try:
            cc.flush_buffers()
            mode = "DEFAULT"
            for pos, pkt in enumerate(packets, run.start):
                if skipping:
                    want = "NONREF" if pos in run.skip_b else "DEFAULT"
                    if want != mode:
                        cc.skip_frame = mode = want
                keep(cc.decode(pkt))
            if mode != "DEFAULT":
                cc.skip_frame = "DEFAULT"
            keep(cc.decode(None))
        except av.error.FFmpegError as e:
            raise _NotExact(f"decoding a packet run failed ({e})") from None
        finally:
            cc.skip_frame = "DEFAULT"
            cc.flush_buffers()
        if seen[0] != len(run.outputs):
            raise _NotExact(f"a run from packet {run.start} returned {seen[0]} frames, "
                            f"its VOPs give {len(run.outputs)}")

    def _seek_packets(self, start: int, end: int) -> Iterator[Any]:
        """Packets at decode positions start..end, read after a container seek whose landing is verified.

        The seek (or the re-open that replaces a failed one) happens now, before the caller takes the
        decoder: a re-open makes a new decoder."""
        av = self._av
        index = self._index
        first = None
        landed = None
        if index.seek_by is not None and start > 0:
            target = min(t for t in (index.pts[start], index.dts[start]) if t is not None)
            try:
                self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
                demux = self._container.demux(self._stream)
                first = next((p for p in demux if p.size), None)
                stamp = None if first is None else getattr(first, index.seek_by)
                landed = index.pos_of_seek_key.get(stamp) if stamp is not None else None
            except (av.error.FFmpegError, StopIteration):
                landed = None
        if landed is None or landed > start:  # overshot, unknown, or no seek: read from the start instead
            self._reopen()
            demux = self._container.demux(self._stream)
            first = next((p for p in demux if p.size), None)
            landed = 0
        return self._packets_from(demux, first, landed, start, end)

    @staticmethod
    def _packets_from(demux: Any, first: Any, pos: int, start: int, end: int) -> Iterator[Any]:
        pkt = first
        while pkt is not None and pos <= end:
            if pos >= start:
                yield pkt
            pkt = next((p for p in demux if p.size), None)
            pos += 1

    def _read_sequential(self, unique: np.ndarray) -> list[np.ndarray | None]:
        """The exact path: decode from the start, counting frames; only the wanted ones become RGB."""
        frames: list[np.ndarray | None] = [None] * len(unique)
        slots = {int(f): s for s, f in enumerate(unique)}
        self._reopen()
        for i, frame in decode_sequential(self._container, self._stream, self.path, stop=int(unique[-1])):
            slot = slots.get(i)
            if slot is not None:
                frames[slot] = frame_to_rgb(frame, self.autorotate)
        return frames

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
            self._container = None
        self._packets = None


# --------------------------------------------------------------------------- torchcodec


def torchcodec_available() -> bool:
    try:
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except Exception:  # ImportError, or its FFmpeg libraries failing to load (OSError/RuntimeError)
        return False
    return True


class TorchCodecReader(_ClosesOnExit):
    """torchcodec's exact-seek decoder behind the same interface."""

    _decoder: Any  # torchcodec's VideoDecoder; None once closed

    def __init__(self, path: str | os.PathLike, threads: int = 1):
        from torchcodec.decoders import VideoDecoder

        self.path = str(path)
        if not os.path.isfile(self.path):
            raise DataError(f"video file not found: {self.path}")
        try:
            self._decoder = VideoDecoder(self.path, seek_mode="exact", dimension_order="NHWC",
                                         num_ffmpeg_threads=max(1, int(threads)))
            meta = self._decoder.metadata
        except (RuntimeError, ValueError, OSError) as e:
            raise open_failure(self.path, e) from None
        self.num_frames = int(meta.num_frames or 0)
        self.fps = float(meta.average_fps or 0.0)
        self.width = int(meta.width or 0)
        self.height = int(meta.height or 0)
        self.codec = str(meta.codec)
        self.container_format = Path(self.path).suffix.lstrip(".")

    def read(self, indices: Any) -> torch.Tensor:
        idx, unique = _wanted(self.path, indices, self.num_frames)
        try:
            data = self._decoder.get_frames_at(unique.tolist()).data
        except (RuntimeError, ValueError, IndexError) as e:
            raise DataError(f"{self.path}: decoding failed ({str(e).splitlines()[0] if str(e) else e})") from None
        pos = np.searchsorted(unique, idx)
        if np.array_equal(pos, np.arange(len(unique))):
            return data
        return data[torch.from_numpy(pos)]

    def close(self) -> None:
        self._decoder = None


# --------------------------------------------------------------------------- frame folders

_folder_counts: dict[tuple[str, str, int], int] = {}
_folder_lock = threading.Lock()


def _template_regex(template: str) -> re.Pattern[str]:
    """'{:05d}.jpg' -> ^(\\d+)\\.jpg$ ; 'img_{:05d}.jpg' -> ^img_(\\d+)\\.jpg$."""
    parts = list(string.Formatter().parse(template))
    fields = [p for p in parts if p[1] is not None]
    if len(fields) != 1:
        raise DataError(f"frame template {template!r} must have exactly one {{}} field for the frame number")
    pattern = "".join(re.escape(lit) + (r"(\d+)" if field is not None else "") for lit, field, _, _ in parts)
    return re.compile("^" + pattern + "$")


def _decode_image_pil(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class FrameFolderReader(_ClosesOnExit):
    """A folder of numbered images: frame i is `template.format(i + start_index)`."""

    def __init__(self, path: str | os.PathLike, template: str = DEFAULT_FRAME_TEMPLATE, start_index: int = 1,
                 num_frames: int | None = None, decoder: str = "auto"):
        self.path = str(path)
        self.template = template
        self.start_index = int(start_index)
        if not os.path.isdir(self.path):
            raise DataError(f"frame folder not found: {self.path}")
        self.num_frames = int(num_frames) if num_frames is not None else self._count()
        self.fps = 0.0  # unknown for frame folders (SSv1 and Jester were extracted at 12 fps)
        if decoder == "auto":
            decoder = "pil" if _pil_available() else "pyav"
        self.decoder = decoder
        self._codec: Any = None
        self.codec = "images"
        self.container_format = "folder"

    def _count(self) -> int:
        key = (self.path, self.template, os.stat(self.path).st_mtime_ns)
        with _folder_lock:
            if key in _folder_counts:
                return _folder_counts[key]
        regex = _template_regex(self.template)
        numbers = []
        with os.scandir(self.path) as it:
            for entry in it:
                m = regex.match(entry.name)
                if m:
                    numbers.append(int(m.group(1)))
        n = len(numbers)
        if n and (min(numbers) != self.start_index or max(numbers) != self.start_index + n - 1):
            raise DataError(f"frame folder {self.path} is not numbered {self.start_index}..{self.start_index + n - 1} "
                            f"(found {min(numbers)}..{max(numbers)} with gaps)")
        with _folder_lock:
            _folder_counts[key] = n
        return n

    def frame_path(self, index: int) -> str:
        return os.path.join(self.path, self.template.format(index + self.start_index))

    def _decode(self, path: str) -> np.ndarray:
        if not os.path.isfile(path):
            raise DataError(f"frame file not found: {path}")
        try:
            if self.decoder == "pil":
                return _decode_image_pil(path)
            return self._decode_pyav(path)
        except DataError:
            raise
        except Exception as e:  # PIL.UnidentifiedImageError, OSError, av errors: a broken image
            raise DataError(f"cannot decode frame {path}: {e}") from None

    def _decode_pyav(self, path: str) -> np.ndarray:
        import av

        if self._codec is None:
            name = "png" if path.lower().endswith(".png") else "mjpeg"
            self._codec = av.CodecContext.create(name, "r")
        with open(path, "rb") as f:
            data = f.read()
        decoded = self._codec.decode(av.Packet(data)) + self._codec.decode(None)
        self._codec.flush_buffers()
        if not decoded:
            raise DataError(f"cannot decode frame {path}")
        frame = decoded[0]
        name = frame.format.name
        if name.startswith("yuv") and name[-4:-1] in ("420", "422"):
            # swscale's direct YUV->RGB repeats chroma samples; up-sampling them bilinearly first matches
            # libjpeg's ("fancy upsampling", what Pillow returns) within 2 grey levels
            frame = frame.reformat(format=name[:-4] + "444p", interpolation="BILINEAR", threads=1)
        return frame.to_ndarray(format="rgb24", threads=1)  # no slice threads a forked worker would inherit

    def read(self, indices: Any) -> torch.Tensor:
        idx = _as_indices(indices)
        if self.num_frames == 0:
            raise DataError(f"frame folder {self.path} has no frames matching {self.template!r}")
        _check_range(self.path, idx, self.num_frames)
        unique = np.unique(idx)
        frames: list[np.ndarray | None] = [self._decode(self.frame_path(int(i))) for i in unique]
        return _gather(self.path, unique, frames, idx)

    def close(self) -> None:
        self._codec = None


def _pil_available() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- public API


def resolve_backend(backend: str = "auto") -> str:
    """'auto' -> 'pyav' (see `open_video`); 'torchcodec' must be importable (else `errors.require`'s
    MissingDependencyError, which says why: not installed, or its FFmpeg libraries do not load)."""
    if backend not in BACKENDS:
        raise DataError(f"unknown video backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "torchcodec":
        require("torchcodec.decoders", "codec", "video backend 'torchcodec'", native=True)
    if backend == "auto":
        return AUTO_BACKEND if AUTO_BACKEND == "pyav" or torchcodec_available() else "pyav"
    return backend


#: What backend="auto" picks.  PyAV: `actionlab bench data` measured it at least as fast as torchcodec 0.13
#: for sparse TSN sampling (it skips non-reference frames), and it needs no system FFmpeg.
AUTO_BACKEND = "pyav"


#: orientations torchcodec 0.13 returns as PyAV does (with autorotate, without): it always turns frames by
#: the display matrix's angle and has not been checked on mirrored ones
TORCHCODEC_ORIENTS = {True: {"", "cclock", "clock", "hflip,vflip"}, False: {""}}
#: containers torchcodec 0.13 cannot seek in ("Requested next frame while there are no more frames")
TORCHCODEC_FAILS_ON = {"mpeg", "mpegts"}


def open_video(path: str | os.PathLike, backend: str = "auto", *, threads: int = 1,
               frame_template: str = DEFAULT_FRAME_TEMPLATE, frame_start: int = 1,
               num_frames: int | None = None, autorotate: bool = True) -> VideoReader:
    """Open a video file or a frame folder.  Use as `with open_video(p) as v: v.read(idx)`.

    num_frames: only for frame folders, a count known from the annotation (skips the listing).
    autorotate: turn frames upright by the file's display matrix (as ffmpeg does); False keeps the stored
    orientation.
    """
    path = str(path)
    if os.path.isdir(path):
        return FrameFolderReader(path, frame_template, frame_start, num_frames)
    name = resolve_backend(backend)
    if name == "torchcodec":
        reader = PyAVReader(path, threads, autorotate=autorotate)
        if reader.read_path == "keyframe runs" and reader.orientation in TORCHCODEC_ORIENTS[autorotate] and \
                not set(reader.container_format.split(",")) & TORCHCODEC_FAILS_ON:
            reader.close()
            return TorchCodecReader(path, threads)
        # torchcodec 0.13 (Debian FFmpeg 5.1) fails or returns other frames on these (found by the corpus and
        # packed-AVI tests): AVI MPEG-4 (packed or not) and H.264, streams without timestamps, MPEG-PS/TS;
        # and it always applies rotation
        return reader
    return PyAVReader(path, threads, autorotate=autorotate)


def read(path: str | os.PathLike, indices: Any, backend: str = "auto", **kwargs: Any) -> torch.Tensor:
    """Frames `indices` (any order, duplicates allowed) of a video or frame folder as uint8 [T, H, W, 3]."""
    with open_video(path, backend, **kwargs) as video:
        return video.read(indices)


def read_all_sequential(path: str | os.PathLike, stop: int | None = None, autorotate: bool = True) -> torch.Tensor:
    """Reference decode: every frame in order with PyAV's plain decode loop (tests, the naive benchmark)."""
    import av

    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for _, frame in decode_sequential(container, stream, str(path), None if stop is None else stop - 1):
            frames.append(frame_to_rgb(frame, autorotate))
    return torch.from_numpy(np.stack(frames))


# --------------------------------------------------------------------------- video_info


def video_info(path: str | os.PathLike, backend: str = "auto", *, frame_template: str = DEFAULT_FRAME_TEMPLATE,
               frame_start: int = 1, use_cache: bool = True, autorotate: bool = True) -> VideoInfo:
    """Frame count, fps, size (upright, as `read` returns frames) and codec, from the reader's own scan.

    The count is the reader's (the frames of a full sequential decode): one demux pass, kept in the
    per-process scan cache; files on the exact path are counted by one decode, cached on disk
    (`$ACTIONLAB_CACHE_DIR` or `~/.cache/actionlab`).  The size needs the first frame decoded (its display
    matrix).
    `backend` is only checked: every backend reads the frames this count describes.
    """
    path = str(path)
    if os.path.isdir(path):
        reader = FrameFolderReader(path, frame_template, frame_start)
        size = (0, 0)
        if reader.num_frames:
            first = reader.read([0])
            size = (int(first.shape[1]), int(first.shape[2]))
        return VideoInfo(reader.num_frames, 0.0, int(size[1]), int(size[0]), "images", "folder")
    resolve_backend(backend)
    with PyAVReader(path, autorotate=autorotate, cache=INDEX_CACHE if use_cache else None) as r:
        return VideoInfo(r.num_frames, r.fps, r.width, r.height, r.codec, r.container_format)


def available_backends() -> list[str]:
    return ["pyav"] + (["torchcodec"] if torchcodec_available() else [])
