"""actionlab bench data: reader and DataLoader throughput for TSN 8-segment sampling at 224 px.

Generates 10 s, 30 fps, 340x256 H.264 videos (moving textured content + noise) in a
temporary directory, twice: with x264's default GOP (keyframe every 250 frames, what
re-encoded datasets usually have) and with a 1 s GOP.  Then, per clip (8 TSN training
segments, multi-scale crop to 224 px, flip), it times
  (a) naive       PyAV's plain decode loop from the start to the last kept frame, RGB only for
                  the kept frames (the honest baseline: nothing converted that is not used)
  (b) bound       the decode bound written by hand for these files (`bound_read`): keyframe runs,
                  non-reference frames skipped, no checks; the reader should reach >= 0.95x of it
  (c) actionlab   `actionlab.data.readers` PyAV reader on a file it has not scanned yet (first
                  epoch), and (c') with its per-process scan cache warm (later epochs)
  (d) torchcodec  when installed (exact seek mode)
  (e) decord      0.6.0 when installed (optional column)
as clips/s (wall clock) for reading alone and for reading + the crop/resize transform, and
as clips per CPU second of reading + transform (robust on a shared machine), with the ratios
to (a) and (b), and the largest pixel difference to (a) on one clip (0: the same frames).
Last, the DataLoader throughput of a `VideoDataset` over the default-GOP videos
with 0, 1 and 2 workers.  Reader timings run with one torch thread (as in a worker) and
report the median of `--repeats` passes.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy and torch are imported when the benchmark runs: `actionlab --help` stays fast
    import numpy as np
    import torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", type=int, default=3, help="videos per GOP setting")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each generated video (default 10)")
    p.add_argument("--fps", type=int, default=30, help="frame rate of the generated videos (default 30)")
    p.add_argument("--width", type=int, default=340, help="width of the generated videos in pixels (default 340)")
    p.add_argument("--height", type=int, default=256, help="height of the generated videos in pixels (default 256)")
    p.add_argument("--size", type=int, default=224, help="crop size")
    p.add_argument("--segments", type=int, default=8, help="TSN segments = frames per clip (default 8)")
    p.add_argument("--repeats", type=int, default=3, help="passes over the videos per reader")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader worker counts")
    p.add_argument("--batch-size", type=int, default=8, help="clips per batch in the DataLoader measurement")
    p.add_argument("--loader-clips", type=int, default=48, help="clips per DataLoader measurement")
    p.add_argument("--dir", default=None, help="keep the generated videos here instead of a temp dir")


def _pts(packet: Any) -> int:
    """A packet's presentation time (the H.264 files made here all have one)."""
    assert packet.pts is not None
    return int(packet.pts)


def make_video(path: Path, seconds: float, fps: int, width: int, height: int, gop: int | None, seed: int) -> None:
    """Textured background panning, two moving blocks, sensor-like noise: content H.264 must work for."""
    import numpy as np

    from ..data.video_writer import VideoWriter

    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    tex = rng.integers(0, 256, (height // 8 + 1, width // 8 + 2, 3), dtype=np.uint8)
    tex = np.repeat(np.repeat(tex, 8, 0), 8, 1)[:height]
    options = {"preset": "veryfast", "crf": "23"}
    if gop:
        options["g"] = str(gop)
    with VideoWriter(path, width, height, fps, options=options) as out:
        for i in range(n):
            img = np.roll(tex, -2 * i, axis=1)[:, :width].copy()
            x = (3 * i) % (width - 60)
            img[40:110, x: x + 60] = (220, 40, 40)
            y = (2 * i) % (height - 50)
            img[y: y + 50, width - 120: width - 60] = (40, 200, 60)
            img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
            out.write(img)


def naive_read(path: str, indices: np.ndarray) -> torch.Tensor:
    """(a): PyAV's plain decode loop from the start, every frame decoded, only the kept ones converted to RGB."""
    import av
    import numpy as np
    import torch

    wanted = {int(i) for i in indices}
    last = max(wanted)
    out = {}
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                out[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
    return torch.from_numpy(np.stack([out[int(i)] for i in indices]))


def bound_read(path: str, indices: np.ndarray) -> torch.Tensor:
    """(b): the decode bound, written by hand for these files: demux once, decode each wanted frame from the
    keyframe before it (continuing when that is nearer), skip non-reference frames that are not kept,
    convert only the kept frames.  No checks and no generality (closed GOPs, clean timestamps assumed)."""
    import bisect

    import av
    import numpy as np
    import torch

    with av.open(path) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        cc.thread_count = 1
        packets = [p for p in container.demux(stream) if p.size]
        order = sorted(range(len(packets)), key=lambda i: _pts(packets[i]))  # frame -> decode position
        keys = [i for i, p in enumerate(packets) if p.is_keyframe]
        want = {packets[order[int(f)]].pts for f in indices}
        out: dict[int, np.ndarray] = {}

        def keep(frames: list) -> None:
            for frame in frames:
                if frame.pts in want:
                    out[frame.pts] = frame.to_ndarray(format="rgb24")

        pos = -1  # next packet to feed; -1: the decoder is idle
        for target in sorted({order[int(f)] for f in indices}):
            key = keys[bisect.bisect_right(keys, target) - 1]
            if pos < 0 or key > pos:  # restart at the keyframe
                if pos >= 0:
                    keep(cc.decode(None))
                    cc.flush_buffers()
                pos = key
            for packet in packets[pos: target + 1]:
                cc.skip_frame = "DEFAULT" if packet.pts in want else "NONREF"
                keep(cc.decode(packet))
            pos = target + 1
        cc.skip_frame = "DEFAULT"
        keep(cc.decode(None))
        pts = [_pts(packets[order[int(f)]]) for f in indices]
    return torch.from_numpy(np.stack([out[p] for p in pts]))


def decord_read(path: str, indices: np.ndarray) -> torch.Tensor:
    """decord 0.6.0 (optional): `VideoReader(...).get_batch`, one decoder thread."""
    import decord
    import torch

    video = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    return torch.from_numpy(video.get_batch([int(i) for i in indices]).asnumpy())


def actionlab_cold(path: str, indices: np.ndarray) -> torch.Tensor:
    """actionlab's reader on a file it has not scanned in this process (first epoch)."""
    from ..data.readers import read
    from ..data.video_index import INDEX_CACHE

    INDEX_CACHE.clear()
    return read(path, indices, backend="pyav")


def _time_readers(readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]], videos: list[str], repeats: int,
                  segments: int, size: int) -> dict[str, tuple[float, float, float]]:
    """Per reader: (read clips/s, read+transform clips/s, read+transform clips per CPU second), medians.

    Interleaved: every clip (the same frame indices and crop for all readers) is read by each reader in
    turn, so a change of load on a shared machine hits all columns alike.  The CPU figure (this process's
    CPU time; decoding runs on one thread) is what the clip costs on an idle core.
    """
    import numpy as np

    from ..data.readers import video_info
    from ..data.sampling import SegmentSampler
    from ..data.transforms import TrainTransform

    sampler = SegmentSampler(segments)
    transform = TrainTransform(size, 256, "multiscale", True)
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in readers}
    rng = np.random.default_rng(0)
    for reader in readers.values():
        reader(videos[0], np.arange(segments))  # warm-up (imports, codec tables)
    for _ in range(repeats):
        for path in videos:
            idx = sampler(video_info(path).num_frames, rng, True).reshape(-1)
            seed = int(rng.integers(1 << 31))
            for name, reader in readers.items():
                c0 = time.process_time()
                t0 = time.perf_counter()
                frames = reader(path, idx)
                t1 = time.perf_counter()
                transform(frames, np.random.default_rng(seed))
                t2 = time.perf_counter()
                times[name].append((t1 - t0, t2 - t0, time.process_time() - c0))
    med = statistics.median
    return {name: (1.0 / med(t[0] for t in ts), 1.0 / med(t[1] for t in ts), 1.0 / max(med(t[2] for t in ts), 1e-9))
            for name, ts in times.items()}


def _loader_rate(root: Path, videos: list[str], workers: int, batch_size: int, clips: int, size: int,
                 segments: int) -> float:
    from torch.utils.data import DataLoader

    from ..config import DataConfig
    from ..data import build_dataset, collate

    reps = max(1, -(-clips // len(videos)))
    lines = [f"{Path(v).name} 0" for v in videos] * reps
    (root / "bench_list.txt").write_text("\n".join(lines[:clips]) + "\n", encoding="utf-8")
    cfg = DataConfig(root=str(root), train_list="bench_list.txt", num_segments=segments, input_size=size,
                     scale_size=256)
    dataset = build_dataset(cfg, "train", seed=0)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    start = time.perf_counter()
    seen = 0
    for batch in loader:
        seen += len(batch["index"])
    return seen / (time.perf_counter() - start)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..data.readers import read, torchcodec_available, video_info

    keep = args.dir is not None
    tmp = None
    if keep:
        root = Path(args.dir)
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="actionlab-bench-data-")
        root = Path(tmp.name)
    threads = torch.get_num_threads()
    try:
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU cores, "
              f"torch {torch.__version__} ({'CUDA' if torch.cuda.is_available() else 'no GPU'}); "
              f"load average at start {load0:.1f}")
        gops = {"x264 default GOP (250)": None, "1 s GOP (30)": args.fps}
        sets: dict[str, list[str]] = {}
        start = time.perf_counter()
        for g, (name, gop) in enumerate(gops.items()):
            sets[name] = []
            for i in range(args.videos):
                path = root / f"bench_{'default' if gop is None else f'g{gop}'}_{i}.mp4"
                if not path.exists():
                    make_video(path, args.seconds, args.fps, args.width, args.height, gop, seed=100 * g + i)
                sets[name].append(str(path))
        print(f"videos: {args.videos} per GOP setting, {args.seconds:g} s at {args.fps} fps, "
              f"{args.width}x{args.height} H.264 (made in {time.perf_counter() - start:.1f} s)")
        print(f"clips: TSN {args.segments}-segment training sampling, multi-scale crop + flip to {args.size} px; "
              f"median of {args.repeats} passes, readers interleaved clip by clip; 1 torch thread")
        readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]] = {
            "(a) naive: decode all, RGB kept": naive_read,
            "(b) decode bound (by hand)": bound_read,
            "(c) actionlab, first epoch": actionlab_cold,
            "(c') actionlab, scan cached": lambda p, i: read(p, i, backend="pyav"),
        }
        if torchcodec_available():
            import torchcodec

            readers[f"(d) torchcodec {torchcodec.__version__.split('+')[0]}"] = \
                lambda p, i: read(p, i, backend="torchcodec")
        if importlib.util.find_spec("decord") is not None:
            import decord

            readers[f"(e) decord {decord.__version__}"] = decord_read
        else:
            print("decord: not installed (pip install decord==0.6.0), no column")
        torch.set_num_threads(1)
        header = (f"{'videos':<24} {'reader':<30} {'read clips/s':>12} {'+transform':>10} {'clips/CPU-s':>11} "
                  f"{'vs (a)':>7} {'vs (b)':>7} {'wall vs (b)':>11} {'max|diff|':>9}")
        print(header)
        print("-" * len(header))
        for name, videos in sets.items():
            base = bound = None
            check_idx = np.linspace(0, video_info(videos[0]).num_frames - 1, args.segments).astype(np.int64)
            reference = naive_read(videos[0], check_idx)
            timed = _time_readers(readers, videos, args.repeats, args.segments, args.size)
            for rname, reader in readers.items():
                r, t, c = timed[rname]
                base = base or (r, t, c)
                bound = bound or ((r, t, c) if rname.startswith("(b)") else None)
                diff = int((reader(videos[0], check_idx).int() - reference.int()).abs().max())
                vs_b = f"{c / bound[2]:>6.2f}x {r / bound[0]:>10.2f}x" if bound else f"{'':>7} {'':>11}"
                print(f"{name:<24} {rname:<30} {r:>12.1f} {t:>10.1f} {c:>11.1f} {c / base[2]:>6.2f}x {vs_b} "
                      f"{diff:>9d}")
        torch.set_num_threads(threads)
        default_videos = sets["x264 default GOP (250)"]
        rates = []
        for w in args.workers:
            rate = _loader_rate(root, default_videos, w, args.batch_size, args.loader_clips, args.size,
                                args.segments)
            rates.append(f"{w} workers {rate:.1f}")
        print(f"DataLoader (VideoDataset, x264 default GOP, batch {args.batch_size}, {args.loader_clips} clips): "
              f"clips/s: " + ", ".join(rates))
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"load average at end {load1:.1f} (figures are noisy when it exceeds the core count)")
    finally:
        torch.set_num_threads(threads)
        if tmp is not None:
            tmp.cleanup()
    return 0
