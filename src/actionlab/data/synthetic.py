"""The built-in temporal benchmark: generated videos whose classes only time can tell apart.

Design
------
Classes come in pairs whose second member is the *time reversal* of the first:

    move_right / move_left    a rounded square translating horizontally
    rotate_cw  / rotate_ccw   a hand with a round tip turning about a hub by 110-180 degrees
    grow       / shrink       a disk whose radius grows 3-4x
    a_then_b   / b_then_a     a square shown first, then a ring (the order is the class)

A video of the second class is rendered exactly like one of the first class and then
played backwards, and every nuisance (start phase, position, speed, colours, background
texture, per-frame noise) is drawn from the same distribution for both.  So frame t of
one class has the same distribution as frame F-1-t of its partner, and the *multiset*
of frames of a video is equally likely under both classes.  A model without temporal
reasoning - TSN, whose average consensus is invariant to the order of its segments -
therefore cannot beat chance inside a pair (with `frames` a multiple of the number of
segments, TSN's segments are symmetric under reversal too); it can still tell the pairs
apart (50% accuracy over 8 classes), while any model that sees order can reach ~100%.
The motion covers about half the frame over the clip, so a 64-px, 8-frame TSM learns it
in a few CPU minutes; random phase, position, colours and noise keep it from being trivial.
Measured (order variant, 40 training / 12 test videos per class, 32 frames, crop 56,
tsm_r18_tiny vs tsn_r18_tiny from scratch, AdamW 2e-3, batch 16, 16 epochs = ~70 CPU-s
each): TSM 92-96% test accuracy, TSN 31-48% (it finds the pair, ~90-96%, then guesses).
The finegrained variant is harder by design: ART's backbone (tsm_r18_tiny_os8, 32 px, SGD, 8 epochs of
32 videos a class = 128 steps) reaches 28-33% top-1 over 3 seeds (benchmarks/art.md); with the part
at 0.55 of the body's scale (before) it stayed at chance for the first ~100 steps.

Variants
--------
order        the pairs above, the whole frame.
finegrained  a large body (a rectangle) drifts in a random direction, identically for all
             classes; a small part (0.8x the order variant's objects) moves *relative to the
             body* in the way that defines the class.  For region-tracking models (ART).
distractor   the action fills a middle segment (40-60% of the frames); the frames around it
             show a distractor (a jittering disk) and a static cue patch whose colour, in
             train/val, is the label's colour with probability `cue_prob` (else a random
             class's); in test the cue is random.  A model that attends to the action frames
             keeps its accuracy on test; one that learned the cue loses it.  For temporal
             fidelity (TFE).  `cue_prob` sets the train/val cue-label correlation (0 = none,
             1 = always the label's); `test_cue="conflict"` gives every test video the cue
             of another class than its label (cue-conflicting test videos).
In 'finegrained' classes.txt names each class by what it shows (`FINEGRAINED_NAMES`, e.g. "turning a
small hand clockwise beside a drifting body"); the video files keep the short ids (rotate_cw_0000.mp4).
The per-frame box is the moving part: the object (order), the small part (finegrained),
the object in the action frames and null elsewhere (distractor).

Output (all paths relative to OUT)
----------------------------------
    videos/{split}/{class}_{i:04d}.mp4    H.264 (yuv420p) written with PyAV
    train.txt, val.txt, test.txt          generic lists "path label"
    classes.txt                           one class name per line
    annotations.json                      {"variant", "size", "frames", "fps", "classes",
                                           "videos": {path: {"label", "split", "action_frames":
                                           [[start, end)], "distractor_frames": [[start, end)],
                                           "boxes": [[x1, y1, x2, y2] | null per frame], "cue": k}}}
    data.yaml                             a config fragment (data section) to `_base_` on.  Flip
                                          is off: a flip mirrors move_right/move_left and
                                          rotate_cw/rotate_ccw into each other (its
                                          flip_label_map says so, for data.flip=true), and with
                                          it the rotation direction becomes a position-times-
                                          motion relation a tiny TSM no longer learns in minutes
Generation is deterministic: video i of class c in a split draws from
`numpy.random.default_rng([seed, split, c, i])`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

PAIRS: dict[str, tuple[str, str]] = {
    "move": ("move_right", "move_left"),
    "rotate": ("rotate_cw", "rotate_ccw"),
    "size": ("grow", "shrink"),
    "order": ("a_then_b", "b_then_a"),
}
CLASS_TO_PAIR = {name: (pair, k) for pair, names in PAIRS.items() for k, name in enumerate(names)}
#: a horizontal flip turns these classes into their partner (the flip label map of the data config)
FLIP_SWAPS = {"move_right": "move_left", "rotate_cw": "rotate_ccw"}
DEFAULT_CLASSES = tuple(name for names in PAIRS.values() for name in names)
#: what each class *is* in the finegrained variant, written to classes.txt: a text-seeded model (ART) reads
#: these phrases, and an arbitrary token ("a_then_b") would give its text constraint nothing to use.  The
#: files keep the short ids; the phrases are gerunds, so ART's templates ("The person is {}") read as sentences.
FINEGRAINED_NAMES: dict[str, str] = {
    "move_right": "moving a small square to the right beside a drifting body",
    "move_left": "moving a small square to the left beside a drifting body",
    "rotate_cw": "turning a small hand clockwise beside a drifting body",
    "rotate_ccw": "turning a small hand counterclockwise beside a drifting body",
    "grow": "growing a small disk beside a drifting body",
    "shrink": "shrinking a small disk beside a drifting body",
    "a_then_b": "changing a small square into a ring beside a drifting body",
    "b_then_a": "changing a small ring into a square beside a drifting body",
}
VARIANTS = ("order", "finegrained", "distractor")
SPLITS = ("train", "val", "test")
TEST_CUES = ("random", "conflict", "none")
#: where the distractor variant's cue patch sits in time: every frame outside the action (the default), only
#: before it, only after it, or in every frame (the action's too)
CUE_FRAMES = ("outside", "before", "after", "all")


@dataclass
class SynthResult:
    """What `generate` wrote."""

    root: Path
    class_names: list[str]
    counts: dict[str, int]  # videos per split
    config: Path  # data.yaml


# --------------------------------------------------------------------------- drawing


class Canvas:
    """Soft-edged shapes on [F, S, S] grids: each returns coverage in [0, 1] per frame."""

    def __init__(self, size: int):
        self.size = size
        coords = np.arange(size, dtype=np.float32) + 0.5
        self.x = coords[None, None, :]
        self.y = coords[None, :, None]

    @staticmethod
    def _col(v: np.ndarray | float) -> np.ndarray:
        return np.asarray(v, dtype=np.float32).reshape(-1, 1, 1)

    def disk(self, cx, cy, r) -> np.ndarray:
        cx, cy, r = self._col(cx), self._col(cy), self._col(r)
        d = np.sqrt((self.x - cx) ** 2 + (self.y - cy) ** 2) - r
        return np.clip(0.5 - d, 0.0, 1.0)

    def ring(self, cx, cy, r, width) -> np.ndarray:
        cx, cy, r, width = self._col(cx), self._col(cy), self._col(r), self._col(width)
        d = np.abs(np.sqrt((self.x - cx) ** 2 + (self.y - cy) ** 2) - r) - width
        return np.clip(0.5 - d, 0.0, 1.0)

    def square(self, cx, cy, half, corner: float = 0.0) -> np.ndarray:
        cx, cy, half = self._col(cx), self._col(cy), self._col(half)
        qx = np.abs(self.x - cx) - (half - corner)
        qy = np.abs(self.y - cy) - (half - corner)
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        d = outside + np.minimum(np.maximum(qx, qy), 0) - corner
        return np.clip(0.5 - d, 0.0, 1.0)

    def rect(self, cx, cy, hw, hh) -> np.ndarray:
        cx, cy, hw, hh = self._col(cx), self._col(cy), self._col(hw), self._col(hh)
        d = np.maximum(np.abs(self.x - cx) - hw, np.abs(self.y - cy) - hh)
        return np.clip(0.5 - d, 0.0, 1.0)

    def capsule(self, x0, y0, x1, y1, width) -> np.ndarray:
        x0, y0, x1, y1, width = (self._col(v) for v in (x0, y0, x1, y1, width))
        dx, dy = x1 - x0, y1 - y0
        t = ((self.x - x0) * dx + (self.y - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-6)
        t = np.clip(t, 0.0, 1.0)
        d = np.sqrt((self.x - x0 - t * dx) ** 2 + (self.y - y0 - t * dy) ** 2) - width
        return np.clip(0.5 - d, 0.0, 1.0)


def _paint(frames: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """frames [F, S, S, 3] float32 <- alpha-blend `colour` with coverage alpha [F, S, S]."""
    a = alpha[..., None]
    frames *= 1.0 - a
    frames += a * colour


def _box(cx, cy, rx, ry) -> np.ndarray:
    cx, cy = np.asarray(cx, np.float32), np.asarray(cy, np.float32)
    rx = np.broadcast_to(np.asarray(rx, np.float32), cx.shape)
    ry = np.broadcast_to(np.asarray(ry, np.float32), cx.shape)
    return np.stack([cx - rx, cy - ry, cx + rx, cy + ry], axis=-1)


def _background(rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
    """A static low-frequency texture between two dark colours; per-frame noise is added later."""
    cells = max(2, size // 8)
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
    pos = np.linspace(0, cells, size, dtype=np.float32)
    i0 = np.minimum(pos.astype(int), cells - 1)
    f = pos - i0
    rows = grid[i0] * (1 - f)[:, None] + grid[i0 + 1] * f[:, None]
    tex = rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]
    c0 = rng.uniform(20, 90, 3).astype(np.float32)
    c1 = rng.uniform(20, 110, 3).astype(np.float32)
    img = c0 + tex[..., None] * (c1 - c0)
    out = np.empty((frames, size, size, 3), dtype=np.float32)
    out[:] = img
    return out


def _bright_colour(rng: np.random.Generator) -> np.ndarray:
    c = rng.uniform(150, 255, 3)
    c[rng.integers(3)] = rng.uniform(60, 255)  # vary the hue, keep it bright against the background
    return c.astype(np.float32)


def _ramp(frames: int, rng: np.random.Generator) -> np.ndarray:
    """Progress 0..1 over the frames with a mildly random speed profile (monotone)."""
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)
    bend = rng.uniform(-0.25, 0.25)
    return np.clip(t + bend * t * (1 - t), 0.0, 1.0)


def _motion(pair: str, canvas: Canvas, frames: np.ndarray, rng: np.random.Generator, scale: float,
            centre: tuple[np.ndarray, np.ndarray], span: float) -> np.ndarray:
    """Paint the forward member of `pair` (move_right, rotate_cw, grow, a_then_b) onto frames [F, S, S, 3].

    centre: per-frame (cx, cy) the motion is relative to; span: how far it moves (pixels).
    scale: object size in pixels per 64-px unit.  Returns boxes [F, 4].
    """
    f = frames.shape[0]
    p = _ramp(f, rng)
    cx, cy = centre
    colour = _bright_colour(rng)
    if pair == "move":
        half = rng.uniform(5, 8) * scale
        x = cx + (p - 0.5) * span
        _paint(frames, canvas.square(x, cy, half, corner=half * 0.4), colour)
        return _box(x, cy, half, half)
    if pair == "rotate":  # a hand with a round tip turning about a hub
        length, width, hub, tip = rng.uniform(12, 16) * scale, 1.6 * scale, 2.5 * scale, 3.5 * scale
        # starts pointing up (+-45 deg): the direction is then a local cue a small CNN learns in minutes; the
        # partner class is still the exact reversal, so the frames' multiset is the same
        start = -0.5 * math.pi + rng.uniform(-0.25 * math.pi, 0.25 * math.pi)
        theta = start + p * rng.uniform(0.6 * math.pi, math.pi)  # image y points down: increasing = clockwise
        hx, hy = cx + length * np.cos(theta), cy + length * np.sin(theta)
        shape = np.maximum(canvas.capsule(cx, cy, hx, hy, width), canvas.disk(hx, hy, tip))
        _paint(frames, np.maximum(shape, canvas.disk(cx, cy, hub)), colour)
        reach = max(tip, hub)
        lo_x, hi_x = np.minimum(cx, hx) - reach, np.maximum(cx, hx) + reach
        lo_y, hi_y = np.minimum(cy, hy) - reach, np.maximum(cy, hy) + reach
        return np.stack([lo_x, lo_y, hi_x, hi_y], axis=-1).astype(np.float32)
    if pair == "size":
        r0 = rng.uniform(3, 4.5) * scale
        r = r0 + p * (rng.uniform(3, 4) - 1) * r0
        _paint(frames, canvas.disk(cx, cy, r), colour)
        return _box(cx, cy, r, r)
    if pair == "order":
        switch = int(round(f * rng.uniform(0.35, 0.65)))
        half = rng.uniform(6, 8) * scale
        first = (np.arange(f) < switch).astype(np.float32)[:, None, None]
        square = canvas.square(cx, cy, half, corner=1.0) * first
        ring = canvas.ring(cx, cy, half * 0.8, 1.6 * scale) * (1 - first)
        _paint(frames, square + ring, colour)
        return _box(cx, cy, half, half)
    raise ValueError(pair)


def _constant(v: float, f: int) -> np.ndarray:
    return np.full(f, v, dtype=np.float32)


def render(variant: str, class_name: str, rng: np.random.Generator, size: int, frames: int, *,
           split: str = "train", num_classes: int = 8, class_index: int = 0, cue_prob: float = 0.9,
           test_cue: str = "random", cue_frames: str = "outside",
           action_length: tuple[float, float] = (0.4, 0.6)) -> dict[str, Any]:
    """One video: {"frames": uint8 [F, S, S, 3], "boxes": float [F, 4] (NaN = none),
    "action_frames": [(s, e)], "distractor_frames": [(s, e)], "cue": int | None}.

    distractor: `cue_prob` is the cue-label correlation of train/val (the cue is the label's with
    this probability, else a uniformly random class's); `test_cue` "random" draws the test cue
    uniformly, "conflict" from the other classes only (cue-conflicting test videos), "none" paints no cue
    (the action alone: can a model recognise it without the cue?).  `cue_frames` (see `CUE_FRAMES`) and
    `action_length` (the share of the frames the action fills, drawn uniformly in [lo, hi]) vary the
    variant's layout in time; their defaults give the built-in benchmark."""
    if test_cue not in TEST_CUES:
        raise ConfigError(f"unknown test_cue {test_cue!r}: expected one of {', '.join(TEST_CUES)}")
    if not 0.0 <= cue_prob <= 1.0:
        raise ConfigError(f"cue_prob (cue-label correlation) must lie in [0, 1], got {cue_prob}")
    if cue_frames not in CUE_FRAMES:
        raise ConfigError(f"unknown cue_frames {cue_frames!r}: expected one of {', '.join(CUE_FRAMES)}")
    if not 0.0 < action_length[0] <= action_length[1] <= 1.0:
        raise ConfigError(f"action_length must be (lo, hi) with 0 < lo <= hi <= 1, got {action_length}")
    if class_name not in CLASS_TO_PAIR:
        raise ConfigError(f"unknown synthetic class {class_name!r}; known: {', '.join(DEFAULT_CLASSES)}")
    pair, member = CLASS_TO_PAIR[class_name]
    canvas = Canvas(size)
    scale = size / 64.0
    video = _background(rng, size, frames)
    boxes = np.full((frames, 4), np.nan, dtype=np.float32)
    action, distract, cue = [(0, frames)], [], None
    if variant == "order":
        span = rng.uniform(0.4, 0.6) * size
        cx = rng.uniform(0.5 * span + 8 * scale, size - 0.5 * span - 8 * scale) if pair == "move" else \
            rng.uniform(0.3, 0.7) * size
        cy = rng.uniform(0.3, 0.7) * size
        boxes = _motion(pair, canvas, video, rng, scale, (_constant(cx, frames), _constant(cy, frames)), span)
        if member == 1:
            video, boxes = video[::-1], boxes[::-1]
    elif variant == "finegrained":
        # the body: same random drift for every class
        hw, hh = rng.uniform(0.13, 0.17) * size, rng.uniform(0.2, 0.26) * size
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.1, 0.2) * size
        p = np.linspace(-0.5, 0.5, frames, dtype=np.float32)
        bx = size / 2 + rng.uniform(-0.08, 0.08) * size + p * dist * math.cos(angle)
        by = size / 2 + rng.uniform(-0.08, 0.08) * size + p * dist * math.sin(angle)
        _paint(video, canvas.rect(bx, by, hw, hh), _bright_colour(rng) * 0.8)
        side = 1.0 if rng.random() < 0.5 else -1.0
        ax, ay = bx + side * 1.2 * hw, by - 0.4 * hh  # where the small part lives, beside the shoulder
        part_scale = scale * 0.8  # calibrated: at 0.55 the tiny TSM stays at chance for ~100 steps
        boxes = _motion(pair, canvas, video, rng, part_scale, (ax, ay), rng.uniform(0.18, 0.25) * size)
        if member == 1:
            video, boxes = video[::-1], boxes[::-1]
    elif variant == "distractor":
        length = max(1, int(round(frames * rng.uniform(*action_length))))
        margin = max(1, int(round(0.15 * frames)))
        if length + 2 * margin > frames:  # a long action: keep at least one frame on each side for the distractor
            margin = max(1, (frames - length) // 2)
            length = min(length, frames - 2 * margin)
        start = int(rng.integers(margin, max(margin, frames - length - margin) + 1))
        end = min(frames, start + length)
        seg = video[start:end]
        span = rng.uniform(0.4, 0.6) * size
        cx = rng.uniform(0.5 * span + 8 * scale, size - 0.5 * span - 8 * scale) if pair == "move" else \
            rng.uniform(0.3, 0.7) * size
        cy = rng.uniform(0.3, 0.7) * size
        seg_boxes = _motion(pair, canvas, seg, rng, scale, (_constant(cx, end - start), _constant(cy, end - start)),
                            span)
        if member == 1:
            seg, seg_boxes = seg[::-1], seg_boxes[::-1]
        video[start:end] = seg
        boxes[start:end] = seg_boxes
        outside = np.r_[0:start, end:frames]
        # distractor: a jittering disk, and a static cue patch coloured by (mostly) the label in train/val
        walk = np.cumsum(rng.normal(0, 1.5 * scale, (len(outside), 2)), axis=0)
        dx = np.clip(rng.uniform(0.25, 0.75) * size + walk[:, 0], 6 * scale, size - 6 * scale)
        dy = np.clip(rng.uniform(0.25, 0.75) * size + walk[:, 1], 6 * scale, size - 6 * scale)
        part = video[outside]
        _paint(part, canvas.disk(dx, dy, rng.uniform(5, 7) * scale), _bright_colour(rng))
        correlated = split != "test" and rng.random() < cue_prob
        if split == "test" and test_cue == "conflict" and num_classes > 1:  # any class but the label
            cue = (class_index + 1 + int(rng.integers(num_classes - 1))) % num_classes
        else:
            cue = class_index if correlated else int(rng.integers(num_classes))
        cue_x = 8 * scale if rng.random() < 0.5 else size - 8 * scale  # top-left or top-right corner
        video[outside] = part
        cue_at = {"outside": outside, "before": np.r_[0:start], "after": np.r_[end:frames],
                  "all": np.r_[0:frames]}[cue_frames]
        if split == "test" and test_cue == "none":
            cue = None
        elif len(cue_at):
            patch = video[cue_at]
            _paint(patch, canvas.square(_constant(cue_x, len(cue_at)), _constant(8 * scale, len(cue_at)), 5 * scale),
                   cue_colour(cue, num_classes))
            video[cue_at] = patch
        action = [(start, end)]
        distract = [(0, start), (end, frames)] if start > 0 else [(end, frames)]
    else:
        raise ConfigError(f"unknown synthetic variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    video += rng.standard_normal(video.shape, dtype=np.float32) * 4.0 + 0.5  # noise; +0.5 rounds below
    out = np.clip(video, 0, 255, out=video).astype(np.uint8)
    boxes = np.clip(boxes, 0, size)
    return {"frames": np.ascontiguousarray(out), "boxes": np.ascontiguousarray(boxes), "action_frames": action,
            "distractor_frames": distract, "cue": cue}


def cue_colour(k: int, n: int) -> np.ndarray:
    """The cue colour of class k: n hues evenly spaced, full saturation."""
    h = (k / max(n, 1)) * 6.0
    x = 1 - abs(h % 2 - 1)
    rgb = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][int(h) % 6]
    return np.array(rgb, dtype=np.float32) * 255.0


# --------------------------------------------------------------------------- writing


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: int = 12, crf: int = 18) -> None:
    """uint8 [F, H, W, 3] -> H.264 MP4 (yuv420p) with PyAV; every frame is kept (no frame dropping)."""
    from .video_writer import VideoWriter

    h, w = frames.shape[1:3]
    with VideoWriter(path, w, h, fps, options={"crf": str(crf), "preset": "veryfast"}, threads=1) as out:
        for img in frames:
            out.write(img)


def _job(args: tuple) -> tuple[str, dict[str, Any]]:
    root, rel, variant, name, c, i, split, seed, size, frames, fps, classes, cue_prob, test_cue = args
    rng = np.random.default_rng([seed, SPLITS.index(split), c, i])
    video = render(variant, name, rng, size, frames, split=split, num_classes=len(classes),
                   class_index=c, cue_prob=cue_prob, test_cue=test_cue)
    write_mp4(Path(root) / rel, video["frames"], fps)
    boxes = [None if np.isnan(b).any() else [round(float(v), 2) for v in b] for b in video["boxes"]]
    return rel, {"label": c, "split": split, "action_frames": [list(s) for s in video["action_frames"]],
                 "distractor_frames": [list(s) for s in video["distractor_frames"]], "boxes": boxes,
                 "cue": video["cue"]}


def generate(out_dir: str | os.PathLike, variant: str = "order", videos_per_class: int = 20, size: int = 64,
             frames: int = 32, seed: int = 0, *, classes: Sequence[str] | None = None,
             eval_per_class: int | None = None, fps: int = 12, cue_prob: float = 0.9, workers: int = 1,
             test_cue: str = "random", progress: Callable[[int, int], None] | None = None) -> SynthResult:
    """Write the benchmark to `out_dir` (see the module docstring).

    videos_per_class: training videos per class; eval_per_class: val and test videos per class
    each (default max(4, videos_per_class // 4)).  workers > 1 renders/encodes in processes.
    progress(done, total) is called as videos are written.
    """
    if variant not in VARIANTS:
        raise ConfigError(f"unknown synthetic variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    names = list(classes or DEFAULT_CLASSES)
    unknown = [n for n in names if n not in CLASS_TO_PAIR]
    if unknown:
        raise ConfigError(f"unknown synthetic class {unknown[0]!r}; known: {', '.join(DEFAULT_CLASSES)}")
    if len(set(names)) != len(names):
        raise ConfigError("synthetic classes must be distinct")
    if size < 16 or size % 2:
        raise ConfigError(f"synthetic video size must be even and >= 16, got {size}")
    if frames < 4 or videos_per_class < 1:
        raise ConfigError("synthetic videos need frames >= 4 and videos_per_class >= 1")
    if test_cue not in TEST_CUES:
        raise ConfigError(f"unknown test_cue {test_cue!r}: expected one of {', '.join(TEST_CUES)}")
    n_eval = eval_per_class if eval_per_class is not None else max(4, videos_per_class // 4)
    root = Path(out_dir)
    counts = {"train": videos_per_class, "val": n_eval, "test": n_eval}
    jobs = []
    for split in SPLITS:
        (root / "videos" / split).mkdir(parents=True, exist_ok=True)
        for c, name in enumerate(names):
            for i in range(counts[split]):
                rel = f"videos/{split}/{name}_{i:04d}.mp4"
                jobs.append((str(root), rel, variant, name, c, i, split, seed, size, frames, fps, names, cue_prob,
                             test_cue))
    results = []
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(workers)) if workers > 1 else None
        for result in (pool.map(_job, jobs, chunksize=8) if pool is not None else map(_job, jobs)):
            results.append(result)
            if progress is not None:
                progress(len(results), len(jobs))
    videos = dict(results)
    for split in SPLITS:
        lines = [f"{rel} {info['label']}" for rel, info in results if info["split"] == split]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shown = class_names_for(variant, names)
    label = dict(zip(names, shown))
    (root / "classes.txt").write_text("\n".join(shown) + "\n", encoding="utf-8")
    meta = {"variant": variant, "size": size, "frames": frames, "fps": fps, "seed": seed, "classes": shown,
            "pairs": [[label[a], label[b]] for a, b in PAIRS.values() if a in names and b in names],
            "flip_swaps": [[label[a], label[b]] for a, b in FLIP_SWAPS.items() if a in names and b in names],
            "videos": videos}
    with open(root / "annotations.json", "w", encoding="utf-8") as f:
        json.dump(meta, f, separators=(",", ":"))
    config = root / "data.yaml"
    import yaml

    flip_map = {label[a]: label[b] for a, b in FLIP_SWAPS.items() if a in names and b in names}
    fragment = {"data": {"format": "generic", "root": str(root.resolve()), "train_list": "train.txt",
                         "val_list": "val.txt", "test_list": "test.txt", "class_names": "classes.txt",
                         "scale_size": size, "input_size": size * 7 // 8 // 2 * 2, "flip": False,
                         "flip_label_map": flip_map, "options": {"annotations": "annotations.json"}}}
    config.write_text(yaml.safe_dump(fragment, sort_keys=False), encoding="utf-8")
    return SynthResult(root, shown, {k: v * len(names) for k, v in counts.items()}, config)


def class_names_for(variant: str, ids: Sequence[str]) -> list[str]:
    """The class names `generate` writes for these class ids: the ids, or in 'finegrained' what each class shows."""
    return [FINEGRAINED_NAMES[i] for i in ids] if variant == "finegrained" else list(ids)
