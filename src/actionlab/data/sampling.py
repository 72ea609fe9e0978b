"""Which frames a clip takes: TSN segments, dense clips, uniform spacing; multi-view test sampling.

Every sampler maps (num_frames n, rng, train) to an int64 array [num_clips, T]
of frame indices in time order.  n is the reader's count, the frames a full sequential
decode yields (`data.readers`), never a container header's count: index i is that decode's
i-th frame, whatever the container.  Randomness only comes from the `numpy.random.Generator`
passed in, so sampling is deterministic given a seed.

Segment (TSN, Wang et al. 2016, Sec. 3.1): the video is cut into T equal segments
of length d = n // T.  Train: one random frame per segment, d*t + U[0, d).  Test: the
middle frame int(d/2 + d*t) with the float tick d = n / T; with `num_clips` c > 1 the
c clips take the frames at int(d*(t + (k + 0.5)/c)), k = 0..c-1; `twice_sample` (TSM)
adds a clip of the segment starts int(d*t).
Dense (I3D/SlowOnly, TSM's dense mode): T frames at stride s from one start; train: a
random start in [0, n - T*s]; test: c starts evenly spaced over [0, n - T*s].
Uniform (CLIP-style video models): T frames equally spaced at stride n / T with one
shared offset; train: a random offset in [0, stride); test: offset stride*(k + 0.5)/c.

Videos shorter than T frames (how MMAction2 handles them):
  segment/uniform: the fractional tick n / T < 1 repeats frames in time order, e.g.
    n=5, T=8 -> test [0 0 1 2 2 3 4 4], train round(t * n / T) = [0 1 1 2 2 3 4 4];
  dense: the window T*s exceeds n, so it starts at 0 and indices wrap around (index mod n,
    MMAction2's out_of_bound_opt='loop').
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..config import parse_views  # noqa: F401 (its owner is the config: test.views)
from ..errors import ConfigError


@dataclass
class SegmentSampler:
    """TSN segment sampling (train: random frame per segment; test: middle frames)."""

    num_segments: int
    twice_sample: bool = False

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n, t = int(num_frames), self.num_segments
        if n <= 0:
            raise ValueError("num_frames must be positive")
        seg = np.arange(t)
        if train:
            d = n // t
            if d > 0:
                return (seg * d + rng.integers(0, d, size=t)).reshape(1, t).astype(np.int64)
            return np.round(seg * (n / t)).astype(np.int64).clip(0, n - 1).reshape(1, t)
        tick = n / t
        clips = [np.floor(tick * (seg + (k + 0.5) / num_clips)) for k in range(num_clips)]
        if self.twice_sample:
            clips.append(np.floor(tick * seg))
        return np.stack(clips).astype(np.int64).clip(0, n - 1)


@dataclass
class DenseSampler:
    """T consecutive frames at a stride (one clip in training, `num_clips` evenly spaced at test)."""

    clip_len: int
    frame_interval: int = 1

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n = int(num_frames)
        if n <= 0:
            raise ValueError("num_frames must be positive")
        span = self.clip_len * self.frame_interval
        room = n - span  # last possible start
        if train:
            starts = np.array([rng.integers(0, room + 1) if room > 0 else 0])
        elif room > 0:
            starts = np.floor((np.arange(num_clips) + 0.5) * (room + 1) / num_clips)
        else:
            starts = np.zeros(num_clips)
        idx = starts.astype(np.int64)[:, None] + np.arange(self.clip_len)[None, :] * self.frame_interval
        return idx % n


@dataclass
class UniformSampler:
    """T frames equally spaced over the whole video with one shared offset."""

    num_segments: int

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n, t = int(num_frames), self.num_segments
        if n <= 0:
            raise ValueError("num_frames must be positive")
        stride = n / t
        if train:
            offsets = np.array([rng.random() * stride])
        else:
            offsets = stride * (np.arange(num_clips) + 0.5) / num_clips
        idx = np.floor(offsets[:, None] + stride * np.arange(t)[None, :]).astype(np.int64)
        return idx.clip(0, n - 1)


class Sampler(Protocol):
    """(num_frames, rng, train, num_clips) -> frame indices [num_clips, T]: the samplers here and release_sampling's."""

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray: ...


def build_sampler(kind: str, num_segments: int, frame_interval: int = 1, twice_sample: bool = False) -> Sampler:
    if num_segments < 1:
        raise ConfigError(f"config key 'data.num_segments' must be >= 1, got {num_segments}")
    if kind == "segment":
        return SegmentSampler(num_segments, twice_sample)
    if kind == "dense":
        if frame_interval < 1:
            raise ConfigError(f"config key 'data.frame_interval' must be >= 1, got {frame_interval}")
        return DenseSampler(num_segments, frame_interval)
    if kind == "uniform":
        return UniformSampler(num_segments)
    if kind in RELEASE_SAMPLERS:  # the pretrained releases' own test sampling (release_sampling.py)
        from . import release_sampling as rs

        if kind == "tsm_segment":
            return rs.TSMSegmentSampler(num_segments, twice_sample)
        if kind == "mmaction_segments":
            return rs.MMActionSegmentSampler(num_segments, twice_sample)
        if kind == "mmaction_clips":
            return rs.MMActionClipSampler(num_segments, max(1, frame_interval))
        return rs.MMActionDenseSampler(num_segments)
    raise ConfigError(f"config key 'data.sampler' expects segment, dense, uniform or one of "
                      f"{', '.join(RELEASE_SAMPLERS)}, got {kind!r}")


RELEASE_SAMPLERS = ("tsm_segment", "mmaction_segments", "mmaction_clips", "mmaction_dense")
