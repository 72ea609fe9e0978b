"""actionlab bench data: reader and DataLoader throughput for TSN 8-segment sampling at 224 px.

Generates 10 s, 30 fps, 340x256 H.264 videos (moving textured content + noise) in a
temporary directory, twice: with x264's default GOP (keyframe every 250 frames, what
re-encoded datasets usually have) and with a 1 s GOP.  Then, per clip (8 TSN training
segments, multi-scale crop to 224 px, flip), it times
  (a) naive       decode every frame with PyAV, convert all to RGB, index the 8 wanted
  (b) actionlab   `actionlab.data.readers` PyAV reader (keyframe runs, non-reference frames
                  skipped, RGB only for kept frames)
  (c) torchcodec  when installed (exact seek mode), for reference
as clips/s (wall clock) for reading alone and for reading + the crop/resize transform, and
as clips per CPU second of reading + transform (robust on a shared machine), with the ratios
to (a).  Last, the DataLoader throughput of a `VideoDataset` over the default-GOP videos
with 0, 1 and 2 workers.  Reader timings run with one torch thread (as in a worker) and
report the median of `--repeats` passes.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy and torch are imported when the benchmark runs: `actionlab --help` stays fast
    import numpy as np
    import torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", type=int, default=3, help="videos per GOP setting")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--width", type=int, default=340)
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--size", type=int, default=224, help="crop size")
    p.add_argument("--segments", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3, help="passes over the videos per reader")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="DataLoader worker counts")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--loader-clips", type=int, default=48, help="clips per DataLoader measurement")
    p.add_argument("--dir", default=None, help="keep the generated videos here instead of a temp dir")


def make_video(path: Path, seconds: float, fps: int, width: int, height: int, gop: int | None, seed: int) -> None:
    """Textured background panning, two moving blocks, sensor-like noise: content H.264 must work for."""
    import av
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    tex = rng.integers(0, 256, (height // 8 + 1, width // 8 + 2, 3), dtype=np.uint8)
    tex = np.repeat(np.repeat(tex, 8, 0), 8, 1)[:height]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        options = {"preset": "veryfast", "crf": "23"}
        if gop:
            options["g"] = str(gop)
        stream.options = options
        for i in range(n):
            img = np.roll(tex, -2 * i, axis=1)[:, :width].copy()
            x = (3 * i) % (width - 60)
            img[40:110, x: x + 60] = (220, 40, 40)
            y = (2 * i) % (height - 50)
            img[y: y + 50, width - 120: width - 60] = (40, 200, 60)
            img = np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def naive_read(path: str, indices: np.ndarray) -> torch.Tensor:
    """(a): decode the whole video, convert every frame, then index."""
    import torch

    from ..data.readers import read_all_sequential

    return read_all_sequential(path)[torch.from_numpy(indices)]


def _time_reader(reader: Callable[[str, np.ndarray], torch.Tensor], videos: list[str], repeats: int, segments: int,
                 size: int) -> tuple[float, float, float]:
    """(read clips/s, read+transform clips/s, read+transform clips per CPU second), medians over passes.

    The CPU figure (this process's CPU time; decoding runs on one thread) is what the clip costs on an
    idle core, so it stays comparable when the machine is shared.
    """
    import numpy as np

    from ..data.readers import video_info
    from ..data.sampling import SegmentSampler
    from ..data.transforms import TrainTransform

    sampler = SegmentSampler(segments)
    transform = TrainTransform(size, 256, "multiscale", True)
    read_times, total_times, cpu_times = [], [], []
    rng = np.random.default_rng(0)
    reader(videos[0], np.arange(segments))  # warm-up (imports, codec tables)
    for _ in range(repeats):
        for path in videos:
            n = video_info(path).num_frames
            idx = sampler(n, rng, True).reshape(-1)
            c0 = time.process_time()
            t0 = time.perf_counter()
            frames = reader(path, idx)
            t1 = time.perf_counter()
            transform(frames, rng)
            t2 = time.perf_counter()
            cpu_times.append(time.process_time() - c0)
            read_times.append(t1 - t0)
            total_times.append(t2 - t0)
    med = statistics.median
    return 1.0 / med(read_times), 1.0 / med(total_times), 1.0 / max(med(cpu_times), 1e-9)


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
    import torch

    from ..data.readers import read, torchcodec_available

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
              f"median of {args.repeats} passes; 1 torch thread")
        readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]] = {
            "(a) naive: decode all, index": naive_read,
            "(b) actionlab (PyAV)": lambda p, i: read(p, i, backend="pyav"),
        }
        if torchcodec_available():
            import torchcodec

            readers[f"(c) torchcodec {torchcodec.__version__.split('+')[0]}"] = \
                lambda p, i: read(p, i, backend="torchcodec")
        torch.set_num_threads(1)
        header = (f"{'videos':<24} {'reader':<30} {'read clips/s':>13} {'+transform':>11} {'vs (a)':>7} "
                  f"{'clips/CPU-s':>12} {'vs (a)':>7}")
        print(header)
        print("-" * len(header))
        for name, videos in sets.items():
            base = None
            for rname, reader in readers.items():
                r, t, c = _time_reader(reader, videos, args.repeats, args.segments, args.size)
                base = base or (r, t, c)
                print(f"{name:<24} {rname:<30} {r:>13.1f} {t:>11.1f} {r / base[0]:>6.1f}x {c:>12.1f} "
                      f"{c / base[2]:>6.1f}x")
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
