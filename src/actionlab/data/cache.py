"""Decoded-frame cache: every frame of every video of a split, decoded once, at the size the reader returns.

`data.cache` (a `VideoDataset` calls `build_cache` from `prepare_cache`, which the loaders call):
  none    read every clip from its file (the sparse reader) every time.
  memory  decode each video once into RAM (one uint8 tensor per video); bounded by
          `data.cache_budget_gb`: a split that does not fit is not cached, and the log says so.
  disk    one uint8 file per split plus a JSON index and a CRC-32 per frame, memory-mapped,
          under `data.cache_dir` (default `$ACTIONLAB_CACHE_DIR/clips` or
          `~/.cache/actionlab/clips`), keyed by the videos' identities (path, size, mtime and a
          content fingerprint, `video_index.file_key`): a rerun or a second model on the same
          data skips decoding, a replaced video (even one of the same size with its old mtime
          restored) makes a new cache.  Every frame read from it is checked against its CRC-32
          (~0.6 ms for an 8-frame 320x240 clip, next to ~10 ms to decode it): a cache file
          changed after it was written (overwritten in place, zeroed) is reported once, dropped
          (rebuilt by the next run) and the videos are read from their files.  A cache file
          shorter than its index is not opened.  Bounded by the free disk space.
  auto    (default) an existing disk cache of this split if there is one, else memory when the
          split fits the budget (estimated from a few videos first, then counted while filling),
          else none.

What is cached are *all* frames of each video at the reader's output size, not a sampled or
augmented clip: the sampler still picks its frames and the transform still draws its crop per
(seed, epoch, index), so augmentation stays random per epoch and a cached epoch equals an
uncached one bit for bit (the readers are frame-exact: a full decode returns the same frames
as a sparse read).  A video that fails to decode is left out of the cache; reading it again
through the file reproduces the same error (so `data.on_error` applies unchanged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..paths import cache_root
from .readers import DEFAULT_FRAME_TEMPLATE, open_video
from .video_index import file_key

log = logging.getLogger("actionlab.data")

MODES = ("auto", "memory", "disk", "none")
#: videos probed (spread over the split) to estimate its decoded size before filling a cache
PROBE_VIDEOS = 8
#: memory caches kept by this process (reused by the next `train` on the same split: the demo's
#: epoch-calibration probe and its real run, `bench loader`'s repeats)
_MEMORY: OrderedDict[str, FrameCache] = OrderedDict()
_MEMORY_KEEP = 1  # so that the memory held stays within one budget


class CacheCorrupt(DataError):
    """A disk cache's bytes no longer match the checksums written with them."""


class FrameCache:
    """Decoded frames per video index: `has(i)`, `num_frames(i)`, `fps(i)`, `read(i, indices)`."""

    def __init__(self, entries: list[tuple[int, int, int, int, float] | None], *,
                 tensors: list[torch.Tensor | None] | None = None, file: str | None = None, kind: str = "memory",
                 checksums: str | None = None):
        self.entries = entries  # (byte offset, frames, height, width, fps) or None (not cached)
        self.tensors = tensors
        self.file = file
        self.kind = kind
        self.checksums = checksums  # disk: file of one CRC-32 (uint32) per cached frame, in entry order
        self.bases = _frame_bases(entries)
        self.dropped = False  # the disk file failed a check: every video is read from its file again
        self._map: np.memmap | None = None
        self._crc: np.memmap | None = None

    @property
    def nbytes(self) -> int:
        return sum(n * h * w * 3 for e in self.entries if e is not None for _, n, h, w, _ in [e])

    @property
    def frames(self) -> int:
        return sum(e[1] for e in self.entries if e is not None)

    def has(self, index: int) -> bool:
        return not self.dropped and self.entries[index] is not None

    def _entry(self, index: int) -> tuple[int, int, int, int, float]:
        entry = self.entries[index]
        assert entry is not None, f"video {index} is not cached (ask `has` first)"
        return entry

    def num_frames(self, index: int) -> int:
        return self._entry(index)[1]

    def fps(self, index: int) -> float:
        return self._entry(index)[4]

    def read(self, index: int, indices: np.ndarray) -> torch.Tensor:
        """Frames `indices` (any order, duplicates allowed) of video `index`: uint8 [T, H, W, 3], contiguous.

        From a disk cache every returned frame is checked against its CRC-32 (`CacheCorrupt` if one differs).
        """
        off, n, h, w, _ = self._entry(index)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DataError(f"cached video {index}: frame index out of range (it has {n} frames)")
        if self.tensors is not None:
            frames = self.tensors[index]
            assert frames is not None  # cached (the entry above exists)
            return frames[torch.from_numpy(idx)]
        if self._map is None:  # opened lazily: in each DataLoader worker, after the fork
            assert self.file is not None  # a disk cache (memory caches hold tensors)
            self._map = np.memmap(self.file, dtype=np.uint8, mode="r")
            self._crc = np.memmap(self.checksums, dtype="<u4", mode="r") if self.checksums else None
        video = self._map[off: off + n * h * w * 3].reshape(n, h, w, 3)
        out = np.ascontiguousarray(video[idx])
        if self._crc is not None:
            seen: set[int] = set()
            for row, f in enumerate(idx.tolist()):
                if f not in seen:
                    seen.add(f)
                    if zlib.crc32(out[row].data) != int(self._crc[self.bases[index] + f]):
                        raise CacheCorrupt(f"disk cache {self.file}: frame {f} of video {index} does not match the "
                                           f"checksum written with it (the file changed since)")
        return torch.from_numpy(out)

    def drop(self) -> None:
        """Stop using this cache (a failed check) and remove its index, so that the next run rebuilds it."""
        self.dropped = True
        if self.file:
            Path(self.file).with_suffix(".json").unlink(missing_ok=True)

    def __getstate__(self) -> dict[str, Any]:  # workers started by spawn re-open the file instead of copying it
        state = dict(self.__dict__)
        state["_map"] = state["_crc"] = None
        return state


def _frame_bases(entries: list[tuple[int, int, int, int, float] | None]) -> list[int]:
    """Per video, the position of its first frame among all cached frames (the checksum file's order)."""
    bases, total = [], 0
    for e in entries:
        bases.append(total)
        total += e[1] if e is not None else 0
    return bases


# --------------------------------------------------------------------------- building


def default_cache_dir() -> Path:
    return cache_root() / "clips"


def split_key(paths: Sequence[str], backend: str, frame_template: str | None, autorotate: bool = True) -> str:
    """A key of the split's videos (each one's identity: path, size, mtime, content fingerprint) and how
    they are read."""
    h = hashlib.sha1(f"v2|{backend}|{frame_template}|{autorotate}|".encode())
    for p in paths:
        try:
            h.update("|".join(str(x) for x in (p, *file_key(p)[1:])).encode() + b"\n")
        except OSError:
            h.update(f"{p}|missing\n".encode())
    return h.hexdigest()[:20]


class _Reader:
    """Opens one video of the split the way `VideoDataset` does and returns all its frames."""

    def __init__(self, records: Sequence[Any], backend: str, frame_template: str | None, frame_start: int,
                 autorotate: bool = True):
        self.records = records
        self.autorotate = autorotate
        self.backend = backend
        self.frame_template = frame_template or DEFAULT_FRAME_TEMPLATE
        self.frame_start = frame_start

    def _read(self, i: int, indices: Callable[[int], Any]) -> tuple[torch.Tensor, float, int] | None:
        """Frames `indices(num_frames)` of video i, its fps and frame count; None when it cannot be read
        (the dataset reads an uncached video again and reports its error then)."""
        r = self.records[i]
        try:
            with open_video(r.path, self.backend, frame_template=self.frame_template, frame_start=self.frame_start,
                            num_frames=r.num_frames, autorotate=self.autorotate) as video:
                n = video.num_frames
                if n <= 0:
                    return None
                return video.read(indices(n)), float(video.fps), n
        except Exception:  # noqa: BLE001 - a bad video is left to the reader to report when it is used
            return None

    def shape(self, i: int) -> tuple[int, int, int] | None:
        """(frames, height, width) of video i from its first frame; None when it cannot be read."""
        got = self._read(i, lambda n: [0])
        return None if got is None else (got[2], int(got[0].shape[1]), int(got[0].shape[2]))

    def all_frames(self, i: int) -> tuple[torch.Tensor, float] | None:
        got = self._read(i, np.arange)
        return None if got is None else (got[0].contiguous(), got[1])


def estimate_bytes(reader: _Reader, count: int, probes: int = PROBE_VIDEOS) -> int:
    """Decoded size of the whole split, extrapolated from `probes` videos spread over it."""
    if count == 0:
        return 0
    picks = sorted({int(i) for i in np.linspace(0, count - 1, min(count, probes))})
    sizes = [s[0] * s[1] * s[2] * 3 for i in picks if (s := reader.shape(i)) is not None]
    return int(np.mean(sizes) * count) if sizes else 0


def _fill(reader: _Reader, count: int, limit: int, sink: Any) -> list[tuple[int, int, int, int, float] | None] | None:
    """Decode every video into `sink(frames) -> offset`; None as soon as the total passes `limit` bytes."""
    entries: list[tuple[int, int, int, int, float] | None] = []
    total = 0
    for i in range(count):
        got = reader.all_frames(i)
        if got is None:
            entries.append(None)
            continue
        frames, fps = got
        total += frames.numel()
        if total > limit:
            return None
        n, h, w, _ = frames.shape
        entries.append((sink(frames), n, h, w, fps))
    return entries


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def build_cache(records: Sequence[Any], mode: str, *, budget_bytes: int, backend: str = "auto",
                frame_template: str | None = None, frame_start: int = 1, cache_dir: str | os.PathLike | None = None,
                name: str = "", autorotate: bool = True) -> tuple[FrameCache | None, str]:
    """(cache or None, a one-line status saying what was decided and why)."""
    if mode not in MODES:
        raise ConfigError(f"config key 'data.cache' expects one of {', '.join(MODES)}, got {mode!r}")
    what = f"split '{name}'" if name else "split"
    if mode == "none" or not records:
        return None, f"{what}: not cached (data.cache={mode})" if records else f"{what}: empty, not cached"
    paths = [str(r.path) for r in records]
    key = split_key(paths, backend, frame_template, autorotate)
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    reader = _Reader(records, backend, frame_template, frame_start, autorotate)
    if mode in ("disk", "auto"):
        found = _open_disk(folder, key, len(records))
        if found is not None:
            return found, f"{what}: decoded frames from the disk cache {found.file} ({_gb(found.nbytes)})"
    if mode in ("memory", "auto"):
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            cache = _MEMORY[key]
            return cache, f"{what}: decoded frames in memory ({_gb(cache.nbytes)}, reused)"
        estimate = estimate_bytes(reader, len(records))
        if estimate > budget_bytes:
            return None, (f"{what}: not cached: its decoded frames (~{_gb(estimate)}, estimated from "
                          f"{min(len(records), PROBE_VIDEOS)} videos) exceed data.cache_budget_gb "
                          f"({_gb(budget_bytes)}); reading from the files")
        start = time.perf_counter()
        tensors: list[torch.Tensor | None] = []
        entries = _fill(reader, len(records), budget_bytes, _Keeper(tensors))
        if entries is None:
            return None, (f"{what}: not cached: its decoded frames exceed data.cache_budget_gb "
                          f"({_gb(budget_bytes)}) (found while filling); reading from the files")
        cache = FrameCache(entries, tensors=_Keeper.align(tensors, entries), kind="memory")
        _MEMORY[key] = cache
        while len(_MEMORY) > _MEMORY_KEEP:
            _MEMORY.popitem(last=False)
        return cache, (f"{what}: decoded frames in memory ({_gb(cache.nbytes)}, {len(records)} videos, "
                       f"filled in {time.perf_counter() - start:.1f} s)")
    # disk, not there yet: decode into a temporary file, then rename (a concurrent writer of the same key is harmless)
    estimate = estimate_bytes(reader, len(records))
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if estimate > free * 0.9:
        return None, (f"{what}: not cached: its decoded frames (~{_gb(estimate)}) do not fit the free space of "
                      f"{folder} ({_gb(free)}); reading from the files")
    start = time.perf_counter()
    tmp = folder / f"{key}.{os.getpid()}.tmp"
    tmp_crc = folder / f"{key}.{os.getpid()}.crc.tmp"
    try:
        with open(tmp, "wb") as f, open(tmp_crc, "wb") as c:
            entries = _fill(reader, len(records), int(free * 0.9), _FileSink(f, c))
        if entries is None:
            return None, f"{what}: not cached: {folder} ran out of room while filling; reading from the files"
        index = folder / f"{key}.json"
        os.replace(tmp, folder / f"{key}.u8")
        os.replace(tmp_crc, folder / f"{key}.crc")
        tmp_index = folder / f"{key}.{os.getpid()}.json.tmp"  # written last: the index commits the cache
        tmp_index.write_text(json.dumps({"videos": len(records), "entries": entries}))
        os.replace(tmp_index, index)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_crc.unlink(missing_ok=True)
    opened = _open_disk(folder, key, len(records))
    assert opened is not None
    cache = opened
    return cache, (f"{what}: decoded frames written to the disk cache {cache.file} ({_gb(cache.nbytes)}, "
                   f"{len(records)} videos, filled in {time.perf_counter() - start:.1f} s)")


class _Keeper:
    """Memory sink: keeps the tensors (offsets are unused)."""

    def __init__(self, tensors: list[torch.Tensor | None]):
        self.tensors = tensors

    def __call__(self, frames: torch.Tensor) -> int:
        self.tensors.append(frames)
        return 0

    @staticmethod
    def align(tensors: list[torch.Tensor | None], entries: list[Any]) -> list[torch.Tensor | None]:
        """One slot per video: the kept tensors in order, None where the video was not cached."""
        it = iter(tensors)
        return [next(it) if e is not None else None for e in entries]


class _FileSink:
    """Disk sink: appends the frames to the open file (and their CRC-32s to the checksum file) and returns
    their byte offset."""

    def __init__(self, f: Any, checksums: Any):
        self.f = f
        self.checksums = checksums
        self.offset = 0

    def __call__(self, frames: torch.Tensor) -> int:
        off = self.offset
        array = np.ascontiguousarray(frames.numpy())
        self.f.write(array.data)
        self.checksums.write(np.array([zlib.crc32(frame.data) for frame in array], dtype="<u4").tobytes())
        self.offset += array.nbytes
        return off


def _open_disk(folder: Path, key: str, count: int) -> FrameCache | None:
    """The split's disk cache, or None when there is none or it is incomplete (then it is rebuilt)."""
    index, data, crc = folder / f"{key}.json", folder / f"{key}.u8", folder / f"{key}.crc"
    if not (index.is_file() and data.is_file() and crc.is_file()):
        return None
    try:
        meta = json.loads(index.read_text())
        entries = [tuple(e) if e is not None else None for e in meta["entries"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if meta.get("videos") != count or len(entries) != count:
        return None
    cache = FrameCache(entries, file=str(data), kind="disk", checksums=str(crc))
    if data.stat().st_size < cache.nbytes or crc.stat().st_size != 4 * cache.frames:
        return None  # a truncated file: rebuild rather than read garbage
    return cache


def clear_memory() -> None:
    """Forget the memory caches this process keeps (tests)."""
    _MEMORY.clear()
