"""A 5 x 9 bitmap font for labels drawn on video frames, rendered with NumPy alone.

Why not Pillow: the core install (torch, numpy, PyAV, PyYAML) has no drawing library, and an
annotated video should not need the plotting extra.  A fixed bitmap font also draws the same
pixels on every machine (no FreeType version, no hinting), so a test can read a label back from
a decoded frame glyph by glyph (`read_text`).

Glyphs cover printable ASCII: 7 rows above the baseline (capitals, digits, ascenders), 2 rows
of descenders (g, j, p, q, y, comma).  Other characters are folded to ASCII (accents dropped)
or drawn as '?'.  Each cell is 6 x 11 pixels (one column and two rows of spacing); text is
scaled by whole pixels.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np

GLYPH_W, GLYPH_H = 5, 9
ADVANCE, LINE_HEIGHT = GLYPH_W + 1, GLYPH_H + 2

# rows top to bottom, '#' = ink; a glyph given with 7 rows has empty descender rows
_GLYPHS: dict[str, str] = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    '"': ".#.#.|.#.#.|.....|.....|.....|.....|.....",
    "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
    "$": "..#..|.####|#.#..|.###.|..#.#|####.|..#..",
    "%": "##..#|##..#|...#.|..#..|.#...|#..##|#..##",
    "&": ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#",
    "'": "..#..|..#..|.....|.....|.....|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    ",": ".....|.....|.....|.....|.....|..#..|..#..|.#...|.....",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    "/": "....#|....#|...#.|..#..|.#...|#....|#....",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    ";": ".....|.##..|.##..|.....|.##..|.##..|..#..|.#...|.....",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "@": ".###.|#...#|....#|.##.#|#.#.#|#.#.#|.###.",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    "\\": "#....|#....|.#...|..#..|...#.|....#|....#",
    "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    "^": "..#..|.#.#.|#...#|.....|.....|.....|.....",
    "_": ".....|.....|.....|.....|.....|.....|.....|#####|.....",
    "`": ".#...|..#..|.....|.....|.....|.....|.....",
    "a": ".....|.....|.###.|....#|.####|#...#|.####",
    "b": "#....|#....|#.##.|##..#|#...#|#...#|####.",
    "c": ".....|.....|.###.|#....|#....|#...#|.###.",
    "d": "....#|....#|.##.#|#..##|#...#|#...#|.####",
    "e": ".....|.....|.###.|#...#|#####|#....|.###.",
    "f": "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    "g": ".....|.....|.####|#...#|#...#|.####|....#|#...#|.###.",
    "h": "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    "i": "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    "j": "...#.|.....|..##.|...#.|...#.|...#.|...#.|#..#.|.##..",
    "k": "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    "l": ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#.#.#|#.#.#",
    "n": ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    "o": ".....|.....|.###.|#...#|#...#|#...#|.###.",
    "p": ".....|.....|####.|#...#|#...#|#...#|####.|#....|#....",
    "q": ".....|.....|.####|#...#|#...#|#...#|.####|....#|....#",
    "r": ".....|.....|#.##.|##..#|#....|#....|#....",
    "s": ".....|.....|.###.|#....|.###.|....#|####.",
    "t": ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    "u": ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    "v": ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    "w": ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    "x": ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    "y": ".....|.....|#...#|#...#|#...#|.####|....#|#...#|.###.",
    "z": ".....|.....|#####|...#.|..#..|.#...|#####",
    "{": "...#.|..#..|..#..|.#...|..#..|..#..|...#.",
    "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
    "}": ".#...|..#..|..#..|...#.|..#..|..#..|.#...",
    "~": ".....|.....|.#...|#.#.#|...#.|.....|.....",
}


def _parse(rows: str) -> np.ndarray:
    lines = rows.split("|")
    lines += ["." * GLYPH_W] * (GLYPH_H - len(lines))
    assert len(lines) == GLYPH_H and all(len(r) == GLYPH_W for r in lines), rows
    return np.array([[c == "#" for c in r] for r in lines], dtype=bool)


GLYPHS: dict[str, np.ndarray] = {c: _parse(rows) for c, rows in _GLYPHS.items()}


def to_ascii(text: str) -> str:
    """The characters the font draws: accents dropped (NFKD), anything else outside printable ASCII as '?'."""
    if not text.isascii():
        text = "".join(unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode("ascii") or "?"
                       for c in text)
    return "".join(c if c in GLYPHS else "?" for c in text)


def text_width(text: str, scale: int = 1) -> int:
    """Pixels `render(text, scale)` spans horizontally."""
    return max(0, len(to_ascii(text)) * ADVANCE - 1) * scale


def fit(text: str, max_width: int, scale: int = 1) -> str:
    """`text` cut to `max_width` pixels, ending in '...' when cut."""
    room = (max_width // scale + 1) // ADVANCE
    text = to_ascii(text)
    if len(text) <= room:
        return text
    return text[: max(0, room - 3)] + "..." if room >= 3 else text[:room]


@lru_cache(maxsize=4096)
def render(text: str, scale: int = 1) -> np.ndarray:
    """Bool ink mask [GLYPH_H * scale, text_width(text, scale)] of one line of text."""
    text = to_ascii(text)
    if not text:
        return np.zeros((GLYPH_H * scale, 0), dtype=bool)
    mask = np.zeros((GLYPH_H, len(text) * ADVANCE - 1), dtype=bool)
    for i, c in enumerate(text):
        mask[:, i * ADVANCE: i * ADVANCE + GLYPH_W] = GLYPHS[c]
    if scale > 1:
        mask = mask.repeat(scale, 0).repeat(scale, 1)
    mask.setflags(write=False)  # cached: shared between callers
    return mask


def read_text(ink: np.ndarray, scale: int = 1, max_errors: int = 4) -> str:
    """Read back text drawn by `render`: ink [GLYPH_H * scale, W] bool, left-aligned at column 0.

    Each 6 * scale cell is sampled at its pixel centres and matched to the nearest glyph (Hamming
    distance); a cell further than `max_errors` pixels from every glyph ends the text.  Used by the
    tests to check which label a decoded frame really shows.
    """
    names = list(GLYPHS)
    bank = np.stack([GLYPHS[c].reshape(-1) for c in names])
    out = []
    step = ADVANCE * scale
    offset = scale // 2
    for x in range(0, ink.shape[1] - GLYPH_W * scale + 1, step):
        cell = ink[offset: GLYPH_H * scale: scale, x + offset: x + GLYPH_W * scale: scale].reshape(1, -1)
        if cell.shape[1] != GLYPH_W * GLYPH_H:
            break
        errors = (bank != cell).sum(1)
        best = int(errors.argmin())
        if errors[best] > max_errors:
            break
        out.append(names[best])
    return "".join(out).rstrip()
