"""Which window a frame shows: the one whose centre is nearest (ties go to the earlier window).

Windows overlap (64 frames every 16: each frame lies in 4 of them), so "the window covering a
frame" needs a rule.  The nearest centre gives every window the `stride` frames around its
middle, so a frame is labelled by the window that sees the most context on both sides of it
and a class change at frame c shows up between c - stride and c + stride (the window centred
on c sees half of each class).  The annotated video and the timeline page both use this rule,
so the page's "now" and the video's drawn label agree frame for frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def window_centres(spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Centre frame (s + e - 1) / 2 of each [s, e) span."""
    return np.array([(s + e - 1) / 2 for s, e in spans], dtype=np.float64)


def frame_windows(spans: Sequence[tuple[int, int]], num_frames: int) -> np.ndarray:
    """int [num_frames]: index into `spans` of the window shown at each frame (spans ordered by start)."""
    if not spans:
        raise ValueError("no windows")
    centres = window_centres(spans)
    mids = (centres[:-1] + centres[1:]) / 2  # a frame past the midpoint belongs to the next window
    return np.searchsorted(mids, np.arange(num_frames), side="left").astype(np.int64)


def first_frames(spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """int [len(spans)]: the first frame each window is shown at (by `frame_windows`' rule)."""
    centres = window_centres(spans)
    mids = (centres[:-1] + centres[1:]) / 2
    return np.concatenate([[0], np.floor(mids).astype(np.int64) + 1])
