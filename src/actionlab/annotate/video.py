"""The annotated video: the input decoded a second time, drawn on, encoded, beside the model's work.

    writer = AnnotatedVideo("in.avi", "out.mp4", class_names, topk=5)
    writer.plan(spans, num_frames)      # the timeline's windows (starts the writer thread)
    writer.scored(i, scores)            # as each window is scored (any thread)
    writer.finish()                     # no more windows; waits for the file, raises the writer's error

The writer thread decodes the video itself (a sequential decode: the same frames, in the same
order, as the timeline's), so no decoded frame is held for the model's sake; it draws frame f as
soon as the window shown at f (`sync.frame_windows`) and every window before it are scored,
and encodes it.  Decoding, drawing and encoding thus run while the model scores later windows.
Without a thread (`run()` after every window is known) the same code writes the video of a
finished timeline.  The audio stream is copied (see `data.video_writer`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .overlay import Annotator
from .sync import frame_windows


@dataclass
class AnnotatedResult:
    path: Path
    frames: int  # frames written
    width: int
    height: int
    audio: str | None  # "copied", "re-encoded to aac (...)" or None (no audio in the input)
    padded: bool  # an odd side was padded by one pixel (yuv420p)


class AnnotatedVideo:
    """See the module docstring.  Thread-safe between one producer (scored) and the writer thread."""

    def __init__(self, video: str | Path, out: str | Path, class_names: Sequence[str], topk: int = 5,
                 autorotate: bool = True, options: dict[str, str] | None = None):
        self.video, self.out = str(video), Path(out)
        if self.out.resolve() == Path(self.video).resolve():
            raise ConfigError(f"{self.out}: the annotated video would overwrite its input; name another file")
        self.class_names = list(class_names)
        self.topk = max(1, min(int(topk), len(self.class_names)))
        self.autorotate = autorotate
        self.options = options
        self._cond = threading.Condition()
        self._spans: list[tuple[int, int]] = []
        self._scores: list[np.ndarray | None] = []
        self._ready = 0  # windows 0.._ready-1 are all scored
        self._closed = False  # no more windows will come
        self._aborted = False
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.result: AnnotatedResult | None = None

    # ---------------------------------------------------------------- producer side

    def plan(self, spans: Sequence[tuple[int, int]], num_frames: int, start: bool = True) -> None:
        """The windows the timeline will score, in order; starts the writer thread unless start=False."""
        self._spans = list(spans)
        self._scores = [None] * len(self._spans)
        self._num_frames = int(num_frames)
        if start:
            self._thread = threading.Thread(target=self._run_safely, name="annotated-video", daemon=True)
            self._thread.start()

    def scored(self, index: int, scores: Any) -> None:
        """Window `index` has its class scores [K] (a tensor or array)."""
        self._raise_if_failed()
        row = np.asarray(scores.detach().cpu() if hasattr(scores, "detach") else scores, dtype=np.float32)
        with self._cond:
            self._scores[index] = row
            while self._ready < len(self._scores) and self._scores[self._ready] is not None:
                self._ready += 1
            self._cond.notify_all()

    def finish(self) -> AnnotatedResult:
        """No more windows: wait for the writer (or write now, without a thread) and return what it wrote."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is None:
            self.run()
        else:
            self._thread.join()
        self._raise_if_failed()
        assert self.result is not None
        return self.result

    def abort(self) -> None:
        """Stop the writer (the timeline failed) and remove the partial file."""
        with self._cond:
            self._aborted = self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.out.unlink(missing_ok=True)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # ---------------------------------------------------------------- writer side

    def _window_for(self, frame: int, shown: np.ndarray) -> int | None:
        """Index of the window to draw at `frame`, waiting until it and all before it are scored.

        None when the writer was aborted.  After `finish`, a window that never came (it started
        past the last decodable frame) is replaced by the last scored one.
        """
        want = int(shown[min(frame, len(shown) - 1)])
        with self._cond:
            while self._ready <= want and not self._closed:
                self._cond.wait()
            if self._aborted:
                return None
            if self._ready <= want:
                return self._ready - 1 if self._ready else None
        return want

    def _run_safely(self) -> None:
        try:
            self.run()
        except BaseException as e:  # handed to the producer by finish() / scored()
            self._error = e
            with self._cond:
                self._aborted = True

    def run(self) -> None:
        """Decode, draw and encode every frame (in this thread)."""
        import av

        from ..data.display import frame_to_rgb
        from ..data.video_writer import VideoWriter

        shown = frame_windows(self._spans, max(self._num_frames, 1))
        top: dict[int, tuple[list[int], list[float]]] = {}

        def top_of(w: int) -> tuple[list[int], list[float]]:
            if w not in top:
                row = self._scores[w]
                assert row is not None
                idx = np.argsort(-row, kind="stable")[: self.topk]
                top[w] = (idx.tolist(), row[idx].tolist())
            return top[w]

        def top1(frame: int) -> tuple[int, float]:
            w = int(shown[min(frame, len(shown) - 1)])
            while self._scores[w] is None and w > 0:  # a window that never came: the last one scored
                w -= 1
            classes, scores = top_of(w)
            return classes[0], scores[0]

        try:
            inp = av.open(self.video, metadata_errors="ignore")
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise DataError(f"cannot open video {self.video}: {e}") from None
        out: VideoWriter | None = None
        annotator: Annotator | None = None
        with inp:
            vs = inp.streams.video[0]
            vs.thread_type = "AUTO"
            audio = inp.streams.audio[0] if inp.streams.audio else None
            vtb = vs.time_base or Fraction(1, 90000)
            early_audio: list[Any] = []  # audio packets demuxed before the first frame opened the output
            pts0, shift, index = None, 0, 0
            try:
                for packet in inp.demux(*(s for s in (vs, audio) if s is not None)):
                    if packet.stream is audio:
                        if out is None:
                            early_audio.append(packet)
                        else:
                            out.mux_audio(packet, shift)
                        continue
                    for frame in packet.decode():
                        assert isinstance(frame, av.VideoFrame)  # the video stream's packets
                        w = self._window_for(index, shown)
                        if w is None:
                            return
                        img = frame_to_rgb(frame, self.autorotate)
                        if out is None:
                            out = VideoWriter(self.out, img.shape[1], img.shape[0],
                                              vs.average_rate or vs.guessed_rate or 25, vtb, options=self.options,
                                              audio_from=audio)
                            annotator = Annotator(img.shape[1], img.shape[0], self.class_names, self._num_frames)
                            pts0 = frame.pts or 0
                            if audio is not None and audio.time_base:
                                shift = round(pts0 * vtb / audio.time_base)
                            for p in early_audio:
                                out.mux_audio(p, shift)
                            early_audio.clear()
                        if not img.flags.writeable:
                            img = img.copy()
                        classes, scores = top_of(w)
                        assert annotator is not None and pts0 is not None  # set with the output, above
                        annotator.draw(img, index, w, classes, scores, top1)
                        out.write(img, None if frame.pts is None else frame.pts - pts0)
                        index += 1
            except av.error.FFmpegError as e:
                raise DataError(f"cannot decode video {self.video}: {e}") from None
            finally:
                if out is not None:
                    out.close()
        if out is None:
            raise DataError(f"{self.video} holds no decodable frames")
        self.result = AnnotatedResult(self.out, out.frames, out.width, out.height, out.audio, out.padded)
