"""One line for a video file the decoder cannot open: its path once and the reason in words.

PyAV's errors read "[Errno 1094995529] Invalid data found when processing input: 'path'" (FFmpeg's
negative error code as an errno, the path again); a 0-byte file gives the same text.  The message
here keeps FFmpeg's reason only, and calls an empty file empty.
"""

from __future__ import annotations

import os

from ..errors import DataError


def open_failure(path: str | os.PathLike, error: BaseException) -> DataError:
    """`DataError("cannot open video PATH: REASON")` for `error` raised while opening `path`."""
    try:
        empty = os.path.getsize(path) == 0
    except OSError:
        empty = False
    reason = "the file is empty (0 bytes)" if empty else ffmpeg_reason(error)
    return DataError(f"cannot open video {os.fspath(path)}: {reason}")


def ffmpeg_reason(error: BaseException) -> str:
    """FFmpeg's words for `error` ('Invalid data found when processing input'), without its errno and path."""
    reason = getattr(error, "strerror", None)
    if reason:
        return str(reason)
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
