"""A generated corpus of small video files (one per container/codec property), written with PyAV.

Each entry is a recipe: container file name, encoder, pixel format, encoder options, frame size and
a pts pattern.  Files are tiny (64x48 or 64x64, 24-48 frames) and made once per test session.
`CORPUS` lists every entry with the decode path the reader is expected to take (keyframe runs by
timestamps, MPEG-4 packet order, or sequential), so the tests also pin the path choice.

The Xvid entries (DivX-packed B-frames in AVI, the UCF101/HMDB51 format) are written by the `ffmpeg`
command-line tool with libxvid, which PyAV's own FFmpeg lacks (`.ci/run` installs Debian's ffmpeg,
which has it): with one B-frame per anchor the AVI timestamps increase although they name the wrong
frame.  `xvid_available()` says whether they can be made here.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests._data_helpers import frame_images, workdir


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
    path: str = "keyframe runs"  # the read path the reader must take (`PyAVReader.read_path`)
    fmt: str | None = None  # container format when the suffix does not say it
    edit_skip: int = 0  # MP4: move the edit list's start this many frames later (packets marked discard)
    lost: int = 0  # frames the encoder never writes (FFmpeg's libxvid wrapper drops its last B-frames)
    bsf: str | None = None  # ffmpeg CLI entries: a bitstream filter applied by a stream copy afterwards

    @property
    def decoded(self) -> int:
        """Frames a sequential decode yields."""
        return self.frames - self.edit_skip - self.lost

    @property
    def cli(self) -> bool:
        """Written by the ffmpeg command-line tool (libxvid), not by PyAV."""
        return self.codec == "libxvid"


GOP = {"g": "8"}
PACKETS, SEQUENTIAL = "packet order", "sequential"
CORPUS: dict[str, Recipe] = {
    "avi_mpeg4_bframes": Recipe("mpeg4_bf.avi", "mpeg4", options={**GOP, "bf": "2"}, path=PACKETS),
    "avi_mpeg4": Recipe("mpeg4.avi", "mpeg4", options=GOP, path=PACKETS),
    # DivX-packed B-frames ([P B] chunks + N-VOP placeholders), GOP 12 and one long GOP; one or two B-frames
    "avi_xvid_packed_bf1": Recipe("xvid_bf1.avi", "libxvid", options={"bf": "1", "g": "12"}, frames=48, lost=1,
                                  path=PACKETS),
    "avi_xvid_packed_bf1_long_gop": Recipe("xvid_bf1_long.avi", "libxvid", options={"bf": "1", "g": "300"},
                                           frames=48, lost=1, path=PACKETS),
    "avi_xvid_packed_bf2": Recipe("xvid_bf2.avi", "libxvid", options={"bf": "2", "g": "12"}, frames=48, lost=2,
                                  path=PACKETS),
    "avi_xvid_unpacked": Recipe("xvid_unpacked.avi", "libxvid", options={"bf": "2", "g": "12"}, frames=48, lost=2,
                                bsf="mpeg4_unpack_bframes", path=PACKETS),
    "avi_xvid_no_bframes": Recipe("xvid_bf0.avi", "libxvid", options={"bf": "0", "g": "12"}, frames=48,
                                  path=PACKETS),
    "avi_h264_bframes": Recipe("h264_bf.avi", "libx264", options={**GOP, "bf": "1", "preset": "ultrafast"},
                               path=SEQUENTIAL),
    "avi_msmpeg4": Recipe("msmpeg4.avi", "msmpeg4", options=GOP),
    "avi_mjpeg": Recipe("mjpeg.avi", "mjpeg", "yuvj420p"),
    "avi_drop_frames": Recipe("drop.avi", "mpeg4", options=GOP, pts="gaps", path=PACKETS),
    "avi_cinepak": Recipe("cinepak.avi", "cinepak", "rgb24", frames=16),
    "mp4_h264_rot90": Recipe("rot90.mp4", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}, rotation=90),
    "mov_h264_rot270": Recipe("rot270.mov", "libx264", options={**GOP, "preset": "ultrafast"}, rotation=270),
    "mp4_h264_vfr": Recipe("vfr.mp4", "libx264", options={**GOP, "bf": "3", "preset": "ultrafast"}, pts="vfr"),
    "mp4_h264_open_gop": Recipe("opengop.mp4", "libx264", options={"x264-params": "keyint=8:open-gop=1:bframes=3",
                                                                    "preset": "ultrafast"}),
    "mp4_hevc": Recipe("hevc.mp4", "libx265", options={"x265-params": "keyint=8:bframes=2:log-level=error",
                                                       "preset": "ultrafast"}),
    "mp4_h264_edit_list": Recipe("editlist.mp4", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"},
                                 edit_skip=3, path=SEQUENTIAL),
    "mp4_mpeg4": Recipe("mpeg4.mp4", "mpeg4", options={**GOP, "bf": "2"}, path=PACKETS),
    "3gp_h263": Recipe("h263.3gp", "h263", size=(128, 96), options=GOP),
    "m4v_mpeg4": Recipe("mpeg4.m4v", "mpeg4", options={**GOP, "bf": "2"}, path=PACKETS),
    "m4v_raw_mpeg4": Recipe("raw_es.m4v", "mpeg4", options={**GOP, "bf": "2"}, fmt="m4v", path=PACKETS),
    "h264_raw": Recipe("raw_es.h264", "libx264", options={**GOP, "bf": "2", "preset": "ultrafast"}, fmt="h264",
                       path=SEQUENTIAL),
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
def xvid_available() -> bool:
    """The ffmpeg command-line tool with the libxvid encoder (Debian's ffmpeg has it)."""
    if shutil.which("ffmpeg") is None:
        return False
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return " libxvid " in out


def write_xvid(path: Path, images: np.ndarray, options: dict, bsf: str | None = None, fps: int = 25) -> Path:
    """Encode RGB frames with `ffmpeg -c:v libxvid` into AVI (DivX-packed B-frames, as FFmpeg writes them);
    `bsf`: stream-copy the result through that bitstream filter (mpeg4_unpack_bframes: the unpacked form)."""
    n, h, w, _ = images.shape
    target = path.with_suffix(".packed.avi") if bsf else path
    args = [a for k, v in options.items() for a in (f"-{k}", str(v))]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "libxvid", *args, str(target)],
                   input=np.ascontiguousarray(images).tobytes(), check=True)
    if bsf:
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(target), "-c", "copy",
                        "-bsf:v", bsf, str(path)], check=True)
    return path


@functools.cache
def corpus_file(name: str) -> Path:
    """Write (once) and return the corpus file `name`."""
    from fractions import Fraction

    from actionlab.data.video_writer import VideoWriter

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only
    recipe = CORPUS[name]
    path = workdir() / "corpus" / recipe.file
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = recipe.size
    images = frame_images(recipe.frames, w, h, seed=len(name))
    if recipe.cli:
        return write_xvid(path, images, recipe.options, recipe.bsf)
    pts, den = _timestamps(recipe)
    with VideoWriter(path, w, h, 25, Fraction(1, den), codec=recipe.codec, pix_fmt=recipe.pix_fmt,
                     options=dict(recipe.options), container_format=recipe.fmt, stream_time_base=Fraction(1, den),
                     rotation=recipe.rotation) as out:
        for img, p in zip(images, pts):
            out.write(img, p)
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
