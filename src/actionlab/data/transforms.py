"""Spatial transforms on uint8 clips, one random draw per clip, batched over frames.

Frames arrive from the readers as uint8 [N, H, W, 3]; `permute(0, 3, 1, 2)` views
them as [N, 3, H, W] in channels-last memory, which is the layout torch's uint8
bilinear (antialiased) resize is fastest on.  A crop is a slice (no copy); every
training clip is resized once, straight from the source crop to the model's
input size (the TSN/MMAction2 chain resize-short-side -> crop -> resize is
composed into one interpolation).  All frames of a clip share the same crop and
flip, so motion is preserved.

Training crops (`data.train_crop`):
  multiscale      TSN's MultiScaleCrop on the frame resized to short side `scale_size`:
                  crop sides from {1, .875, .75, .66} x short side (sides within 3 px of
                  the input size snap to it), width/height scales at most one step apart,
                  placed at one of 13 fixed positions (corners, centre, edge middles,
                  quarter points); resized to input_size x input_size.
  random_resized  Inception-style crop: area in `options.rrc_scale` (default .08-1) of
                  the frame, aspect in `options.rrc_ratio` (3/4-4/3), 10 tries then centre.
  center          centre crop of the short-side-resized frame.
Test crops (`test.views` = clips x crops): the frames are resized to short side
`scale_size`, then 1 = centre crop, 3 = three crops along the long side (left/centre/
right or top/centre/bottom), 5 = four corners + centre, 10 = those five and their
horizontal flips (TSN's oversampling).
Test styles (`data.test_style`, a pretrained release's own pipeline, to the pixel: tests/test_release_pipelines.py):
  actionlab  the above; antialiased bilinear, centre offsets rounded.
  mmaction2  MMAction2 1.2.0: short side by mmcv's rescale_size (int(side * scale + 0.5)), OpenCV's bilinear
             without antialiasing (`release_resize.resize_opencv`); CenterCrop offsets floored ((w - s) // 2);
             ThreeCrop at 0, 2 * step, step along the long side (step = (long - s) // 2; the other side
             floored); TenCrop = TSN's five positions and their flips.
  tsm        the TSM release (torchvision + PIL): the long side truncated (int(size * long / short)), PIL's
             bilinear (`release_resize.resize_pil`); CenterCrop offsets rounded; 3 crops = GroupFullResSample
             (left / right / centre at x = 0, 4 * step, 2 * step with step = (w - s) // 4, y = 2 * ((h - s) // 4),
             never flipped); 5 / 10 crops = GroupOverSample (its five positions; 10 adds their flips).
Horizontal flip (training, p=0.5) swaps class labels through a label map (the
dataset applies it; Something-Something V2 swaps its left/right classes).

Boxes ([..., 4] x1, y1, x2, y2 in source pixels, NaN = unknown) follow the same
crop, resize and flip; a box that leaves the crop entirely becomes NaN.

`normalize` turns uint8 clips into float on whatever device they are on:
(x / 255 - mean) / std with ImageNet or CLIP statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..norms import MEAN_STD

TSN_SCALES = (1.0, 0.875, 0.75, 0.66)


def tells_left_from_right(class_names: Sequence[str]) -> bool:
    """Whether a label set has classes a horizontal flip turns into others ('from left to right', 'Swiping
    Left'): mirrored test views would average a clip with its opposite class."""
    import re

    return any(re.search(r"\b(left|right)\b", str(n), re.IGNORECASE) for n in class_names)


# --------------------------------------------------------------------------- normalisation


def normalize(clip: torch.Tensor, mean: Sequence[float] | str = "imagenet", std: Sequence[float] | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 clips [..., C, T, H, W] (values 0-255) -> float (x/255 - mean)/std, on the clip's device.

    mean/std: per-channel values in 0-1 (or 0-255, detected by a mean above 1), or mean="imagenet"/"clip".
    """
    if isinstance(mean, str):
        if mean not in MEAN_STD:
            raise ConfigError(f"unknown normalisation {mean!r}: expected one of {', '.join(MEAN_STD)}")
        mean, std = MEAN_STD[mean]
    if std is None:
        raise ValueError("normalize needs std when mean is given as numbers")
    if clip.dim() < 4:
        raise ValueError(f"normalize expects [..., C, T, H, W], got shape {tuple(clip.shape)}")
    m = torch.as_tensor(mean, dtype=torch.float64)
    s = torch.as_tensor(std, dtype=torch.float64)
    if float(m.max()) > 1.0:  # statistics given in 0-255
        m, s = m / 255.0, s / 255.0
    shape = [1] * clip.dim()
    shape[-4] = m.numel()
    scale = (1.0 / (255.0 * s)).to(dtype=dtype, device=clip.device).view(shape)
    shift = (-m / s).to(dtype=dtype, device=clip.device).view(shape)
    return torch.addcmul(shift, clip.to(dtype), scale)


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Crop:
    """A crop (x, y, w, h) in source pixels, resized to out_w x out_h, optionally flipped."""

    x: int
    y: int
    w: int
    h: int
    out_w: int
    out_h: int
    flip: bool = False


def short_side_size(h: int, w: int, short: int) -> tuple[int, int]:
    """(h, w) with the short side `short` and the aspect ratio kept (rounded like MMAction2)."""
    if short <= 0:
        return h, w
    if h <= w:
        return short, max(1, int(w * short / h + 0.5))
    return max(1, int(h * short / w + 0.5)), short


def release_resize_size(h: int, w: int, short: int, style: str = "actionlab") -> tuple[int, int]:
    """(h, w) with the short side `short`, rounded the way `style`'s release rounds the long side."""
    if short <= 0:
        return h, w
    if style == "mmaction2":  # mmcv.rescale_size: scale factor first, then int(x * scale + 0.5)
        scale = short / min(h, w)
        return int(h * scale + 0.5), int(w * scale + 0.5)
    if style == "tsm":  # torchvision's Resize(int): the long side truncated
        return (short, int(short * w / h)) if h <= w else (int(short * h / w), short)
    return short_side_size(h, w, short)


def resize_styled(frames: torch.Tensor, size: tuple[int, int], style: str = "actionlab") -> torch.Tensor:
    """uint8 [N, C, H, W] -> [N, C, *size] with `style`'s interpolation (see the module docstring)."""
    if style == "mmaction2":
        from .release_resize import resize_opencv

        return resize_opencv(frames, size)
    if style == "tsm":
        from .release_resize import resize_pil

        return resize_pil(frames, size)
    return resize(frames, size)


def resize(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> [N, C, *size], bilinear with antialiasing (uint8 fast path)."""
    if tuple(frames.shape[-2:]) == tuple(size):
        return frames
    return F.interpolate(frames, size=size, mode="bilinear", antialias=True, align_corners=False)


def hflip(frames: torch.Tensor) -> torch.Tensor:
    return frames.flip(-1)


def center_crop_box(h: int, w: int, size: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the centred size x size square (rounded like TSN's GroupCenterCrop)."""
    return int(round((w - size) / 2.0)), int(round((h - size) / 2.0)), size, size


def three_crop_boxes(h: int, w: int, size: int) -> list[tuple[int, int, int, int]]:
    """Three size x size squares along the long side: start, centre, end."""
    if w >= h:
        xs = [0, (w - size) // 2, w - size]
        return [(x, (h - size) // 2, size, size) for x in xs]
    ys = [0, (h - size) // 2, h - size]
    return [((w - size) // 2, y, size, size) for y in ys]


def five_crop_boxes(h: int, w: int, size: int) -> list[tuple[int, int, int, int]]:
    """Four corners and the centre (TSN's fixed oversampling positions)."""
    sw, sh = (w - size) // 4, (h - size) // 4
    return [(0, 0, size, size), (4 * sw, 0, size, size), (0, 4 * sh, size, size),
            (4 * sw, 4 * sh, size, size), (2 * sw, 2 * sh, size, size)]


def release_crop_boxes(h: int, w: int, size: int, num_crops: int, style: str) -> list[tuple[int, int, int, int]]:
    """The unflipped crop boxes of a release's test crops (`style` mmaction2 or tsm) on an h x w frame."""
    if num_crops == 1:
        if style == "mmaction2":  # CenterCrop: floored
            return [((w - size) // 2, (h - size) // 2, size, size)]
        return [center_crop_box(h, w, size)]  # torchvision's CenterCrop: Python's round
    if num_crops == 3 and style == "mmaction2":  # ThreeCrop: left, right, middle along the long side
        if w >= h:
            step = (w - size) // 2
            return [(x, (h - size) // 2, size, size) for x in (0, 2 * step, step)]
        step = (h - size) // 2
        return [((w - size) // 2, y, size, size) for y in (0, 2 * step, step)]
    sw, sh = (w - size) // 4, (h - size) // 4
    if num_crops == 3:  # TSM's GroupFullResSample: left, right, centre at the middle height
        return [(0, 2 * sh, size, size), (4 * sw, 2 * sh, size, size), (2 * sw, 2 * sh, size, size)]
    return five_crop_boxes(h, w, size)  # TenCrop / GroupOverSample positions (5 and 10 crops)


def _fixed_offsets(w: int, h: int, cw: int, ch: int) -> list[tuple[int, int]]:
    """TSN's 13 fixed crop positions (more_fix_crop)."""
    sw, sh = (w - cw) // 4, (h - ch) // 4
    return [(0, 0), (4 * sw, 0), (0, 4 * sh), (4 * sw, 4 * sh), (2 * sw, 2 * sh),
            (0, 2 * sh), (4 * sw, 2 * sh), (2 * sw, 4 * sh), (2 * sw, 0),
            (1 * sw, 1 * sh), (3 * sw, 1 * sh), (1 * sw, 3 * sh), (3 * sw, 3 * sh)]


def multiscale_crop_box(h: int, w: int, input_size: int, rng: np.random.Generator,
                        scales: Sequence[float] = TSN_SCALES, max_distort: int = 1) -> tuple[int, int, int, int]:
    """TSN MultiScaleCrop on an h x w frame: (x, y, crop_w, crop_h)."""
    base = min(h, w)
    sizes = [int(base * s) for s in scales]
    snapped = [input_size if abs(s - input_size) < 3 else s for s in sizes]
    pairs = [(cw, ch) for i, ch in enumerate(snapped) for j, cw in enumerate(snapped) if abs(i - j) <= max_distort]
    cw, ch = pairs[int(rng.integers(len(pairs)))]
    cw, ch = min(cw, w), min(ch, h)
    offsets = _fixed_offsets(w, h, cw, ch)
    x, y = offsets[int(rng.integers(len(offsets)))]
    return x, y, cw, ch


def random_resized_crop_box(h: int, w: int, rng: np.random.Generator, scale: Sequence[float] = (0.08, 1.0),
                            ratio: Sequence[float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """Inception-style crop (random area fraction and log-uniform aspect): (x, y, crop_w, crop_h)."""
    area = h * w
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        cw = int(round(math.sqrt(target * aspect)))
        ch = int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1)), cw, ch
    in_ratio = w / h  # fallback: the largest centred crop inside the ratio range
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (w - cw) // 2, (h - ch) // 2, cw, ch


def map_boxes(boxes: torch.Tensor, crop: Crop) -> torch.Tensor:
    """Boxes [..., 4] (x1, y1, x2, y2) in source pixels -> output-clip pixels under `crop`; NaN if cut away."""
    sx, sy = crop.out_w / crop.w, crop.out_h / crop.h
    x1 = ((boxes[..., 0] - crop.x) * sx).clamp(0, crop.out_w)
    x2 = ((boxes[..., 2] - crop.x) * sx).clamp(0, crop.out_w)
    y1 = ((boxes[..., 1] - crop.y) * sy).clamp(0, crop.out_h)
    y2 = ((boxes[..., 3] - crop.y) * sy).clamp(0, crop.out_h)
    if crop.flip:
        x1, x2 = crop.out_w - x2, crop.out_w - x1
    out = torch.stack([x1, y1, x2, y2], dim=-1)
    empty = ((x2 - x1) <= 0) | ((y2 - y1) <= 0)
    return out.masked_fill(empty.unsqueeze(-1), float("nan"))


# --------------------------------------------------------------------------- clip transforms


def _to_nchw(frames: torch.Tensor) -> torch.Tensor:
    """[N, H, W, 3] uint8 -> [N, 3, H, W] view (channels-last memory)."""
    return frames.permute(0, 3, 1, 2)


def _to_views(frames: torch.Tensor, views: int) -> torch.Tensor:
    """[V*T, 3, S, S] -> [V, 3, T, S, S] contiguous."""
    vt, c, h, w = frames.shape
    return frames.reshape(views, vt // views, c, h, w).permute(0, 2, 1, 3, 4).contiguous()


@dataclass
class TrainTransform:
    """One random crop (+ flip) per clip; output uint8 [1, C, T, S, S]."""

    input_size: int = 224
    scale_size: int = 256
    crop: str = "multiscale"
    flip: bool = True
    scales: Sequence[float] = TSN_SCALES
    rrc_scale: Sequence[float] = (0.08, 1.0)
    rrc_ratio: Sequence[float] = (3 / 4, 4 / 3)

    def __post_init__(self) -> None:
        if self.crop not in ("multiscale", "random_resized", "center"):
            raise ConfigError(f"config key 'data.train_crop' expects multiscale, random_resized or center, "
                              f"got {self.crop!r}")

    def draw(self, h: int, w: int, rng: np.random.Generator) -> Crop:
        """The crop for a source frame of h x w, drawn from `rng`."""
        s = self.input_size
        if self.crop == "random_resized":
            x, y, cw, ch = random_resized_crop_box(h, w, rng, self.rrc_scale, self.rrc_ratio)
        else:
            rh, rw = short_side_size(h, w, self.scale_size)
            if self.crop == "multiscale":
                x, y, cw, ch = multiscale_crop_box(rh, rw, s, rng, self.scales)
            else:
                side = min(s, rh, rw)
                x, y, cw, ch = center_crop_box(rh, rw, side)
            fx, fy = w / rw, h / rh  # back to source pixels
            x, y = int(round(x * fx)), int(round(y * fy))
            cw, ch = max(1, min(w - x, int(round(cw * fx)))), max(1, min(h - y, int(round(ch * fy))))
        flip = bool(self.flip and rng.random() < 0.5)
        return Crop(x, y, cw, ch, s, s, flip)

    def __call__(self, frames: torch.Tensor, rng: np.random.Generator, boxes: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None, list[Crop]]:
        """frames uint8 [T, H, W, 3] -> (clip [1, 3, T, S, S], boxes [1, T, 4] or None, [crop])."""
        crop = self.draw(frames.shape[1], frames.shape[2], rng)
        x = _to_nchw(frames)[:, :, crop.y: crop.y + crop.h, crop.x: crop.x + crop.w]
        x = resize(x, (crop.out_h, crop.out_w))
        if crop.flip:
            x = hflip(x)
        out_boxes = map_boxes(boxes, crop).unsqueeze(0) if boxes is not None else None
        return _to_views(x, 1), out_boxes, [crop]


@dataclass
class TestTransform:
    """Short side to `scale_size`, then `num_crops` deterministic crops per clip (views clip-major)."""

    __test__ = False  # not a pytest test class

    input_size: int = 224
    scale_size: int = 256
    num_crops: int = 1
    style: str = "actionlab"  # actionlab | mmaction2 | tsm (data.test_style)

    def __post_init__(self) -> None:
        if self.num_crops not in (1, 3, 5, 10):
            raise ConfigError(f"number of test crops must be 1, 3, 5 or 10, got {self.num_crops}")
        if self.style not in ("actionlab", "mmaction2", "tsm"):
            raise ConfigError(f"config key 'data.test_style' expects actionlab, mmaction2 or tsm, got {self.style!r}")

    def crops(self, h: int, w: int) -> list[Crop]:
        """The crops of a frame already resized to (h, w)."""
        s = self.input_size
        if s > min(h, w):
            raise ConfigError(f"config key 'data.input_size' ({s}) is larger than the test frame's short side "
                              f"({min(h, w)}): raise data.scale_size")
        if self.style != "actionlab":
            boxes = release_crop_boxes(h, w, s, self.num_crops, self.style)
        elif self.num_crops == 1:
            boxes = [center_crop_box(h, w, s)]
        elif self.num_crops == 3:
            boxes = three_crop_boxes(h, w, s)
        else:
            boxes = five_crop_boxes(h, w, s)
        out = [Crop(x, y, cw, ch, s, s, False) for x, y, cw, ch in boxes]
        if self.num_crops == 10:
            out += [Crop(c.x, c.y, c.w, c.h, s, s, True) for c in out]
        return out

    def __call__(self, frames: torch.Tensor, num_clips: int = 1, boxes: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor | None, list[Crop]]:
        """frames uint8 [clips*T, H, W, 3] -> (clip [clips*crops, 3, T, S, S], boxes [V, T, 4] or None, crops).

        boxes: [clips, T, 4] in source pixels.  `crops` are in resized-frame pixels.
        """
        n, h, w, _ = frames.shape
        t = n // num_clips
        rh, rw = release_resize_size(h, w, self.scale_size, self.style)
        x = resize_styled(_to_nchw(frames), (rh, rw), self.style).reshape(num_clips, t, 3, rh, rw)
        crops = self.crops(rh, rw)
        views = []
        for clip in x:
            for c in crops:
                v = clip[:, :, c.y: c.y + c.h, c.x: c.x + c.w]
                views.append(hflip(v) if c.flip else v)
        out = torch.stack(views).permute(0, 2, 1, 3, 4).contiguous()  # [V, 3, T, S, S]
        out_boxes = None
        if boxes is not None:
            scaled = boxes * torch.tensor([rw / w, rh / h, rw / w, rh / h], dtype=boxes.dtype)
            out_boxes = torch.stack([map_boxes(scaled[k], c) for k in range(num_clips) for c in crops])
        return out, out_boxes, crops
