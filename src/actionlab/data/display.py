"""Decoded frames to RGB as the `ffmpeg` tool shows them: the conversion, and the display matrix.

`frame_to_rgb` converts with one swscale context per thread (bit-identical to
`frame.to_ndarray(format="rgb24")`, whose per-frame context costs ~0.5 ms of a 320x240 frame's 0.6 ms)
and applies the frame's display matrix as ffmpeg's autorotate does: turns of 90, 180 and 270
degrees, horizontal and vertical flips, and the transposes that combine them (`orientation`).
"""

from __future__ import annotations

import math
import os
import struct
import threading
from typing import Any

import numpy as np

from ..errors import DataError

_CONVERT = threading.local()


def _rgb24(frame: Any) -> np.ndarray:
    """`frame.to_ndarray(format="rgb24")`, bit for bit, through one single-threaded swscale context per thread:
    a frame's own reformatter builds a new context for every frame (0.5 ms of a 320x240 frame's 0.6 ms).

    Single-threaded, and not used by a forked child (`_forget_converters`): a context with slice threads,
    inherited by a DataLoader worker, waits forever for threads the child does not have."""
    reformatter = getattr(_CONVERT, "reformatter", None)
    if reformatter is None:
        from av.video.reformatter import VideoReformatter

        reformatter = _CONVERT.reformatter = VideoReformatter()
    return reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()


_INHERITED: list[Any] = []


def _forget_converters() -> None:
    """In a forked child: new contexts, and the inherited ones kept (never freed): freeing a context whose slice
    threads lived in the parent waits forever on their condition variable (a DataLoader worker hung there)."""
    global _CONVERT
    _INHERITED.append(_CONVERT)
    _CONVERT = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_converters)


#: what ffmpeg's autorotate inserts for a display matrix, as numpy on an [H, W, C] image
_ORIENT = {
    "": lambda a: a,
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
    "hflip,vflip": lambda a: a[::-1, ::-1],  # a half turn
    "cclock": lambda a: np.rot90(a, 1),  # transpose=cclock: 90 degrees counter-clockwise
    "clock": lambda a: np.rot90(a, -1),  # transpose=clock
    "cclock_flip": lambda a: a.transpose(1, 0, 2),  # transpose=cclock_flip: a counter-clockwise turn, then vflip
    "clock_flip": lambda a: np.rot90(a, -1)[::-1],  # transpose=clock_flip: a clockwise turn, then vflip
}


def display_matrix(frame: Any) -> tuple[int, ...] | None:
    """The frame's display matrix (9 int32 values, 16.16 fixed point), or None."""
    for side in frame.side_data:
        if side.type.name == "DISPLAYMATRIX":
            data = bytes(side)
            return struct.unpack("<9i", data[:36]) if len(data) >= 36 else None
    return None


def orientation(matrix: tuple[int, ...] | None) -> str:
    """The filters ffmpeg's autorotate applies for `matrix` (fftools: get_rotation, then transpose/hflip/vflip):
    a key of `_ORIENT`.  Angles that are not a multiple of 90 degrees are refused (ffmpeg resamples those)."""
    if matrix is None:
        return ""
    m = [v / 65536.0 for v in matrix]
    scale0, scale1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale0 == 0 or scale1 == 0:
        return ""
    theta = -round(-math.degrees(math.atan2(m[1] / scale1, m[0] / scale0)))
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)
    if abs(theta - 90) < 1:
        return "cclock_flip" if matrix[3] > 0 else "clock"
    if abs(theta - 180) < 1:
        return ",".join(f for f, neg in (("hflip", matrix[0] < 0), ("vflip", matrix[4] < 0)) if neg)
    if abs(theta - 270) < 1:
        return "clock_flip" if matrix[3] < 0 else "cclock"
    if abs(theta) > 1:
        raise DataError(f"the display matrix turns frames by {theta:g} degrees; only multiples of 90 are applied "
                        f"(set data.autorotate: false to read the stored orientation)")
    return "vflip" if matrix[4] < 0 else ""


def display_transform(frame: Any, img: np.ndarray, autorotate: bool) -> np.ndarray:
    """`img` (the frame's RGB) as ffmpeg shows it: turned and mirrored by the frame's display matrix."""
    if not autorotate:
        return img
    how = orientation(display_matrix(frame))
    return img if not how else np.ascontiguousarray(_ORIENT[how](img))


def swaps_sides(how: str) -> bool:
    """Whether an orientation exchanges width and height."""
    return "clock" in how


def frame_to_rgb(frame: Any, autorotate: bool) -> np.ndarray:
    """RGB of a decoded frame, upright and mirrored by its display matrix as ffmpeg's autorotate shows it."""
    return display_transform(frame, _rgb24(frame), autorotate)
