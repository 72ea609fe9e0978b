"""Samplers: TSN segments, dense clips, uniform spacing, multi-view test sampling, short videos."""

from __future__ import annotations

import numpy as np
import pytest

from actionlab.data.sampling import DenseSampler, SegmentSampler, UniformSampler, build_sampler, parse_views
from actionlab.errors import ConfigError


def rng(seed=0):
    return np.random.default_rng(seed)


def test_segment_train_takes_one_random_frame_per_segment():
    s = SegmentSampler(8)
    draws = np.concatenate([s(100, rng(k), True) for k in range(200)])
    assert draws.shape == (200, 8)
    d = 100 // 8
    seg = np.arange(8) * d
    assert ((draws >= seg) & (draws < seg + d)).all()
    assert all(len(np.unique(draws[:, t])) == d for t in range(8))  # every offset of a segment is used
    assert np.array_equal(s(100, rng(3), True), s(100, rng(3), True))  # deterministic given a seed


def test_segment_test_takes_middle_frames_and_more_clips():
    s = SegmentSampler(4)
    assert s(40, rng(), False).tolist() == [[5, 15, 25, 35]]
    two = s(40, rng(), False, num_clips=2)
    assert two.tolist() == [[2, 12, 22, 32], [7, 17, 27, 37]]
    twice = SegmentSampler(4, twice_sample=True)(40, rng(), False)
    assert twice.tolist() == [[5, 15, 25, 35], [0, 10, 20, 30]]


def test_short_videos_repeat_frames_in_order():
    s = SegmentSampler(8)
    assert s(5, rng(), False).tolist() == [[0, 0, 1, 2, 2, 3, 4, 4]]
    assert s(5, rng(), True).tolist() == [[0, 1, 1, 2, 2, 3, 4, 4]]
    assert s(1, rng(), True).tolist() == [[0] * 8]
    assert UniformSampler(8)(4, rng(), False).tolist() == [[0, 0, 1, 1, 2, 2, 3, 3]]


def test_dense_clip_at_stride_and_loop_for_short_videos():
    s = DenseSampler(4, 2)
    for k in range(20):
        (clip,) = s(30, rng(k), True)
        assert np.array_equal(np.diff(clip), [2, 2, 2]) and clip[0] >= 0 and clip[-1] < 30
    three = s(30, rng(), False, num_clips=3)
    assert three[:, 0].tolist() == [3, 11, 19] and (np.diff(three, axis=1) == 2).all()
    assert s(5, rng(), True).tolist() == [[0, 2, 4, 1]]  # 0, 2, 4, 6 mod 5: loops like MMAction2


def test_uniform_is_equally_spaced_with_one_offset():
    s = UniformSampler(4)
    assert s(40, rng(), False).tolist() == [[5, 15, 25, 35]]
    for k in range(10):
        (clip,) = s(40, rng(k), True)
        assert np.array_equal(np.diff(clip), [10, 10, 10])


def test_views_and_config_errors():
    assert parse_views("10x3") == (10, 3) and parse_views("1x1") == (1, 1)
    for bad in ("3", "2x4", "0x1", "axb"):
        with pytest.raises(ConfigError, match="test.views"):
            parse_views(bad)
    with pytest.raises(ConfigError, match="data.sampler"):
        build_sampler("random", 8)
    assert isinstance(build_sampler("dense", 8, 4), DenseSampler)
