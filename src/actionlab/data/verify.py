"""Prove the reader on the user's own files: `actionlab data check --verify-frames`.

For each video, the frames the reader returns - random single frames, each read through a freshly opened
reader as a training item is, and the configured sampler's clips (one training clip, the test views) - are
compared with an independent reference: PyAV's plain decode loop over the whole file
(`container.decode`, frame i = the i-th frame it yields, `to_ndarray(format="rgb24")`, turned upright by
the display matrix as the reader does unless `data.autorotate` is false).  Every difference is reported
with the file, the frame index asked for and the offset of the reference frame it equals (within
`OFFSET_WINDOW`), or the largest pixel difference when it equals none; a frame count that differs from
the decode's is reported too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError
from .display import display_transform
from .readers import open_video
from .sampling import build_sampler

#: a wrong frame is searched for among the reference frames this many indices either side
OFFSET_WINDOW = 3


@dataclass
class Verified:
    """What one video's check found."""

    singles: int = 0  # single-frame reads compared
    clips: int = 0  # clips compared
    mismatches: list[str] = field(default_factory=list)


def reference_frames(path: str, wanted: set[int], autorotate: bool) -> tuple[int, dict[int, np.ndarray]]:
    """(frames a plain sequential decode yields, RGB of the wanted ones), with PyAV alone."""
    import av

    out: dict[int, np.ndarray] = {}
    count = 0
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for i, frame in enumerate(container.decode(stream)):
                count = i + 1
                if i in wanted:
                    out[i] = display_transform(frame, frame.to_ndarray(format="rgb24", threads=1), autorotate)
    except av.error.FFmpegError as e:
        raise DataError(f"{path}: the reference decode failed after {count} frames ({e})") from None
    return count, out


def _describe(path: str, frame: int, how: str, got: np.ndarray, ref: dict[int, np.ndarray]) -> str:
    """One mismatch: which reference frame (offset) the reader's frame equals, or how far it is from the asked one."""
    for offset in sorted(range(-OFFSET_WINDOW, OFFSET_WINDOW + 1), key=abs):
        other = ref.get(frame + offset)
        if offset and other is not None and other.shape == got.shape and np.array_equal(other, got):
            return (f"{path}: frame {frame} ({how}) is frame {frame + offset} of a sequential decode "
                    f"(offset {offset:+d})")
    want = ref[frame]
    diff = int(np.abs(want.astype(np.int16) - got.astype(np.int16)).max()) if want.shape == got.shape else -1
    what = f"largest pixel difference {diff}" if diff >= 0 else f"shape {tuple(got.shape)} vs {tuple(want.shape)}"
    return (f"{path}: frame {frame} ({how}) matches no frame of a sequential decode within {OFFSET_WINDOW} "
            f"({what} to frame {frame})")


def verify_video(path: str, open_kwargs: dict[str, Any], sample: int, segments: int, sampler_name: str,
                 frame_interval: int, test_clips: int, seed: int = 0) -> Verified:
    """Compare the reader with a sequential decode on `sample` random single frames and the sampler's clips."""
    result = Verified()
    with open_video(path, **open_kwargs) as video:
        n = video.num_frames
    rng = np.random.default_rng(seed)
    sampler = build_sampler(sampler_name, segments, frame_interval)
    singles = sorted({int(f) for f in rng.integers(0, n, sample)} | ({0, n - 1} if sample >= 2 else set()))
    clips = [("training clip", sampler(n, rng, True, 1).reshape(-1))]
    clips += [(f"test clip {k}", c) for k, c in enumerate(sampler(n, rng, False, test_clips).reshape(test_clips, -1))]
    wanted = {int(f) for f in singles} | {int(f) for _, c in clips for f in c}
    near = {f + d for f in wanted for d in range(-OFFSET_WINDOW, OFFSET_WINDOW + 1) if 0 <= f + d}
    count, ref = reference_frames(path, near, open_kwargs.get("autorotate", True))
    if count != n:
        result.mismatches.append(f"{path}: the reader counts {n} frames, a sequential decode yields {count}")
        singles = [f for f in singles if f < count]
        clips = [(how, c) for how, c in clips if c.max() < count]
    for f in singles:
        with open_video(path, **open_kwargs) as video:  # a fresh reader per item, as the training loader opens it
            got = video.read([f])[0].numpy()
        result.singles += 1
        if not np.array_equal(got, ref[f]):
            result.mismatches.append(_describe(path, f, "single read", got, ref))
    for how, clip in clips:
        with open_video(path, **open_kwargs) as video:
            frames = video.read(clip).numpy()
        result.clips += 1
        for got, f in zip(frames, clip.tolist()):
            if not np.array_equal(got, ref[f]):
                result.mismatches.append(_describe(path, f, how, got, ref))
    return result
