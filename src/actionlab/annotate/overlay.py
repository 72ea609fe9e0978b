"""What is drawn on each frame of an annotated video.

    +----------------------------------------------+
    | [#] 0.87 juggling balls                      |   top-k of the window that covers the frame:
    | [#] 0.05 playing ping pong                   |   class colour, score, label (bitmap font)
    | [#] 0.02 ...                                 |
    |                                              |
    |                                              |
    |=========================|                    |   score strip: for every moment played so far,
    +----------------------------------------------+   the top-1 class's colour, as tall as its score;
                                                       the white line is now

The strip's x axis is the whole video (frame f at column f * width // num_frames), so the
frame on screen and the strip's cursor always agree, and a class change shows as a change of
colour behind the cursor.  Everything is drawn in NumPy on the RGB frame; the label box of a
window is rendered once and reused for all its frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import font

# 20 colours that stay apart on a dark box (class index % 20; the timeline page uses the same ones)
PALETTE: tuple[tuple[int, int, int], ...] = (
    (66, 135, 245), (255, 127, 14), (44, 190, 80), (230, 57, 70), (163, 110, 230),
    (190, 120, 80), (240, 100, 200), (160, 160, 160), (200, 210, 40), (23, 200, 215),
    (150, 190, 255), (255, 190, 120), (150, 230, 140), (255, 150, 150), (205, 180, 240),
    (220, 170, 140), (250, 180, 225), (210, 210, 210), (230, 230, 140), (160, 230, 240),
)
BOX_DIM = 0.45  # what the label box and strip leave of the frame's brightness behind them
TEXT = (255, 255, 255)
CURSOR = (255, 255, 255)


def class_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def hex_colour(index: int) -> str:
    return "#{:02x}{:02x}{:02x}".format(*class_colour(index))


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of the drawing on a width x height frame."""

    width: int
    height: int
    scale: int  # font pixels per glyph pixel
    pad: int  # box margin from the frame edge and text margin inside the box
    strip: int  # score strip height

    @classmethod
    def for_frame(cls, width: int, height: int) -> Layout:
        scale = max(1, round(min(width, height) / 260))  # 240p: 1, 480-576p: 2, 720p: 3, 1080p: 4
        return cls(width, height, scale, 3 * scale, max(4, height // 40))

    @property
    def line_height(self) -> int:
        return font.LINE_HEIGHT * self.scale

    def max_lines(self) -> int:
        """Lines that fit in the top half of the frame."""
        return max(1, (self.height // 2 - 3 * self.pad) // self.line_height)

    def text_x(self) -> tuple[int, int, int]:
        """(swatch x, score x, label x) inside the label box."""
        s = self.scale
        swatch = self.pad
        score = swatch + 7 * s + 3 * s
        return swatch, score, score + 5 * font.ADVANCE * s

    def line_y(self, i: int) -> int:
        """Top row of line i's glyphs, inside the label box."""
        return self.pad + i * self.line_height

    def label_at(self, i: int) -> tuple[int, int]:
        """(y, x) in the frame of the first glyph pixel of line i's label (the box sits at (pad, pad))."""
        return self.pad + self.line_y(i), self.pad + self.text_x()[2]


class Annotator:
    """Draws the label box and the score strip on frames of one video (see the module docstring)."""

    def __init__(self, width: int, height: int, class_names: Sequence[str], num_frames: int):
        self.layout = Layout.for_frame(width, height)
        self.class_names = list(class_names)
        self.num_frames = max(1, int(num_frames))
        lay = self.layout
        self._strip_rgb = np.zeros((lay.strip, width, 3), dtype=np.uint8)
        self._strip_ink = np.zeros((lay.strip, width), dtype=bool)
        self._painted = -1  # last strip column painted
        self._boxes: dict[object, tuple[np.ndarray, np.ndarray, tuple[int, int]]] = {}

    def column(self, frame_index: int) -> int:
        """The strip column of a frame (the cursor's x)."""
        return min(self.layout.width - 1, frame_index * self.layout.width // self.num_frames)

    def _box(self, key: object, classes: Sequence[int], scores: Sequence[float]
             ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """(colours [h, w, 3], ink [h, w], (h, w)) of the label box, rendered once per key."""
        if key in self._boxes:
            return self._boxes[key]
        lay = self.layout
        s = lay.scale
        swatch_x, score_x, label_x = lay.text_x()
        lines = min(len(classes), lay.max_lines())
        room = lay.width - 3 * lay.pad - label_x
        labels = [font.fit(self.class_names[c], room, s) for c in classes[:lines]]
        w = min(lay.width - 2 * lay.pad, label_x + max((font.text_width(t, s) for t in labels), default=0) + lay.pad)
        h = min(lay.height - lay.pad, lay.line_y(lines) - 2 * s + lay.pad)  # line_y(lines) ends in 2s spacing
        rgb = np.zeros((h, w, 3), dtype=np.uint8)
        ink = np.zeros((h, w), dtype=bool)

        def put(mask: np.ndarray, y: int, x: int, colour: tuple[int, int, int]) -> None:
            mh, mw = min(mask.shape[0], h - y), min(mask.shape[1], w - x)
            if mh <= 0 or mw <= 0:
                return
            m = mask[:mh, :mw]
            rgb[y:y + mh, x:x + mw][m] = colour
            ink[y:y + mh, x:x + mw] |= m

        for i, (c, label) in enumerate(zip(classes, labels)):
            y = lay.line_y(i)
            put(np.ones((7 * s, 7 * s), dtype=bool), y, swatch_x, class_colour(c))
            put(font.render(f"{min(max(float(scores[i]), 0.0), 1.0):.2f}", s), y, score_x, TEXT)
            put(font.render(label, s), y, label_x, TEXT)
        self._boxes[key] = (rgb, ink, (h, w))
        if len(self._boxes) > 64:  # windows come in order: old boxes are not asked for again
            self._boxes.pop(next(iter(self._boxes)))
        return self._boxes[key]

    def _paint_strip(self, upto: int, top1: Callable[[int], tuple[int, float]]) -> None:
        """Strip columns up to `upto`: top-1 class colour of the frame at that column, as tall as its score."""
        lay = self.layout
        for x in range(self._painted + 1, upto + 1):
            f = min(self.num_frames - 1, -(-x * self.num_frames // lay.width))  # first frame at column x
            c, score = top1(f)
            bar = max(1, round(min(max(score, 0.0), 1.0) * lay.strip))
            self._strip_rgb[lay.strip - bar:, x] = class_colour(c)
            self._strip_ink[lay.strip - bar:, x] = True
        self._painted = max(self._painted, upto)

    def draw(self, img: np.ndarray, frame_index: int, key: object, classes: Sequence[int], scores: Sequence[float],
             top1: Callable[[int], tuple[int, float]]) -> np.ndarray:
        """Draw on `img` (uint8 [H, W, 3], modified in place) for frame `frame_index`.

        key: identifies the window (its label box is cached); classes / scores: its top-k;
        top1(frame) -> (class, score) of the window shown at an earlier frame (for the strip).
        """
        lay = self.layout
        rgb, ink, (h, w) = self._box(key, classes, scores)
        y0 = x0 = lay.pad
        region = img[y0:y0 + h, x0:x0 + w]
        np.copyto(region, (region * BOX_DIM).astype(np.uint8))
        np.copyto(region, rgb, where=ink[..., None])

        x = self.column(frame_index)
        self._paint_strip(x, top1)
        strip = img[lay.height - lay.strip:]
        np.copyto(strip, (strip * BOX_DIM).astype(np.uint8))
        np.copyto(strip, self._strip_rgb, where=self._strip_ink[..., None])
        strip[:, x:x + lay.scale] = CURSOR
        return img
