"""uint8 transforms: one crop/flip per clip, TSN multi-scale crop, test crops, boxes that follow them, normalize."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actionlab.data.transforms import (
    TestTransform,
    TrainTransform,
    multiscale_crop_box,
    normalize,
    random_resized_crop_box,
    short_side_size,
)
from actionlab.norms import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD


def _frames_with_box(t=4, h=48, w=64, box=(20, 10, 36, 30)):
    """Dark frames with a bright rectangle: returns (frames [T, H, W, 3] uint8, boxes [T, 4])."""
    frames = torch.full((t, h, w, 3), 20, dtype=torch.uint8)
    x1, y1, x2, y2 = box
    frames[:, y1:y2, x1:x2] = 250
    return frames, torch.tensor([box] * t, dtype=torch.float32)


def _bright_bbox(img: torch.Tensor) -> list[float] | None:
    """Bounding box (x1, y1, x2, y2) of the pixels brighter than mid-grey in [3, H, W]."""
    ys, xs = torch.nonzero(img.float().mean(0) > 135, as_tuple=True)
    if len(xs) == 0:
        return None
    return [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]


def test_normalize_matches_the_formula_on_any_leading_shape():
    clip = torch.randint(0, 256, (2, 3, 3, 4, 5, 5), dtype=torch.uint8)  # [N, V, C, T, H, W]
    out = normalize(clip, IMAGENET_MEAN, IMAGENET_STD)
    m = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    s = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (clip.float() / 255 - m) / s)
    torch.testing.assert_close(normalize(clip, "clip"), normalize(clip, CLIP_MEAN, CLIP_STD))
    torch.testing.assert_close(normalize(clip, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]), out)


@pytest.mark.parametrize("crop", ["multiscale", "random_resized", "center"])
def test_train_transform_same_crop_for_every_frame_and_boxes_follow(crop):
    frames, boxes = _frames_with_box()
    t = TrainTransform(32, 48, crop, flip=True)
    flips = set()
    for seed in range(12):
        clip, out_boxes, (c,) = t(frames, np.random.default_rng(seed), boxes)
        assert clip.shape == (1, 3, 4, 32, 32) and clip.dtype == torch.uint8
        assert all(torch.equal(clip[0, :, 0], clip[0, :, k]) for k in range(4))  # one crop/flip per clip
        flips.add(c.flip)
        seen = _bright_bbox(clip[0, :, 0])
        b = out_boxes[0, 0]
        if seen is None:
            assert torch.isnan(b).all() or (b[2] - b[0]) * (b[3] - b[1]) < 4
        else:
            assert np.allclose(seen, b.tolist(), atol=1.5), (seed, seen, b.tolist())
    assert flips == {True, False}


def test_flip_mirrors_the_unflipped_crop():
    frames = torch.randint(0, 256, (2, 40, 40, 3), dtype=torch.uint8)
    t = TrainTransform(40, 40, "center", flip=True)
    outs = {}
    for seed in range(10):
        clip, _, (c,) = t(frames, np.random.default_rng(seed))
        outs[c.flip] = clip
    assert torch.equal(outs[True], outs[False].flip(-1))
    assert torch.equal(outs[False][0].permute(1, 2, 3, 0), frames)  # no resize: the frames themselves


def test_multiscale_crop_uses_tsn_scales_and_fixed_positions():
    sizes, positions = set(), set()
    for seed in range(300):
        x, y, w, h = multiscale_crop_box(256, 340, 224, np.random.default_rng(seed))
        sizes.add((w, h))
        positions.add((x, y))
        assert 0 <= x <= 340 - w and 0 <= y <= 256 - h
    allowed = {256, 224, 192, 168}  # 1, .875 (snapped to 224), .75, .66 of 256
    assert {w for w, _ in sizes} <= allowed and {h for _, h in sizes} <= allowed
    assert all(abs(sorted(allowed).index(w) - sorted(allowed).index(h)) <= 1 for w, h in sizes)
    assert len(positions) > 13  # 13 fixed offsets per crop size


def test_random_resized_crop_area_and_ratio():
    for seed in range(50):
        x, y, w, h = random_resized_crop_box(100, 200, np.random.default_rng(seed), (0.2, 0.5), (0.75, 1.33))
        assert 0 <= x <= 200 - w and 0 <= y <= 100 - h
        assert 0.18 <= w * h / 20000 <= 0.52


@pytest.mark.parametrize("crops", [1, 3, 10])
def test_test_transform_views_and_boxes(crops):
    frames, boxes = _frames_with_box(t=6)
    t = TestTransform(32, 40, crops)
    clip, out_boxes, used = t(frames, num_clips=2, boxes=boxes.view(2, 3, 4))
    assert short_side_size(48, 64, 40) == (40, 53)
    assert clip.shape == (2 * crops, 3, 3, 32, 32) and out_boxes.shape == (2 * crops, 3, 4)
    for v in range(2 * crops):
        seen = _bright_bbox(clip[v, :, 0])
        if seen is not None:
            assert np.allclose(seen, out_boxes[v, 0].tolist(), atol=1.5), (v, seen, out_boxes[v, 0])
    if crops == 3:  # along the long (horizontal) side
        assert [c.x for c in used] == [0, 10, 21] and len({c.y for c in used}) == 1
    if crops == 10:
        assert torch.equal(clip[5], clip[0].flip(-1))


def test_test_crop_larger_than_frame_is_a_config_error():
    from actionlab.errors import ConfigError

    with pytest.raises(ConfigError, match="input_size"):
        TestTransform(64, 32, 1)(torch.zeros(2, 48, 64, 3, dtype=torch.uint8))
