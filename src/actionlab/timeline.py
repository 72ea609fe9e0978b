"""Long videos: a window slid over the whole video, one prediction per window, written as a timeline.

    actionlab timeline VIDEO --model TAG|CHECKPOINT --window 64 --stride 16 [--out-video OUT.mp4] [--html OUT.html]
    actionlab predict VIDEO --checkpoint CKPT --window 64 --stride 16        (the same, from `predict`)
      -> <out>/<video>.timeline.json   per window: start/end frame and seconds, top classes and scores
         <out>/<video>.timeline.csv    the same, one row per window
         <out>/<video>.timeline.png    class scores over time (the classes that win some window)
         OUT.mp4                       the video with the top-k of the window shown at each frame drawn on it
         OUT.html                      a page to watch it: player, class scores over time, top-5 at any time

Windows start every `stride` frames; a last window is aligned to the video's end
so that the tail is covered too (a video shorter than `window` is one window).
Inside a window the model's own test sampler picks its T frames, exactly as
`Predictor.predict` would on the window's frames.  A frame is shown with the window whose
centre is nearest to it (`annotate.sync`), in the video and on the page alike.

Memory stays bounded for hour-long videos: the video is decoded once, as a
stream; a frame is resized and cropped only when some window samples it and is
dropped as soon as the last window that needs it has been scored, so at most
about T * ceil(window / stride) small crops are held at once, never the video.
The annotated video is written by a second decoder in a thread that trails the
model by a few windows (`annotate.video`): no full-size frame is held for it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch

from .errors import ConfigError, DataError, require

# --------------------------------------------------------------------------- streaming decode


def _open(path: str | Path) -> Any:
    import av

    path = Path(path)
    if not path.is_file():
        raise DataError(f"video not found: {path}")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
        from .data.open_errors import open_failure

        raise open_failure(path, e) from None
    if not container.streams.video:
        container.close()
        raise DataError(f"{path} has no video stream")
    return container


def iter_frames(path: str | Path) -> Iterator[Any]:
    """Every frame of the first video stream in decode-output (presentation) order, as av.VideoFrame.

    Frame i is the data readers' frame i (the i-th frame of a full sequential decode).
    """
    import av

    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads: a whole-video decode is the long pole
        try:
            yield from container.decode(stream)
        except av.error.FFmpegError as e:
            from .data.open_errors import ffmpeg_reason

            raise DataError(f"cannot decode video {path}: {ffmpeg_reason(e)}") from None


def _rgb(frame: Any, autorotate: bool = True) -> torch.Tensor:
    from .data.display import frame_to_rgb  # upright by the display matrix, as the readers return frames

    return torch.from_numpy(frame_to_rgb(frame, autorotate))


# --------------------------------------------------------------------------- windows


def plan_windows(num_frames: int, window: int, stride: int) -> list[tuple[int, int]]:
    """[(start, end)) frame spans: every `stride` frames, plus one aligned to the end when the tail is uncovered."""
    if window < 1 or stride < 1:
        raise ConfigError(f"--window and --stride must be positive, got window={window}, stride={stride}")
    if num_frames <= window:
        return [(0, num_frames)]
    spans = [(s, s + window) for s in range(0, num_frames - window + 1, stride)]
    if spans[-1][1] < num_frames:
        spans.append((num_frames - window, num_frames))
    return spans


@dataclass
class WindowResult:
    index: int
    start_frame: int
    end_frame: int  # exclusive
    start: float  # seconds from the first frame
    end: float  # seconds: end of the window's last frame
    labels: list[str]
    scores: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start_frame": self.start_frame, "end_frame": self.end_frame,
                "start": round(self.start, 4), "end": round(self.end, 4),
                "top": [{"label": n, "score": round(s, 6)} for n, s in zip(self.labels, self.scores)]}


@dataclass
class Timeline:
    video: str
    model: str
    fps: float
    num_frames: int  # frames the container announced
    decoded_frames: int  # frames actually decoded
    window: int
    stride: int
    frames_per_clip: int
    class_names: list[str]
    windows: list[WindowResult]
    scores: torch.Tensor = field(repr=False)  # [num_windows, K] every class's score per window (for the plot)
    peak_buffered_frames: int = 0  # most preprocessed frames held at once (memory bound check)
    end_time: float = 0.0  # seconds from the first frame to the end of the last (timestamps: VFR, dropped frames)
    autorotate: bool = True  # frames were turned upright by their rotation metadata (the video is drawn so too)
    annotated: Any = None  # `annotate.video.AnnotatedResult` once an annotated video was written

    @property
    def duration(self) -> float:
        if self.end_time:
            return self.end_time
        return self.num_frames / self.fps if self.fps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"video": self.video, "model": self.model, "fps": round(self.fps, 6), "num_frames": self.num_frames,
                "decoded_frames": self.decoded_frames, "duration": round(self.duration, 4),
                "window": self.window, "stride": self.stride, "frames_per_clip": self.frames_per_clip,
                "windows": [w.to_dict() for w in self.windows]}

    @property
    def topk(self) -> int:
        return max((len(w.labels) for w in self.windows), default=1)

    def frame_time(self, frames: Any) -> Any:
        """Seconds from the first frame at which frame(s) `frames` start, from the windows' timestamps."""
        import numpy as np

        starts = {w.start_frame: w.start for w in self.windows}  # real timestamps of the window starts
        last = self.windows[-1]
        starts.setdefault(min(last.end_frame, self.decoded_frames), last.end)
        xs = np.array(sorted(starts), dtype=float)
        ys = np.array([starts[int(x)] for x in xs], dtype=float)
        if len(xs) == 1:
            return np.asarray(frames, dtype=float) / (self.fps or 1.0)
        return np.interp(frames, xs, ys)

    def page_data(self, max_classes: int = 8) -> dict[str, Any]:
        """What the timeline page shows (inline JSON): windows with their top-k, plotted classes' scores, and
        `shown`: [[start seconds, window]] -- the window each stretch of the video is shown with."""
        import numpy as np

        from .annotate.overlay import hex_colour
        from .annotate.sync import frame_windows

        if not self.windows:
            raise DataError(f"{self.video}: no window was scored, nothing to show")
        index: dict[str, int] = {}
        for i, name in enumerate(self.class_names):
            index.setdefault(name, i)
        n = max(self.decoded_frames, 1)
        shown = frame_windows([(w.start_frame, w.end_frame) for w in self.windows], n)
        changes = np.concatenate([[0], np.flatnonzero(np.diff(shown)) + 1])
        times = np.atleast_1d(self.frame_time(changes))
        windows = [{"index": i, "start": round(w.start, 4), "end": round(w.end, 4), "start_frame": w.start_frame,
                    "end_frame": w.end_frame,
                    "top": [[label, round(score, 5), hex_colour(index[label])] for label, score in zip(w.labels,
                                                                                                    w.scores)]}
                   for i, w in enumerate(self.windows)]
        series = [{"name": self.class_names[c], "colour": hex_colour(c),
                   "scores": [round(float(v), 4) for v in self.scores[:, c]]}
                  for c in plotted_classes(self, max_classes)]
        return {"name": Path(self.video).name, "video": self.video, "model": self.model, "window": self.window,
                "stride": self.stride, "fps": round(self.fps, 6), "duration": round(self.duration, 4),
                "frames": self.decoded_frames, "centres": [round((w.start + w.end) / 2, 4) for w in self.windows],
                "series": series, "windows": windows,
                "shown": [[round(float(t), 4), int(shown[f])] for t, f in zip(times, changes)]}

    def to_video(self, path: str | Path, topk: int | None = None, options: dict[str, str] | None = None) -> Any:
        """The video with each frame's window top-k drawn on it (H.264; audio copied); a second decode, no model.

        Returns `annotate.video.AnnotatedResult` (path, frames, size, what happened to the audio).
        """
        from .annotate.video import AnnotatedVideo

        if not self.windows:
            raise DataError(f"{self.video}: no window was scored, nothing to draw")
        writer = AnnotatedVideo(self.video, path, self.class_names, topk or self.topk, self.autorotate, options)
        writer.plan([(w.start_frame, w.end_frame) for w in self.windows], self.num_frames, start=False)
        for i, row in enumerate(self.scores):
            writer.scored(i, row)
        try:
            self.annotated = writer.finish()
        except BaseException:
            Path(path).unlink(missing_ok=True)
            raise
        return self.annotated

    def to_html(self, path: str | Path, video: str | Path | None = None, embed: bool = False,
                max_classes: int = 8) -> Path:
        """The timeline page at `path` (see `annotate.page`).

        video: the file the page plays (referenced by relative path, or embedded with embed=True); by default
        the annotated video this timeline wrote, else one written now beside the page (`<page>.labels.mp4`).
        """
        from .annotate.page import write_timeline_page

        if video is None:
            if self.annotated is None or not Path(self.annotated.path).is_file():
                self.to_video(Path(path).with_suffix(".labels.mp4"))
            video = self.annotated.path
        return write_timeline_page(path, self.page_data(max_classes), video, embed)


@dataclass
class _Pending:
    index: int
    start: int
    end: int
    samples: list[int]  # frames the model takes, in clip order (a dense clip longer than the window wraps)

    @property
    def last(self) -> int:
        return max(self.samples)


class WindowSink(Protocol):
    """Told the planned windows, then each window's scores as they come (`annotate.video.AnnotatedVideo`)."""

    def plan(self, spans: list[tuple[int, int]], num_frames: int) -> None: ...

    def scored(self, index: int, scores: torch.Tensor) -> None: ...


def video_timeline(predictor: Any, video: str | Path, window: int = 64, stride: int = 16, topk: int = 5,
                   batch_size: int = 8, progress: Callable[[int, int], None] | None = None,
                   sink: WindowSink | None = None) -> Timeline:
    """Slide `window` frames by `stride` over the whole of `video`; score each window with `predictor`.

    predictor: an `actionlab.api.Predictor` (its sampler, crop and model are used as they are).
    sink: told the planned windows and every window's scores as soon as they are known.
    """
    from .data.readers import video_info

    probe = video_info(video)  # frame count from the container (or one demux pass, cached): no decoding
    spans = plan_windows(probe.num_frames, window, stride)
    if sink is not None:
        sink.plan(spans, probe.num_frames)
    pre = predictor.preprocess
    fps = probe.fps
    k = len(predictor.class_names)
    scores = torch.zeros(len(spans), k)
    done = torch.zeros(len(spans), dtype=torch.bool)
    boundary = {i for s, e in spans for i in (s, e - 1)}
    times: dict[int, float] = {}

    buffer: dict[int, torch.Tensor] = {}  # frame index -> uint8 crop [3, S, S]
    refcount: dict[int, int] = {}  # frame index -> windows that still need it
    active: list[_Pending] = []
    batch: list[tuple[int, torch.Tensor]] = []
    next_window, peak, decoded = 0, 0, 0
    last_frame: Any = None

    def crop(frame: Any) -> torch.Tensor:
        # short side resize + centre crop: [3, S, S]
        return pre.clips(_rgb(frame, pre.autorotate)[None])[0, :, 0]

    def flush() -> None:
        if not batch:
            return
        out = predictor.scores(predictor.logits(torch.stack([clip for _, clip in batch])))
        for (w, _), row in zip(batch, out):
            scores[w], done[w] = row, True
            if sink is not None:
                sink.scored(w, row)
        batch.clear()
        if progress is not None:
            progress(int(done.sum()), len(spans))

    def finish(p: _Pending, fallback: torch.Tensor | None = None) -> None:
        frames = [buffer[s] if s in buffer else fallback for s in p.samples]
        clip = torch.stack([f for f in frames if f is not None], dim=1)
        assert clip.shape[1] == len(frames)  # every sample is buffered, or a fallback is given
        batch.append((p.index, clip))
        for s in p.samples:
            refcount[s] -= 1
            if refcount[s] == 0:
                del refcount[s]
                buffer.pop(s, None)
        if len(batch) >= batch_size:
            flush()

    for i, frame in enumerate(iter_frames(video)):
        if i >= probe.num_frames:  # the container undercounted: no window was planned past its count
            break
        decoded, last_frame = i + 1, frame
        # a window needs no frame before its start, so it is enough to register it when its start arrives
        while next_window < len(spans) and spans[next_window][0] <= i:
            s, e = spans[next_window]
            samples = [s + int(j) for j in pre.sample(e - s)[0]]
            for j in samples:
                refcount[j] = refcount.get(j, 0) + 1
            active.append(_Pending(next_window, s, e, samples))
            next_window += 1
        if i in boundary:
            times[i] = float(frame.time) if frame.time is not None else (i / fps if fps else 0.0)
        if i in refcount:
            buffer[i] = crop(frame)
            peak = max(peak, len(buffer))
        ready = [p for p in active if p.last <= i]
        for p in ready:
            active.remove(p)
            finish(p)
    if last_frame is None:
        raise DataError(f"{video} holds no decodable frames")
    if last_frame.time is not None:
        times[decoded - 1] = float(last_frame.time)
    if active:  # the container overcounted: the last decoded frame stands in for the missing ones
        fallback = crop(last_frame)
        for p in active:
            finish(p, fallback)
    flush()

    t0 = times.get(0, 0.0)
    frame_time = 1.0 / fps if fps else 0.0
    results = []
    for w, (s, e) in enumerate(spans):
        if not done[w]:
            continue  # starts after the last decodable frame
        last = min(e, decoded) - 1
        start_t = times.get(s, s * frame_time) - t0
        end_t = times.get(last, last * frame_time) - t0 + frame_time
        values, idx = scores[w].topk(min(topk, k))
        results.append(WindowResult(w, s, e, start_t, end_t, [predictor.class_names[j] for j in idx.tolist()],
                                    [float(v) for v in values]))
    return Timeline(str(video), predictor.model_name, fps, probe.num_frames, decoded, window, stride,
                    pre.num_frames, list(predictor.class_names), results, scores[done], peak,
                    times[decoded - 1] - t0 + frame_time if decoded - 1 in times else 0.0, pre.autorotate)


def annotated_timeline(predictor: Any, video: str | Path, out_video: str | Path, window: int = 64,
                       stride: int = 16, topk: int = 5, batch_size: int = 8,
                       progress: Callable[[int, int], None] | None = None,
                       options: dict[str, str] | None = None) -> Timeline:
    """`video_timeline` and the annotated video at once: the video is decoded, drawn and encoded in a thread
    while the model scores the windows (`annotate.video`).  The result is in `Timeline.annotated`."""
    from .annotate.video import AnnotatedVideo

    writer = AnnotatedVideo(video, out_video, predictor.class_names, topk, predictor.preprocess.autorotate, options)
    try:
        timeline = video_timeline(predictor, video, window, stride, topk, batch_size, progress, sink=writer)
        timeline.annotated = writer.finish()
    except BaseException:
        writer.abort()
        raise
    return timeline


# --------------------------------------------------------------------------- writing


def write_json(timeline: Timeline, path: Path) -> Path:
    """The timeline as JSON, one line per window (an hour-long video has thousands)."""
    d = timeline.to_dict()
    windows = d.pop("windows")
    head = json.dumps(d, indent=1)[:-2]  # without the closing "\n}"
    body = ",\n  ".join(json.dumps(w) for w in windows)
    path.write_text(f'{head},\n "windows": [\n  {body}\n ]\n}}\n' if windows else
                    f'{head},\n "windows": []\n}}\n', encoding="utf-8")
    return path


def write_csv(timeline: Timeline, path: Path) -> Path:
    topk = max((len(w.labels) for w in timeline.windows), default=0)
    header = ["index", "start_frame", "end_frame", "start", "end"]
    for r in range(1, topk + 1):
        header += [f"label_{r}", f"score_{r}"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for w in timeline.windows:
            row: list[Any] = [w.index, w.start_frame, w.end_frame, f"{w.start:.4f}", f"{w.end:.4f}"]
            for label, score in zip(w.labels, w.scores):
                row += [label, f"{score:.6f}"]
            writer.writerow(row)
    return path


def plotted_classes(timeline: Timeline, max_classes: int = 8) -> list[int]:
    """Classes that are top-1 in some window (highest peak first), topped up to 3 with the next-highest peaks.

    At most `max_classes`: with hundreds of classes only the ones that matter somewhere are drawn.
    """
    if not timeline.windows:
        return []
    peak = timeline.scores.max(0).values
    by_peak = peak.argsort(descending=True).tolist()
    winners = set(timeline.scores.argmax(1).tolist())
    chosen = [c for c in by_peak if c in winners]
    chosen += [c for c in by_peak if c not in winners][:max(0, 3 - len(chosen))]
    return chosen[:max_classes]


def write_plot(timeline: Timeline, path: Path, max_classes: int = 8) -> Path:
    """Scores of the winning classes over time (window centres), one line per class."""
    matplotlib = require("matplotlib", "viz", "the timeline plot (or pass --no-plot)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres = [(w.start + w.end) / 2 for w in timeline.windows]
    fig, ax = plt.subplots(figsize=(12, 4), dpi=100)
    for c in plotted_classes(timeline, max_classes):
        ax.plot(centres, timeline.scores[:, c].tolist(), marker="." if len(centres) < 60 else None,
                label=timeline.class_names[c])
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.02)
    if timeline.duration:
        ax.set_xlim(0, timeline.duration)
    ax.set_title(f"{Path(timeline.video).name}: {timeline.model}, window {timeline.window} / stride "
                 f"{timeline.stride} frames", fontsize=10)
    if centres:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_timeline(timeline: Timeline, out_dir: str | Path, plot: bool = True, max_classes: int = 8
                   ) -> dict[str, Path]:
    """<out_dir>/<video stem>.timeline.{json,csv,png}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(timeline.video).stem}.timeline"
    paths = {"json": write_json(timeline, out / f"{stem}.json"), "csv": write_csv(timeline, out / f"{stem}.csv")}
    if plot:
        paths["png"] = write_plot(timeline, out / f"{stem}.png", max_classes)
    return paths
