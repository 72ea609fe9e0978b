"""Frame-exact readers: every container/codec against a full sequential decode, both backends, frame folders,
frame counts, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actionlab.data import readers
from actionlab.data.readers import (
    FrameFolderReader,
    PyAVReader,
    TorchCodecReader,
    open_video,
    read,
    read_all_sequential,
    torchcodec_available,
    video_info,
)
from actionlab.data.video_writer import VideoWriter
from actionlab.errors import DataError
from tests._data_helpers import CONTAINERS, container_video, frame_images, workdir, write_jpegs, write_video


def _index_sets(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    sets = [np.arange(n), np.arange(n)[::-1].copy(), np.array([0, n - 1]), np.array([5, 5, 5, 2, 2]),
            np.linspace(0, n - 1, 8).astype(np.int64)]
    sets += [rng.integers(0, n, int(rng.integers(1, 10))) for _ in range(6)]
    return sets


@pytest.mark.parametrize("name", list(CONTAINERS))
@pytest.mark.parametrize("keep_packets", [True, False], ids=["in-memory", "container-seek"])
def test_pyav_is_frame_exact(name, keep_packets):
    path = container_video(name)
    full = read_all_sequential(path)
    with PyAVReader(path, max_packet_bytes=1 << 30 if keep_packets else 0) as video:
        assert video.num_frames == len(full) == 40
        for idx in _index_sets(len(full)):
            assert torch.equal(video.read(idx), full[torch.from_numpy(idx)]), (name, idx.tolist())


@pytest.mark.parametrize("name", ["mp4_h264", "webm_vp9"])
def test_frame_threads_are_frame_exact_too(name):
    path = container_video(name)
    full = read_all_sequential(path)
    with PyAVReader(path, threads=2) as video:
        for idx in _index_sets(len(full), seed=1)[:6]:
            assert torch.equal(video.read(idx), full[torch.from_numpy(idx)])


@pytest.mark.parametrize("name", list(CONTAINERS))
def test_video_info_counts_frames(name, monkeypatch):
    monkeypatch.setenv("ACTIONLAB_CACHE_DIR", str(workdir() / "cache"))
    path = container_video(name)
    info = video_info(path)
    assert info.num_frames == 40 and (info.width, info.height) == (64, 48)
    assert video_info(path).num_frames == 40  # second call: the per-process scan cache
    with PyAVReader(path, cache=None) as video:
        if video.exact_reason is not None:  # exact path: counted by one decode, cached on disk
            assert (workdir() / "cache" / "decoded_frame_counts.json").is_file()


def test_sparse_reads_do_not_decode_everything():
    path = write_video(workdir() / "long_gop5.mp4", frame_images(120), options={"g": "5", "bf": "2"})
    with PyAVReader(path) as video:
        sparse = video._plan(np.array([3, 40, 80, 117]))
        assert sum(r.end - r.start + 1 for r in sparse) < 40  # keyframe runs, not 118 packets
        assert len(video._plan(np.arange(10, 100))) == 1  # consecutive frames: one sequential run
        assert torch.equal(video.read([3, 40, 80, 117]), read_all_sequential(path)[[3, 40, 80, 117]])


@pytest.mark.skipif(not torchcodec_available(), reason="torchcodec is not installed")
@pytest.mark.parametrize("name", list(CONTAINERS))
def test_torchcodec_gives_the_same_frames(name):
    path = container_video(name)
    full = read_all_sequential(path)
    idx = np.array([0, 7, 13, 21, 22, 39, 13])
    with open_video(path, backend="torchcodec") as video:
        if name == "avi_mpeg4":  # torchcodec 0.13 numbers AVI MPEG-4 frames by guessed timestamps: PyAV reads it
            assert isinstance(video, PyAVReader)
        else:
            assert isinstance(video, TorchCodecReader)
        assert video.num_frames == len(full)
        assert torch.equal(video.read(idx), full[torch.from_numpy(idx)])


def test_auto_backend_and_unknown_backend():
    assert readers.resolve_backend("auto") == "pyav"
    with pytest.raises(DataError, match="unknown video backend"):
        read(container_video("mp4_h264"), [0], backend="opencv")


# --------------------------------------------------------------------------- frame folders


def test_frame_folder_reader_matches_images():
    from PIL import Image

    folder = write_jpegs(workdir() / "frames_a", 12)
    out = read(folder, [0, 11, 4, 4])
    assert out.shape == (4, 32, 48, 3) and out.dtype == torch.uint8
    expected = np.asarray(Image.open(folder / "00005.jpg").convert("RGB"))
    assert np.array_equal(out[2].numpy(), expected)
    assert video_info(folder).num_frames == 12
    pyav = FrameFolderReader(folder, decoder="pyav").read([0, 11, 4, 4])
    assert (pyav.int() - out.int()).abs().max() <= 3  # the same image through another JPEG decoder


def test_frame_folder_template_and_gaps():
    folder = write_jpegs(workdir() / "frames_b", 5, template="img_{:04d}.jpg", start=0)
    with open_video(folder, frame_template="img_{:04d}.jpg", frame_start=0) as video:
        assert video.num_frames == 5
        assert video.read([4]).shape == (1, 32, 48, 3)
    (folder / "img_0002.jpg").unlink()
    with pytest.raises(DataError, match="not numbered"):
        FrameFolderReader(folder, "img_{:04d}.jpg", 0)


# --------------------------------------------------------------------------- bad input


def test_missing_file_names_it():
    with pytest.raises(DataError, match="nope.mp4"):
        read(workdir() / "nope.mp4", [0])


def test_garbage_file_is_a_clear_error():
    bad = workdir() / "garbage.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(DataError, match="garbage.mp4"):
        read(bad, [0])


def _faststart_mp4():
    path = workdir() / "faststart.mp4"
    if not path.exists():
        with VideoWriter(path, 64, 48, 25, options={}, container_options={"movflags": "faststart"}) as out:
            for img in frame_images(40):  # faststart: the index before the data
                out.write(img)
    return path


@pytest.mark.parametrize("source,keep", [("mkv_h264", 0.33), ("webm_vp9", 0.9), ("avi_mjpeg", 0.9),
                                         ("avi_mpeg4", 0.9), ("mp4_h264", 0.9), ("faststart", 0.5)])
def test_truncated_video_is_a_clear_error(source, keep):
    src = (_faststart_mp4() if source == "faststart" else container_video(source)).read_bytes()
    suffix = ".mp4" if source == "faststart" else "." + CONTAINERS[source][0].rsplit(".", 1)[1]
    cut = workdir() / f"truncated_{source}{suffix}"
    cut.write_bytes(src[: int(len(src) * keep)])
    with pytest.raises(DataError, match=cut.name):
        read(cut, [0])


def test_video_without_frames_and_out_of_range():
    empty = workdir() / "empty.mp4"
    VideoWriter(empty, 64, 48, 25, options={}).close()  # a stream and no frame
    with pytest.raises(DataError, match="empty.mp4"):
        read(empty, [0])
    with pytest.raises(DataError, match="out of range"):
        read(container_video("mp4_h264"), [40])
