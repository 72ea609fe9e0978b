"""A generated corpus of small video files (one per container/codec property), written with PyAV.

Each entry is a recipe: container file name, encoder, pixel format, encoder options, frame size and
a pts pattern.  Files are tiny (64x48 or 64x64, 24-40 frames) and made once per test session.
`CORPUS` lists every entry with the decode path the reader is expected to take (fast keyframe runs
or the exact sequential path), so the tests also pin the path choice.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from _data_helpers import frame_images, workdir


@dataclass(frozen=True)
class Recipe:
    file: str
    codec: str
    pix_fmt: str = "yuv420p"
    options: dict = field(default_factory=dict)
    size: tuple[int, int] = (64, 48)  # width, height
    frames: int = 32
    pts: str = "cfr"  # cfr | vfr (irregular timestamps) | gaps (dropped frames: AVI writes empty chunks)
    rotation: int = 0  # display matrix rotation, degrees counter-clockwise
    exact: bool = False  # the reader must take the exact (sequential) path
    fmt: str | None = None  # container format when the suffix does not say it
    edit_skip: int = 0  # MP4: move the edit list's start this many frames later (packets marked discard)

    @property
    def decoded(self) -> int:
        """Frames a sequential decode yields."""
        return self.frames - self.edit_skip


GOP = {"g": "8"}
CORPUS: dict[str, Recipe] = {
    "avi_mpeg4_bframes": Recipe("mpeg4_bf.avi", "mpeg4", options={**GOP, "bf": "2"}, exact=True),
    "avi_mpeg4": Recipe("mpeg4.avi", "mpeg4", options=GOP),
    "avi_msmpeg4": Recipe("msmpeg4.avi", "msmpeg4", options=GOP),
    "avi_mjpeg": Recipe("mjpeg.avi", "mjpeg", "yuvj420p"),
    "avi_drop_frames": Recipe("drop.avi", "mpeg4", options=GOP, pts="gaps"),
    "avi_cinepak": Recipe("cinepak.avi", "cinepak", "rgb24", frames=16),
    "mp4_h264_rot90": Recipe("rot90.mp4", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}, rotation=90),
    "mov_h264_rot270": Recipe("rot270.mov", "libx264", options={**GOP, "preset": "ultrafast"}, rotation=270),
    "mp4_h264_vfr": Recipe("vfr.mp4", "libx264", options={**GOP, "bf": "3", "preset": "ultrafast"}, pts="vfr"),
    "mp4_h264_open_gop": Recipe("opengop.mp4", "libx264", options={"x264-params": "keyint=8:open-gop=1:bframes=3",
                                                                    "preset": "ultrafast"}),
    "mp4_hevc": Recipe("hevc.mp4", "libx265", options={"x265-params": "keyint=8:bframes=2:log-level=error",
                                                       "preset": "ultrafast"}),
    "mp4_h264_edit_list": Recipe("editlist.mp4", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"},
                                 edit_skip=3, exact=True),
    "mp4_mpeg4": Recipe("mpeg4.mp4", "mpeg4", options={**GOP, "bf": "2"}),
    "3gp_h263": Recipe("h263.3gp", "h263", size=(128, 96), options=GOP),
    "m4v_mpeg4": Recipe("mpeg4.m4v", "mpeg4", options={**GOP, "bf": "2"}),
    "m4v_raw_mpeg4": Recipe("raw_es.m4v", "mpeg4", options={**GOP, "bf": "2"}, fmt="m4v"),
    "h264_raw": Recipe("raw_es.h264", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}, fmt="h264",
                       exact=True),
    "mkv_h264": Recipe("h264.mkv", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}),
    "webm_vp8": Recipe("vp8.webm", "libvpx", options={**GOP, "cpu-used": "8", "auto-alt-ref": "1",
                                                       "lag-in-frames": "16"}),
    "webm_vp9": Recipe("vp9.webm", "libvpx-vp9", options={**GOP, "cpu-used": "8", "auto-alt-ref": "1",
                                                           "lag-in-frames": "16"}),
    "webm_av1": Recipe("av1.webm", "libsvtav1", size=(64, 64), frames=24, options={"preset": "12", "g": "8"}),
    "mpg_mpeg2_ps": Recipe("mpeg2.mpg", "mpeg2video", options={**GOP, "bf": "2"}, fmt="mpeg"),
    "ts_mpeg2": Recipe("mpeg2.ts", "mpeg2video", options={**GOP, "bf": "2"}),
    "ts_h264": Recipe("h264.ts", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}),
    "flv_flv1": Recipe("flv1.flv", "flv", options=GOP),
    "flv_h264": Recipe("h264.flv", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}),
    "ogv_vp8": Recipe("vp8.ogv", "libvpx", options={**GOP, "cpu-used": "8"}),
}


def _timestamps(recipe: Recipe) -> tuple[list[int], int]:
    """(pts per frame, time-base denominator)."""
    n = recipe.frames
    if recipe.pts == "vfr":  # 1/1000 s ticks, frame durations 20-80 ms
        steps = np.random.default_rng(3).integers(20, 81, n)
        return np.concatenate([[0], np.cumsum(steps[:-1])]).tolist(), 1000
    if recipe.pts == "gaps":  # every 5th frame time skipped: the AVI muxer fills the holes with empty chunks
        return [i + i // 4 for i in range(n)], 25
    return list(range(n)), 25


@functools.cache
def corpus_file(name: str) -> Path:
    """Write (once) and return the corpus file `name`."""
    from fractions import Fraction

    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only
    recipe = CORPUS[name]
    path = workdir() / "corpus" / recipe.file
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = recipe.size
    images = frame_images(recipe.frames, w, h, seed=len(name))
    pts, den = _timestamps(recipe)
    with av.open(str(path), "w", format=recipe.fmt) as container:
        stream = container.add_stream(recipe.codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, recipe.pix_fmt
        stream.time_base = Fraction(1, den)
        stream.codec_context.time_base = Fraction(1, den)
        if recipe.options:
            stream.options = dict(recipe.options)
        if recipe.rotation:
            stream.set_display_rotation(recipe.rotation)
        for img, p in zip(images, pts):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, den)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if recipe.edit_skip:
        _skip_in_edit_list(path, recipe.edit_skip)
    return path


def _skip_in_edit_list(path: Path, frames: int) -> None:
    """Rewrite the MP4's single edit (elst v0) to start `frames` frames later, as a trimmed copy would.

    The demuxer then marks the packets before the edit as discard; the decoder drops their frames.
    """
    import struct

    data = bytearray(path.read_bytes())
    at = data.find(b"elst") + 12  # box type, version + flags, entry count
    duration, media_time = struct.unpack(">Ii", data[at: at + 8])
    mdhd = data.find(b"mdhd") + 16  # box type, version + flags, creation and modification times (v0)
    tick = struct.unpack(">I", data[mdhd: mdhd + 4])[0] // 25  # media ticks per frame at 25 fps
    # the movie timescale (segment duration) is 1000: 40 ms per frame
    data[at: at + 8] = struct.pack(">Ii", duration - frames * 40, media_time + frames * tick)
    path.write_bytes(bytes(data))
