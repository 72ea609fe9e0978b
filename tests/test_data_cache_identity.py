"""Stale caches: a disk frame cache or a scan must never outlive the bytes it was made from.

A cache file changed in place (same size) is caught by its per-frame CRC-32s; a video replaced by another of
the same size with its old mtime restored (`cp -p`, `rsync -t`, backups) has another content fingerprint,
so another cache key and another scan; a truncated cache file is rebuilt, not read.
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from actionlab.config import DataConfig
from actionlab.data import build_dataset
from actionlab.data import cache as cache_mod
from actionlab.data.readers import read, read_all_sequential
from actionlab.data.video_index import file_key
from tests._data_helpers import frame_images, workdir, write_video


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    cache_mod.clear_memory()
    yield
    cache_mod.clear_memory()


def _pad_mp4(path: Path, size: int) -> None:
    """Grow an MP4 to `size` bytes with a trailing 'free' box (a valid file, same frames)."""
    extra = size - path.stat().st_size
    assert extra >= 8
    with open(path, "ab") as f:
        f.write(struct.pack(">I", extra) + b"free" + bytes(extra - 8))


def same_size_pair(folder: Path) -> tuple[Path, Path]:
    """Two different 24-frame videos of exactly the same size."""
    a = write_video(folder / "a.mp4", frame_images(24, seed=1), options={"g": "8"})
    b = write_video(folder / "b.mp4", frame_images(24, seed=2)[::-1].copy(), options={"g": "8"})
    size = max(a.stat().st_size, b.stat().st_size) + 64
    _pad_mp4(a, size)
    _pad_mp4(b, size)
    return a, b


def make_tree(name: str) -> Path:
    root = workdir() / "identity" / name
    if root.exists():
        shutil.rmtree(root)
    (root / "v").mkdir(parents=True)
    a, b = same_size_pair(root / "v")
    shutil.copyfile(b, root / "spare.mp4")  # the replacement, kept outside the list
    b.unlink()
    for i, n in enumerate((16, 20)):
        write_video(root / "v" / f"ok{i}.mp4", frame_images(n, seed=10 + i), options={"g": "8"})
    (root / "list.txt").write_text("v/a.mp4 0\nv/ok0.mp4 1\nv/ok1.mp4 0\n")
    (root / "classes.txt").write_text("x\ny\n")
    return root


def cfg(root: Path, cache: str = "disk") -> DataConfig:
    return DataConfig(root=str(root), train_list="list.txt", class_names="classes.txt", num_segments=4,
                      input_size=32, scale_size=40, cache=cache, cache_dir=str(root / "cache"), on_error="raise")


def clips(data: DataConfig) -> tuple[str, list[torch.Tensor]]:
    ds = build_dataset(data, "train")
    status = ds.prepare_cache()
    return status, [ds.__getitem__(i, item_seed=7)["clip"] for i in range(len(ds))]


def replace_keeping_mtime(target: Path, source: Path) -> None:
    """What `cp -p` / `rsync -t` / a backup restore do: new bytes, same size, the old mtime."""
    st = target.stat()
    assert source.stat().st_size == st.st_size
    shutil.copyfile(source, target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_replaced_video_of_the_same_size_and_mtime_is_not_served_stale():
    root = make_tree("replaced")
    status, before = clips(cfg(root))
    assert "written to the disk cache" in status
    video = root / "v" / "a.mp4"
    old_frames = read(video, [0, 5, 23])  # also puts the file's scan (and packets) in the scan cache
    replace_keeping_mtime(video, root / "spare.mp4")
    new_frames = read_all_sequential(video)[[0, 5, 23]]
    assert not torch.equal(old_frames, new_frames)
    assert torch.equal(read(video, [0, 5, 23]), new_frames)  # the scan cache does not serve the old packets
    status, after = clips(cfg(root))
    assert "from the disk cache" not in status and "written to the disk cache" in status
    _, uncached = clips(cfg(root, "none"))
    assert all(torch.equal(x, y) for x, y in zip(after, uncached))
    assert not torch.equal(after[0], before[0])


def test_cache_file_overwritten_in_place_is_caught_and_dropped(caplog):
    root = make_tree("overwritten")
    _, reference = clips(cfg(root, "none"))
    status, _ = clips(cfg(root))
    data = next((root / "cache").glob("*.u8"))
    size, mtime = data.stat().st_size, data.stat().st_mtime_ns
    with open(data, "r+b") as f:  # other bytes, same size (as a second writer or a bad disk would leave it)
        f.seek(size // 3)
        f.write(bytes(size // 3))
    os.utime(data, ns=(mtime, mtime))
    ds = build_dataset(cfg(root), "train")
    assert "from the disk cache" in ds.prepare_cache()
    with caplog.at_level("WARNING", logger="actionlab.data"):
        got = [ds.__getitem__(i, item_seed=7)["clip"] for i in range(len(ds))]
    assert all(torch.equal(x, y) for x, y in zip(got, reference))  # every clip right: read from the files
    assert "does not match the checksum" in caplog.text and data.name in caplog.text
    assert caplog.text.count("does not match the checksum") == 1  # reported once, then the cache is dropped
    status, again = clips(cfg(root))  # the next run rebuilds it
    assert "written to the disk cache" in status
    assert all(torch.equal(x, y) for x, y in zip(again, reference))


@pytest.mark.parametrize("part", [".u8", ".crc"])
def test_truncated_cache_file_is_rebuilt_not_read(part):
    root = make_tree("truncated" + part)
    _, reference = clips(cfg(root, "none"))
    clips(cfg(root))
    file = next((root / "cache").glob("*" + part))
    with open(file, "r+b") as f:
        f.truncate(file.stat().st_size - 4)
    status, got = clips(cfg(root))
    assert "written to the disk cache" in status  # not "from the disk cache"
    assert all(torch.equal(x, y) for x, y in zip(got, reference))


def test_cache_key_follows_the_file_identity(tmp_path):
    """The split key changes with each part of a video's identity (size, mtime, content) and with nothing else."""
    a, b = same_size_pair(tmp_path)
    paths = [str(a)]

    def key() -> str:
        return cache_mod.split_key(paths, "auto", None)

    first = key()
    assert key() == first and file_key(str(a)) == file_key(str(a))  # stable
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert key() != first  # mtime
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert key() == first
    replace_keeping_mtime(a, b)
    assert key() != first  # content, with size and mtime unchanged
    with open(a, "ab") as f:
        f.write(bytes(16))
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert key() != first  # size
    assert cache_mod.split_key(paths, "pyav", None) != key()  # how the videos are read is part of it


def test_fingerprint_reads_the_start_middle_and_end(tmp_path):
    """A change in any of the three sampled blocks of a large file changes the fingerprint."""
    from actionlab.data.video_index import FINGERPRINT_BLOCK, fingerprint

    data = np.random.default_rng(0).integers(0, 256, 10 * FINGERPRINT_BLOCK, dtype=np.uint8).tobytes()
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    base = fingerprint(str(path), len(data))
    for at in (10, len(data) // 2, len(data) - 10):
        changed = bytearray(data)
        changed[at] ^= 0xFF
        path.write_bytes(bytes(changed))
        assert fingerprint(str(path), len(data)) != base, at
