"""A video whose class changes at a known frame, a stub model that sees it, and reading drawn labels back.

The stub model scores the colour of the clip: its logits are means of the (normalised) clip's colour
channels, so a window that samples mostly red-square frames says "red square" and one that samples
mostly green-square frames says "green square".  That makes the class change detectable without
training, and independent of any learned weights.  (The class order matches the drawing palette:
class i is drawn in `overlay.PALETTE[i]` -- blue, orange, green, red.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from actionlab.annotate import font
from actionlab.annotate.overlay import Layout
from actionlab.api import Predictor, Preprocess
from actionlab.models.recognizer import Output
from tests import _data_helpers as data_helpers

CLASSES = ["blue square", "yellow square", "green square", "red square"]
RED, GREEN = (220, 40, 40), (40, 200, 60)


class ColourModel(nn.Module):
    """logits [N, 4] = 6 x (B, (R + G) / 2, G, R): the clip's channel means [N, 3, T, S, S]."""

    num_classes = 4
    model_name = "colour_stub"

    def forward(self, x: torch.Tensor) -> Output:
        r, g, b = x.mean(dim=(2, 3, 4)).unbind(1)
        return Output(6.0 * torch.stack([b, (r + g) / 2, g, r], dim=1))


def colour_predictor(num_frames: int = 5) -> Predictor:
    pre = Preprocess(num_frames=num_frames, input_size=32, scale_size=32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return Predictor(ColourModel(), CLASSES, pre, device="cpu")


def changing_class_frames(n: int, change: int, w: int = 320, h: int = 240) -> np.ndarray:
    """uint8 [n, h, w, 3]: a grey gradient with a large square moving right; red before `change`, green from it."""
    ys, xs = np.mgrid[0:h, 0:w]
    background = (60 + 80 * xs / w + 30 * ys / h).astype(np.uint8)
    out = np.repeat(np.repeat(background[None, :, :, None], 3, axis=3), n, axis=0)
    side = h // 2
    for i in range(n):
        x = int((w - side) * i / max(n - 1, 1))
        out[i, h // 4: h // 4 + side, x: x + side] = RED if i < change else GREEN
    return out


def write_video(path: Path, frames: np.ndarray, fps: int = 10, audio: str | None = None,
                pix_fmt: str = "yuv420p") -> Path:
    """H.264 MP4 (or the container the suffix names); `audio`: an encoder name for a 440 Hz tone beside it."""
    options = {"g": "12", "preset": "ultrafast", "crf": "18"}
    return data_helpers.write_video(path, frames, pix_fmt=pix_fmt, options=options, fps=fps, audio=audio)


def decode(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Every frame of a file (RGB) and its time in seconds (a plain sequential PyAV decode)."""
    import av

    frames, times = [], []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.time))
    return frames, times


def drawn_label(img: np.ndarray, line: int = 0) -> str:
    """The label text drawn on line `line` of a decoded annotated frame, read glyph by glyph."""
    h, w = img.shape[:2]
    lay = Layout.for_frame(w, h)
    y, x = lay.label_at(line)
    luma = img[y: y + font.GLYPH_H * lay.scale, x:].astype(np.float32) @ np.array([0.299, 0.587, 0.114])
    return font.read_text(luma > 160, lay.scale)


def strip_cursor(img: np.ndarray) -> int:
    """Column of the white cursor in the score strip (the whitest column of its rows)."""
    h, w = img.shape[:2]
    lay = Layout.for_frame(w, h)
    rows = img[h - lay.strip:].astype(np.float32)
    whiteness = rows.min(axis=2).mean(axis=0)  # white: every channel high
    return int(whiteness.argmax())
