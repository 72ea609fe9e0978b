"""Writing videos with PyAV: RGB frames in, an H.264 (or any FFmpeg encoder) file out.

    with VideoWriter("out.mp4", width, height, rate=Fraction(25)) as out:
        for rgb in frames:              # uint8 [H, W, 3]
            out.write(rgb)              # or out.write(rgb, pts) with pts in `time_base` units

One helper for every encode loop (the generated benchmark, `bench data`, timelines, the tests'
videos): the frames' timestamps are kept when given (variable frame rate, dropped frames), an
audio stream can be copied packet for packet from an input file (`audio_from=`), or re-encoded
to AAC when the output container cannot hold its codec; `container_format`/`container_options`
(e.g. movflags=faststart), `stream_time_base` and `rotation` reach the muxer.
yuv420p needs even sides (H.264 in browsers and players): an odd width or height is padded by
one edge pixel, and `padded` says so.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import DataError

H264_OPTIONS = {"crf": "23", "preset": "veryfast"}


class VideoWriter:
    """An output file with one video stream (and optionally one audio stream taken from an input)."""

    container: Any  # PyAV's OutputContainer (None once closed), its video stream and the audio one
    stream: Any
    _audio_out: Any

    def __init__(self, path: str | os.PathLike, width: int, height: int, rate: Fraction | int | float,
                 time_base: Fraction | None = None, *, codec: str = "libx264", pix_fmt: str = "yuv420p",
                 options: dict[str, str] | None = None, threads: int = 0, audio_from: Any = None,
                 container_format: str | None = None, container_options: dict[str, str] | None = None,
                 stream_time_base: Fraction | None = None, rotation: int = 0):
        import av

        self.path = str(path)
        self.width, self.height = int(width), int(height)
        even = pix_fmt in ("yuv420p", "nv12")
        self.out_width = self.width + (self.width % 2 if even else 0)
        self.out_height = self.height + (self.height % 2 if even else 0)
        self.padded = (self.out_width, self.out_height) != (self.width, self.height)
        rate = Fraction(rate).limit_denominator(1_000_000) if rate else Fraction(25)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self.container = av.open(self.path, "w", format=container_format, options=container_options or {})
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise DataError(f"cannot write video {self.path}: {e}") from None
        self.stream = self.container.add_stream(codec, rate=rate)
        self.stream.width, self.stream.height, self.stream.pix_fmt = self.out_width, self.out_height, pix_fmt
        self.stream.options = dict(H264_OPTIONS if codec == "libx264" and options is None else options or {})
        self.stream.codec_context.thread_count = threads
        self.time_base = time_base or Fraction(1, 1) / rate
        self.stream.codec_context.time_base = self.time_base  # timestamps stay those of the input
        if stream_time_base is not None:  # the container's clock too (else the muxer picks one)
            self.stream.time_base = stream_time_base
        if rotation:
            self.stream.set_display_rotation(rotation)  # display-matrix side data, as phones write it
        self._step = max(1, round(1 / (rate * self.time_base)))  # one frame at `rate`, in time_base units
        self._last_pts: int | None = None
        self.frames = 0
        self.audio: str | None = None  # "copied" | "re-encoded to aac" | None
        self._audio_in = audio_from
        self._audio_out = None
        if audio_from is not None:
            self._add_audio(audio_from)

    def _add_audio(self, template: Any) -> None:
        name = template.codec_context.name
        if name in self.container.supported_codecs:
            self._audio_out = self.container.add_stream_from_template(template)
            self.audio = "copied"
        else:  # e.g. PCM into MP4: the container cannot hold it, so it is encoded (AAC ships with FFmpeg)
            self._audio_out = self.container.add_stream("aac", rate=template.codec_context.sample_rate or 48000)
            channels = template.codec_context.layout.nb_channels
            # the usual layout for that many channels (an input may say only "1 channels"); others are downmixed
            self._audio_out.layout = {1: "mono", 6: "5.1", 8: "7.1"}.get(channels, "stereo")
            self.audio = f"re-encoded to aac ({name} does not fit {os.path.splitext(self.path)[1] or 'the file'})"

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """One frame uint8 [height, width, 3]; `pts` in `time_base` units (None: one frame after the last)."""
        import av

        if rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"frame of shape {rgb.shape}, the writer was opened for {(self.height, self.width, 3)}")
        if self.padded:
            rgb = np.pad(rgb, ((0, self.out_height - self.height), (0, self.out_width - self.width), (0, 0)),
                         mode="edge")
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + self._step  # no or repeated timestamp
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts, frame.time_base = pts, self.time_base
        self._last_pts = pts
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def mux_audio(self, packet: Any, shift: int = 0) -> None:
        """An audio packet demuxed from the `audio_from` stream, moved `shift` earlier (its time base) as the video
        was (its first frame at 0).  Packets are copied as they are, encoder priming included."""
        if self._audio_out is None or packet.dts is None:
            return  # no audio wanted, or the demuxer's flush packet
        if self.audio == "copied":
            if shift > 0 and packet.pts is not None and packet.pts + (packet.duration or 0) <= shift:
                return  # ends before the first video frame (a stream that starts late, as in MPEG-TS)
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts -= shift
            packet.stream = self._audio_out
            self._mux([packet])
            return
        for frame in packet.decode():
            if frame.pts is not None:
                if shift > 0 and frame.pts + frame.samples <= shift:
                    continue
                frame.pts -= shift
            self._mux(self._audio_out.encode(frame))

    def _mux(self, packets: list[Any]) -> None:
        import av

        try:
            self.container.mux(packets)
        except av.error.FFmpegError as e:
            raise DataError(f"cannot write video {self.path}: {e}") from None

    def close(self) -> None:
        """Flush the encoders and finish the file."""
        if self.container is None:
            return
        try:
            self._mux(self.stream.encode())
            if self._audio_out is not None and self.audio != "copied":
                self._mux(self._audio_out.encode())
        finally:
            self.container.close()
            self.container = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
