"""Tiny generated videos and dataset trees for the data tests (made once per test session, cached)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
COCKATOO = Path("/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4")

# name -> (file name, codec, pixel format, encoder options); GOPs of 10 so that sparse reads cross keyframes
CONTAINERS = {
    "mp4_h264": ("h264.mp4", "libx264", "yuv420p", {"g": "10", "bf": "3", "preset": "veryfast"}),
    "webm_vp8": ("vp8.webm", "libvpx", "yuv420p", {"g": "10", "cpu-used": "8", "auto-alt-ref": "1",
                                                   "lag-in-frames": "16"}),
    "webm_vp9": ("vp9.webm", "libvpx-vp9", "yuv420p", {"g": "10", "cpu-used": "8", "auto-alt-ref": "1",
                                                       "lag-in-frames": "16"}),
    "avi_mpeg4": ("mpeg4.avi", "mpeg4", "yuv420p", {"g": "10", "bf": "2"}),
    "avi_mjpeg": ("mjpeg.avi", "mjpeg", "yuvj420p", {}),
    "mkv_h264": ("h264.mkv", "libx264", "yuv420p", {"g": "10", "bf": "2", "preset": "veryfast"}),
}


@functools.cache
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="actionlab-data-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def frame_images(n: int, w: int = 64, h: int = 48, seed: int = 0) -> np.ndarray:
    """n distinct frames: a moving bar, a frame-number code block, smooth texture (codec-friendly)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 120, (h // 8, w // 8, 3)).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    out = np.repeat(base[None], n, axis=0).copy()
    for i in range(n):
        x = (i * 3) % (w - 6)
        out[i, :, x: x + 6] = (230, 230, 40)
        out[i, 2:10, 2:10] = ((i * 37) % 256, (i * 91) % 256, 255 - (i * 53) % 256)
    return out


def write_video(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p",
                options: dict | None = None, fps: int = 25, audio: str | None = None,
                display_matrix: list[int] | None = None) -> Path:
    """uint8 [n, h, w, 3] frames through actionlab's VideoWriter (the tests' one encode loop).  `audio`: an audio
    encoder's name, for a 440 Hz tone as long as the video beside it; `display_matrix`: FFmpeg's nine numbers."""
    from actionlab.data.video_writer import VideoWriter

    with VideoWriter(path, frames.shape[2], frames.shape[1], fps, codec=codec, pix_fmt=pix_fmt,
                     options=dict(options or {})) as out:
        if display_matrix is not None:
            out.stream.set_display_matrix(display_matrix)
        if audio:
            _mux_tone(out.container, audio, len(frames) / fps)
        for img in frames:
            out.write(img)
    return path


def _mux_tone(container, encoder: str, seconds: float, rate: int = 16000) -> None:
    """A mono 440 Hz tone of `seconds` in a new audio stream of `container` (before anything is muxed)."""
    import av

    sound = container.add_stream(encoder, rate=rate)
    sound.layout = "mono"
    samples = int(rate * seconds)
    fmt = sound.codec_context.codec.audio_formats[0].name  # s16, u8, fltp...
    tone = np.sin(2 * np.pi * 440 * np.arange(samples) / rate)
    data = {"s16": (tone * 12000).astype(np.int16), "u8": (128 + tone * 100).astype(np.uint8)}.get(
        fmt.rstrip("p"), tone.astype(np.float32))
    for start in range(0, samples, 1024):
        frame = av.AudioFrame.from_ndarray(data[None, start:start + 1024], format=fmt, layout="mono")
        frame.sample_rate, frame.pts = rate, start
        container.mux(sound.encode(frame))
    container.mux(sound.encode())


@functools.cache
def container_video(name: str, n: int = 40) -> Path:
    file, codec, pix, opts = CONTAINERS[name]
    path = workdir() / file
    return write_video(path, frame_images(n), codec, pix, opts)


@functools.cache
def small_mp4(n: int = 24) -> Path:
    """A small H.264 MP4 with n frames."""
    return write_video(workdir() / f"small_{n}.mp4", frame_images(n, 64, 48, seed=n), options={"g": "8"})


def write_jpegs(folder: Path, n: int, template: str = "{:05d}.jpg", start: int = 1) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frame_images(n, 48, 32)):
        Image.fromarray(img).save(folder / template.format(i + start), quality=92)
    return folder
