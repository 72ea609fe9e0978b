"""actionlab bench data: reader and DataLoader throughput for TSN 8-segment sampling at 224 px, and exactness.

Generates videos with moving textured content + noise in a temporary directory:
  H.264 MP4, 10 s at 30 fps, 340x256, with x264's default GOP (keyframe every 250 frames, what
  re-encoded datasets usually have) and with a 1 s GOP;
  AVI with Xvid (the ffmpeg tool's libxvid, as UCF101 and HMDB51 were made), 7 s at 25 fps, 320x240:
  DivX-packed B-frames with one and with two B-frames per anchor at GOP 12, two at GOP 300, and the
  same streams unpacked (`mpeg4_unpack_bframes`).
Then, per clip (8 TSN training segments, multi-scale crop to 224 px, flip), it times
  (a) naive       PyAV's plain decode loop from the start to the last kept frame, RGB only for
                  the kept frames (the honest baseline: nothing converted that is not used)
  (b) bound       the decode bound written by hand for the H.264 files (`bound_read`): keyframe runs,
                  non-reference frames skipped, no checks; the reader should reach >= 0.95x of it
                  (not for AVI: it trusts timestamps, which AVI does not have)
  (c) actionlab   `actionlab.data.readers` PyAV reader on a file it has never scanned (first epoch
                  of a first run), (c') with its per-process scan cache warm (later epochs), and
                  (c'') with the scan read back from the on-disk store (later epochs on a dataset
                  larger than the per-process cache, later runs)
  (d) torchcodec  when installed: `VideoDecoder(seek_mode="exact")` itself (actionlab's
                  backend="torchcodec" reads the AVI files with PyAV instead, see the exact column)
  (e) decord      0.6.0 when installed
as clips/s (wall clock) of reading alone, clips per CPU second of reading alone ("read/CPU-s") and of
reading + the crop/resize transform ("+transf/CPU"; CPU time is robust on a shared machine), with the
ratios to (a) and (b); "exact" counts the single-frame reads (`--exact-frames` per video, each read on
its own) that equal frame i of a full sequential decode, and "max|diff|" is the largest pixel
difference to (a) on one clip.  Last, the DataLoader throughput of a `VideoDataset` over the
default-GOP videos with 0, 1 and 2 workers.  Reader timings run with one torch thread (as in a
worker) and report the median of `--repeats` passes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
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
    p.add_argument("--avi-videos", type=int, default=2,
                   help="Xvid AVI videos per AVI setting, made with the ffmpeg tool's libxvid (0: no AVI rows)")
    p.add_argument("--avi-seconds", type=float, default=7.0, help="length of each AVI video (default 7)")
    p.add_argument("--avi-size", default="320x240", help="AVI frame size, WIDTHxHEIGHT (default 320x240, UCF101's)")
    p.add_argument("--exact-frames", type=int, default=24,
                   help="single-frame reads per video compared with a sequential decode (the exact column)")


def _pts(packet: Any) -> int:
    """A packet's presentation time (the H.264 files made here all have one)."""
    assert packet.pts is not None
    return int(packet.pts)


def textured_frames(seconds: float, fps: int, width: int, height: int, seed: int) -> Iterator[np.ndarray]:
    """Textured background panning, two moving blocks, sensor-like noise: content a codec must work for."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    tex = rng.integers(0, 256, (height // 8 + 1, width // 8 + 2, 3), dtype=np.uint8)
    tex = np.repeat(np.repeat(tex, 8, 0), 8, 1)[:height]
    for i in range(n):
        img = np.roll(tex, -2 * i, axis=1)[:, :width].copy()
        x = (3 * i) % (width - 60)
        img[40:110, x: x + 60] = (220, 40, 40)
        y = (2 * i) % (height - 50)
        img[y: y + 50, width - 120: width - 60] = (40, 200, 60)
        yield np.clip(img.astype(np.int16) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)


def make_video(path: Path, seconds: float, fps: int, width: int, height: int, gop: int | None, seed: int) -> None:
    """H.264 (x264 veryfast, crf 23)."""
    from ..data.video_writer import VideoWriter

    options = {"preset": "veryfast", "crf": "23"}
    if gop:
        options["g"] = str(gop)
    with VideoWriter(path, width, height, fps, options=options) as out:
        for img in textured_frames(seconds, fps, width, height, seed):
            out.write(img)


def xvid_available() -> bool:
    """The ffmpeg command-line tool with libxvid (PyAV's own FFmpeg has no Xvid encoder)."""
    if shutil.which("ffmpeg") is None:
        return False
    out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    return " libxvid " in out


def make_avi(path: Path, seconds: float, fps: int, width: int, height: int, gop: int, bframes: int, packed: bool,
             seed: int) -> None:
    """Xvid in AVI as `ffmpeg -c:v libxvid -bf B -g G` writes it (DivX-packed B-frames), or unpacked."""
    import numpy as np

    frames = np.stack(list(textured_frames(seconds, fps, width, height, seed)))
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libxvid", "-bf", str(bframes), "-g", str(gop)]
    cmd += [] if packed else ["-bsf:v", "mpeg4_unpack_bframes"]
    subprocess.run(cmd + [str(path)], input=frames.tobytes(), check=True)


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


def torchcodec_read(path: str, indices: np.ndarray) -> torch.Tensor:
    """(d): torchcodec's own decoder (`seek_mode="exact"`, one thread), whatever the file."""
    from ..data.readers import TorchCodecReader

    with TorchCodecReader(path) as video:
        return video.read(indices)


def reference_frames(path: str) -> list[np.ndarray]:
    """Every frame of PyAV's plain sequential decode loop: frame i is the i-th it yields."""
    import av

    with av.open(path) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def exactness(readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]], videos: list[str],
              frames_per_video: int) -> dict[str, str]:
    """Per reader, "good/total" single-frame reads equal to the sequential decode (each frame read on its own)."""
    import numpy as np

    good = {name: 0 for name in readers}
    total = 0
    for k, path in enumerate(videos):
        ref = reference_frames(path)
        rng = np.random.default_rng(k)
        picks = sorted({*np.linspace(0, len(ref) - 1, frames_per_video // 2).astype(int).tolist(),
                        *rng.integers(0, len(ref), frames_per_video - frames_per_video // 2).tolist()})
        total += len(picks)
        for name, reader in readers.items():
            for f in picks:
                try:
                    got = reader(path, np.array([f]))[0].numpy()
                except Exception:  # noqa: BLE001 - a reader that fails on a frame did not return it
                    continue
                good[name] += got.shape == ref[f].shape and np.array_equal(got, ref[f])
    return {name: f"{g}/{total}" for name, g in good.items()}


def actionlab_cold(path: str, indices: np.ndarray) -> torch.Tensor:
    """(c): actionlab's reader on a file it has never scanned (first epoch of a first run: no scan in this
    process, none on disk)."""
    from ..data.readers import PyAVReader

    with PyAVReader(path, cache=None) as video:
        return video.read(indices)


def actionlab_stored(path: str, indices: np.ndarray) -> torch.Tensor:
    """(c''): the scan read back from the on-disk store (`scan_store`), none in this process: a later epoch on a
    dataset larger than the per-process scan cache, or a later run."""
    from ..data.readers import read
    from ..data.video_index import INDEX_CACHE

    INDEX_CACHE.clear()
    return read(path, indices, backend="pyav")


def _time_readers(readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]], videos: list[str], repeats: int,
                  segments: int, size: int) -> dict[str, tuple[float, float, float]]:
    """Per reader: (read clips/s, read clips per CPU second, read+transform clips per CPU second), medians.

    Interleaved: every clip (the same frame indices and crop for all readers) is read by each reader in
    turn, so a change of load on a shared machine hits all columns alike.  The CPU figures (this process's
    CPU time; decoding runs on one thread) are what the clip costs on an idle core.
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
                c1 = time.process_time()
                transform(frames, np.random.default_rng(seed))
                times[name].append((t1 - t0, c1 - c0, time.process_time() - c0))
    med = statistics.median
    return {name: tuple(1.0 / max(med(t[k] for t in ts), 1e-9) for k in range(3))  # type: ignore[misc]
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


#: AVI settings: name -> (GOP, B-frames per anchor at most, packed)
AVI_SETS = {
    "Xvid packed, 1 B, GOP 12": (12, 1, True),
    "Xvid packed, 2 B, GOP 12": (12, 2, True),
    "Xvid packed, 2 B, GOP 300": (300, 2, True),
    "Xvid unpacked, 2 B, GOP 12": (12, 2, False),
    "Xvid unpacked, 2 B, GOP 300": (300, 2, False),
}


def _make_sets(args: argparse.Namespace, root: Path) -> dict[str, list[str]]:
    """Generate (or reuse, with --dir) the videos of every setting: H.264 MP4 sets first, then AVI sets."""
    sets: dict[str, list[str]] = {}
    start = time.perf_counter()
    for g, (name, gop) in enumerate({"x264 default GOP (250)": None, "1 s GOP (30)": args.fps}.items()):
        sets[name] = []
        for i in range(args.videos):
            path = root / f"bench_{'default' if gop is None else f'g{gop}'}_{i}.mp4"
            if not path.exists():
                make_video(path, args.seconds, args.fps, args.width, args.height, gop, seed=100 * g + i)
            sets[name].append(str(path))
    print(f"videos: {args.videos} per GOP setting, {args.seconds:g} s at {args.fps} fps, "
          f"{args.width}x{args.height} H.264 (made in {time.perf_counter() - start:.1f} s)")
    if args.avi_videos <= 0:
        return sets
    if not xvid_available():
        print("AVI rows: skipped (the ffmpeg command-line tool with libxvid is not installed)")
        return sets
    width, height = (int(v) for v in args.avi_size.lower().split("x"))
    start = time.perf_counter()
    for name, (gop, bframes, packed) in AVI_SETS.items():
        sets[name] = []
        for i in range(args.avi_videos):
            path = root / f"bench_xvid_g{gop}_bf{bframes}_{'packed' if packed else 'unpacked'}_{i}.avi"
            if not path.exists():
                make_avi(path, args.avi_seconds, 25, width, height, gop, bframes, packed, seed=300 + i)
            sets[name].append(str(path))
    print(f"videos: {args.avi_videos} per AVI setting, {args.avi_seconds:g} s at 25 fps, {width}x{height} Xvid "
          f"(ffmpeg -c:v libxvid -bf B -g GOP; unpacked: -bsf:v mpeg4_unpack_bframes; made in "
          f"{time.perf_counter() - start:.1f} s)")
    return sets


def _readers() -> dict[str, Callable[[str, np.ndarray], torch.Tensor]]:
    from ..data.readers import read
    from ..errors import optional

    readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]] = {
        "(a) naive: decode all, RGB kept": naive_read,
        "(b) decode bound (by hand)": bound_read,
        "(c) actionlab, first epoch": actionlab_cold,
        "(c') actionlab, scan cached": lambda p, i: read(p, i, backend="pyav"),
        "(c'') actionlab, scan on disk": actionlab_stored,
    }
    if optional("torchcodec.decoders", "codec", "the torchcodec column", native=True) is not None:
        import torchcodec

        readers[f"(d) torchcodec {torchcodec.__version__.split('+')[0]}"] = torchcodec_read
    decord = optional("decord", "decord", "the decord column")
    if decord is not None:
        readers[f"(e) decord {decord.__version__}"] = decord_read
    return readers


def _print_set(name: str, videos: list[str], readers: dict[str, Callable[[str, np.ndarray], torch.Tensor]],
               args: argparse.Namespace) -> None:
    import numpy as np

    from ..data.readers import video_info

    if name.startswith("Xvid"):  # the hand-written bound trusts timestamps: not a bound for AVI
        readers = {k: v for k, v in readers.items() if not k.startswith("(b)")}
    base = bound = None
    check_idx = np.linspace(0, video_info(videos[0]).num_frames - 1, args.segments).astype(np.int64)
    reference = naive_read(videos[0], check_idx)
    timed = _time_readers(readers, videos, args.repeats, args.segments, args.size)
    exact = exactness(readers, videos, args.exact_frames)
    for rname, reader in readers.items():
        r, rc, c = timed[rname]
        base = base or (r, rc, c)
        bound = bound or ((r, rc, c) if rname.startswith("(b)") else None)
        try:
            diff = f"{int((reader(videos[0], check_idx).int() - reference.int()).abs().max()):d}"
        except Exception:  # noqa: BLE001 - e.g. another frame size: not the same frames
            diff = "error"
        vs_b = f"{c / bound[2]:>6.2f}x {r / bound[0]:>10.2f}x" if bound else f"{'':>7} {'':>11}"
        print(f"{name:<28} {rname:<30} {r:>12.1f} {rc:>11.1f} {rc / base[1]:>6.2f}x {c:>11.1f} {c / base[2]:>6.2f}x "
              f"{vs_b} {diff:>9} {exact[rname]:>7}")


def run(args: argparse.Namespace) -> int:
    import torch

    keep = args.dir is not None
    tmp = None
    if keep:
        root = Path(args.dir)
        root.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="actionlab-bench-data-")
        root = Path(tmp.name)
    from ..paths import ENV

    threads = torch.get_num_threads()
    store = os.environ.get(ENV)
    os.environ[ENV] = str(root / "actionlab-cache")  # scans of these videos: not the user's cache root
    try:
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPU cores, "
              f"torch {torch.__version__} ({'CUDA' if torch.cuda.is_available() else 'no GPU'}); "
              f"load average at start {load0:.1f}")
        sets = _make_sets(args, root)
        print(f"clips: TSN {args.segments}-segment training sampling, multi-scale crop + flip to {args.size} px; "
              f"median of {args.repeats} passes, readers interleaved clip by clip; 1 torch thread; exact: "
              f"single-frame reads equal to a sequential decode ({args.exact_frames} per video)")
        readers = _readers()
        torch.set_num_threads(1)
        header = (f"{'videos':<28} {'reader':<30} {'read clips/s':>12} {'read/CPU-s':>11} {'vs (a)':>7} "
                  f"{'+transf/CPU':>11} {'vs (a)':>7} {'vs (b)':>7} {'wall vs (b)':>11} {'max|diff|':>9} {'exact':>7}")
        print(header)
        print("-" * len(header))
        for name, videos in sets.items():
            _print_set(name, videos, readers, args)
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
        if store is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = store
        if tmp is not None:
            tmp.cleanup()
    return 0
