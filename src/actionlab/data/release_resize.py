"""The releases' own resizing, to the pixel, in torch: OpenCV's bilinear (MMAction2) and PIL's (the TSM release).

A model is tested best on the pixels it was trained on.  The two families of pretrained weights resize frames
differently, and both differ from torch's antialiased bilinear by up to a grey level on many pixels:

OpenCV `cv2.resize(img, (w, h), interpolation=INTER_LINEAR)` on uint8 (MMAction2's `Resize` through
`mmcv.imresize`): no antialiasing; source coordinate (d + 0.5) * src/dst - 0.5 in float32, taps clamped at
the borders; weights in 11-bit fixed point (round(w * 2048), each of the two rounded on its own); the
horizontal pass keeps the exact integer sums, the vertical pass is OpenCV's vector kernel:
((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2) >> 2.  An exact 2x reduction in both directions is
OpenCV's INTER_AREA (the mean of each 2 x 2 block, rounded).  Checked bit for bit against OpenCV 4.8.1, 4.14
and 5.1 (tests/test_release_pipelines.py pins the values).

PIL `Image.resize((w, h), Image.BILINEAR)` (torchvision's Resize on PIL images, the TSM release's
GroupScale): a triangle filter widened by the reduction factor (antialiasing), weights normalised in double
precision then rounded to 22-bit fixed point; horizontal pass first, rounded to uint8, then the vertical pass.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

_CV_BITS = 11  # INTER_RESIZE_COEF_BITS
_PIL_BITS = 22  # PRECISION_BITS of Pillow's 8-bit resampling


# --------------------------------------------------------------------------- OpenCV INTER_LINEAR


@functools.lru_cache(maxsize=64)
def _cv_taps(src: int, dst: int, clamp_weights: bool) -> tuple[torch.Tensor, ...]:
    """(first tap, second tap, weight0, weight1) per output position, in OpenCV's float32 and fixed point.

    clamp_weights: the horizontal pass also moves the weight onto the edge pixel outside the image; the vertical
    pass only clamps the row index (its weights stay as computed)."""
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * (1.0 / (dst / src)) - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    if clamp_weights:
        f[s < 0] = 0
        s[s < 0] = 0
        edge = s >= src - 1
        f[edge] = 0
        s[edge] = src - 1
    scale = np.float32(1 << _CV_BITS)
    w0 = np.rint((np.float32(1) - f).astype(np.float32) * scale).astype(np.int32)
    w1 = np.rint(f * scale).astype(np.int32)
    i0, i1 = np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1)
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (i0, i1, w0, w1))


def resize_opencv(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> [N, C, *size] exactly as OpenCV's INTER_LINEAR (no antialiasing)."""
    h, w = int(size[0]), int(size[1])
    n, c, src_h, src_w = frames.shape
    if (src_h, src_w) == (h, w):
        return frames
    x = frames.to(torch.int32)
    if src_w == 2 * w and src_h == 2 * h:  # OpenCV switches to INTER_AREA for an exact halving
        blocks = x[:, :, 0::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 0::2] + x[:, :, 1::2, 1::2]
        return ((blocks + 2) >> 2).to(torch.uint8)
    x0, x1, a0, a1 = _cv_taps(src_w, w, True)
    y0, y1, b0, b1 = _cv_taps(src_h, h, False)

    def horizontal(rows: torch.Tensor) -> torch.Tensor:  # exact integer sums, up to 255 * 2048
        sel = x.index_select(2, rows)
        return sel.index_select(3, x0) * a0 + sel.index_select(3, x1) * a1

    top = (horizontal(y0) >> 4) * b0.view(-1, 1) >> 16
    bottom = (horizontal(y1) >> 4) * b1.view(-1, 1) >> 16
    return ((top + bottom + 2) >> 2).clamp_(0, 255).to(torch.uint8)


# --------------------------------------------------------------------------- PIL BILINEAR


@functools.lru_cache(maxsize=64)
def _pil_taps(src: int, dst: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(source index [dst, K], fixed-point weight [dst, K]) of Pillow's bilinear filter; unused taps weigh 0."""
    scale = src / dst
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale
    inv = 1.0 / filterscale  # Pillow multiplies by the inverse (a division rounds differently)
    ksize = int(math.ceil(support)) * 2 + 1
    index = np.zeros((dst, ksize), dtype=np.int64)
    weight = np.zeros((dst, ksize), dtype=np.int64)
    for xx in range(dst):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), src) - xmin
        k = [max(0.0, 1.0 - abs((x + xmin - center + 0.5) * inv)) for x in range(xmax)]
        total = sum(k)
        for x, kx in enumerate(k):
            kx = kx / total if total != 0 else kx
            weight[xx, x] = int(0.5 + kx * (1 << _PIL_BITS)) if kx >= 0 else int(-0.5 + kx * (1 << _PIL_BITS))
            index[xx, x] = xmin + x
    return torch.from_numpy(index), torch.from_numpy(weight)


def _pil_pass(x: torch.Tensor, src: int, dst: int, dim: int) -> torch.Tensor:
    """One separable pass of Pillow's 8-bit resampling along `dim` (int64 in, uint8-valued int64 out)."""
    index, weight = _pil_taps(src, dst)
    taps = x.index_select(dim, index.reshape(-1))
    shape = list(x.shape)
    shape[dim: dim + 1] = [dst, index.shape[1]]
    taps = taps.reshape(shape)
    wshape = [1] * len(shape)
    wshape[dim], wshape[dim + 1] = dst, index.shape[1]
    acc = (taps * weight.view(wshape)).sum(dim + 1) + (1 << (_PIL_BITS - 1))
    return (acc >> _PIL_BITS).clamp_(0, 255)


def resize_pil(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 [N, C, H, W] -> [N, C, *size] exactly as Pillow's `Image.resize(..., Image.BILINEAR)`."""
    h, w = int(size[0]), int(size[1])
    n, c, src_h, src_w = frames.shape
    if (src_h, src_w) == (h, w):
        return frames
    x = frames.to(torch.int64)
    if src_w != w:
        x = _pil_pass(x, src_w, w, 3)
    if src_h != h:
        x = _pil_pass(x, src_h, h, 2)
    return x.to(torch.uint8)
