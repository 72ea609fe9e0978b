"""Test-time frame indices exactly as the pretrained releases compute them (their own float order and rounding).

The generic samplers in `sampling.py` follow the papers; these follow the releases' code, so a released model
sees the frames its reported accuracy was measured on.  Same contract: (num_frames n, rng, train, num_clips)
-> int64 [clips, T] frame indices (0-based; the TSM release's +1 is its JPEG file numbering).

`tsm_segment` (mit-han-lab/temporal-shift-module, ops/dataset.py, test): tick = n / T; the frame of segment t
  is int(tick / 2 + tick * t); `twice_sample` adds the clip int(tick * t).  Training: TSN's random frame per
  segment (as `SegmentSampler`).
`mmaction_clips` (MMAction2 1.2.0 `SampleFrames`, clip_len = T, frame_interval = s): at test the clip spans
  (T - 1) * s + 1 frames; one clip starts at max_offset // 2, c > 1 clips at round(k * max_offset / (c - 1))
  with max_offset = max(n - span, 0); indices past the end wrap (mod n).  Training: a random start in
  [0, n - T * s] (0 when the video is shorter).  With T = 1 frame per clip and c segments this is TSN's test
  sampling (`SampleFrames(clip_len=1, num_clips=T)`), see `mmaction_segments`.
`mmaction_segments` (MMAction2 `SampleFrames(clip_len=1, num_clips=T)`, TSN/TSM configs): segment middles
  int(tick * t + tick / 2) with tick = n / T, `twice_sample` adds int(tick * t).
`mmaction_dense` (MMAction2 `DenseSampleFrames(clip_len=1, num_clips=T, sample_range=64,
  num_sample_positions=10)`, TANet's Kinetics config): T frames 64 // T apart; test: c clips (the release: its
  num_sample_positions, 10) starting at linspace(0, max(1, n - 63) - 1, c) truncated; train: one start in
  [0, n - 65] (0 for short videos); mod n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check(num_frames: int) -> int:
    n = int(num_frames)
    if n <= 0:
        raise ValueError("num_frames must be positive")
    return n


def _train_segments(n: int, t: int, rng: np.random.Generator) -> np.ndarray:
    d = n // t
    seg = np.arange(t)
    if d > 0:
        return (seg * d + rng.integers(0, d, size=t)).reshape(1, t).astype(np.int64)
    return np.round(seg * (n / t)).astype(np.int64).clip(0, n - 1).reshape(1, t)


@dataclass
class TSMSegmentSampler:
    """The TSM release's test segments (`_get_test_indices`); `num_clips` > 1 is not a TSM protocol."""

    num_segments: int
    twice_sample: bool = False

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n, t = _check(num_frames), self.num_segments
        if train:
            return _train_segments(n, t, rng)
        tick = n / float(t)
        clips = [[int(tick / 2.0 + tick * x) for x in range(t)]]
        if self.twice_sample:
            clips.append([int(tick * x) for x in range(t)])
        return np.asarray(clips, dtype=np.int64).clip(0, n - 1)


@dataclass
class MMActionSegmentSampler:
    """MMAction2 `SampleFrames(clip_len=1, num_clips=T, test_mode=True)` (TSN / TSM configs)."""

    num_segments: int
    twice_sample: bool = False

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n, t = _check(num_frames), self.num_segments
        if train:
            return _train_segments(n, t, rng)
        avg = n / float(t)
        base = np.arange(t) * avg
        offsets = [base + avg / 2.0] + ([base] if self.twice_sample else [])
        return np.mod(np.stack(offsets).astype(np.int64), n)


@dataclass
class MMActionClipSampler:
    """MMAction2 `SampleFrames(clip_len=T, frame_interval=s, num_clips=c)` for 3D models (SlowOnly)."""

    clip_len: int
    frame_interval: int = 1

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n, t, s = _check(num_frames), self.clip_len, self.frame_interval
        if train:
            room = n - t * s + 1
            starts = np.array([rng.integers(0, room) if room > 0 else 0])
        else:
            max_offset = max(n - ((t - 1) * s + 1), 0)
            if num_clips > 1:
                starts = np.round(np.arange(num_clips) * (max_offset / float(num_clips - 1)))
            else:
                starts = np.array([max_offset // 2])
        idx = starts.astype(np.int64)[:, None] + np.arange(t)[None, :] * s
        return np.mod(idx, n)


@dataclass
class MMActionDenseSampler:
    """MMAction2 `DenseSampleFrames(clip_len=1, num_clips=T)` (TANet's Kinetics release)."""

    num_segments: int
    sample_range: int = 64

    def __call__(self, num_frames: int, rng: np.random.Generator, train: bool, num_clips: int = 1) -> np.ndarray:
        n, t = _check(num_frames), self.num_segments
        positions = max(1, 1 + n - self.sample_range)
        interval = self.sample_range // t
        if train:
            starts = np.array([0 if positions == 1 else int(rng.integers(0, positions - 1))])
        else:
            starts = np.linspace(0, positions - 1, num=num_clips, dtype=int)  # the release: num_clips = 10
        idx = starts.astype(np.int64)[:, None] + (np.arange(t) * interval)[None, :]
        return np.mod(idx, n)
