"""Scans kept on disk (`data/scan_store.py`): reused by later processes, epochs and workers; never stale, never
an error.  Without them every epoch scanned every file of a dataset larger than the per-process cache."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from actionlab.data import readers, scan_store
from actionlab.data.readers import PyAVReader, read, read_all_sequential
from actionlab.data.video_index import INDEX_CACHE, file_key
from tests._data_helpers import frame_images, workdir, write_video
from tests._video_corpus import CORPUS, corpus_file, xvid_available


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIONLAB_CACHE_DIR", str(tmp_path / "cache"))
    INDEX_CACHE.clear()
    yield tmp_path / "cache" / "scans"
    INDEX_CACHE.clear()


def no_scans(monkeypatch) -> None:
    def refuse(*a, **k):
        raise AssertionError("scanned although the scan is stored")

    monkeypatch.setattr(readers, "scan", refuse)


def _names() -> list[str]:
    """Files whose scans are stored: MPEG-4 packet order (packed Xvid, FFmpeg's mpeg4) and the sequential path."""
    return [n for n in ("avi_xvid_packed_bf1", "avi_mpeg4_bframes", "avi_h264_bframes", "h264_raw")
            if not CORPUS[n].cli or xvid_available()]


def test_a_scan_stored_by_one_process_serves_the_next(store, monkeypatch):
    paths = [str(corpus_file(n)) for n in _names()]
    runs = str(corpus_file("mp4_h264_open_gop"))  # keyframe runs, packets kept: its scan is the demux, not stored
    code = "import sys; from actionlab.data.readers import read\nfor p in sys.argv[1:]: read(p, [0])"
    subprocess.run([sys.executable, "-c", code, *paths, runs], check=True, env=dict(os.environ))
    assert len(list(store.rglob("*.json"))) == len(paths)
    assert scan_store.load(file_key(runs), runs) is None
    no_scans(monkeypatch)
    for path in paths:
        full = read_all_sequential(path)
        with PyAVReader(path) as video:
            assert video.num_frames == len(full)
            for f in range(len(full)):  # every frame, each read alone from the stored scan
                INDEX_CACHE.clear()
                assert torch.equal(read(path, [f])[0], full[f]), (path, f)
            idx = np.array([len(full) - 1, 0, 5, 5, 2])
            assert torch.equal(video.read(idx), full[torch.from_numpy(idx)])


def test_a_replaced_file_is_scanned_again(store):
    a = write_video(workdir() / "store_a.avi", frame_images(20, seed=1), "mpeg4", options={"g": "5", "bf": "1"})
    b = write_video(workdir() / "store_b.avi", frame_images(30, seed=2), "mpeg4", options={"g": "5", "bf": "1"})
    target = workdir() / "store_target.avi"
    shutil.copyfile(a, target)
    assert PyAVReader(target).num_frames == 20
    INDEX_CACHE.clear()
    st = target.stat()
    shutil.copyfile(b, target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # the old mtime back, as `cp -p` leaves it
    with PyAVReader(target) as video:
        assert video.num_frames == 30
        assert torch.equal(video.read([29]), read_all_sequential(target)[[29]])


@pytest.mark.parametrize("damage", ["garbage", "version", "other key", "truncated"])
def test_a_damaged_entry_is_a_miss_not_an_error(store, damage):
    path = str(corpus_file("avi_mpeg4_bframes"))
    read(path, [3])
    entry = next(store.rglob("*.json"))
    data = json.loads(entry.read_text())
    if damage == "garbage":
        entry.write_bytes(b"\x00not json")
    elif damage == "version":
        entry.write_text(json.dumps({**data, "version": scan_store.VERSION + 1}))
    elif damage == "other key":
        entry.write_text(json.dumps({**data, "key": [*data["key"][:-1], "0" * 32]}))
    else:
        entry.write_text(entry.read_text()[:50])
    INDEX_CACHE.clear()
    assert scan_store.load(file_key(path), path) is None
    assert torch.equal(read(path, [3, 17]), read_all_sequential(path)[[3, 17]])  # scanned again
    assert scan_store.load(file_key(path), path) is not None  # and stored again


def test_the_store_follows_a_demoted_file(store, monkeypatch):
    """A file whose run failed its check is stored on the sequential path: later processes skip the failing run."""
    from actionlab.data import mpeg4

    path = str(corpus_file("avi_mpeg4_bframes"))
    real_plan = mpeg4.plan

    def shifted(*a, **k):
        runs = real_plan(*a, **k)
        for run in runs:
            run.outputs = run.outputs[1:] + run.outputs[:1]
        return runs

    monkeypatch.setattr(mpeg4, "plan", shifted)
    assert torch.equal(read(path, [4]), read_all_sequential(path)[[4]])
    INDEX_CACHE.clear()
    with PyAVReader(path) as video:
        assert video.read_path == "sequential"


def test_bench_loader_scan_cost_shows_before_and_after(store, capsys):
    """`actionlab bench loader CONFIG --scan-cost`: every item scanning its file (before), reading its scan from
    the store (after: no scan runs) and the all-in-memory bound, on a tiny split."""
    import yaml

    from actionlab.cli import main

    root = workdir() / "scan_cost"
    (root / "v").mkdir(parents=True, exist_ok=True)
    for i in range(4):  # MPEG-4 AVIs: their scans (VOP headers, packet order) are the ones the store keeps
        write_video(root / "v" / f"{i}.avi", frame_images(12, seed=40 + i), "mpeg4", options={"g": "4", "bf": "1"})
    (root / "list.txt").write_text("".join(f"v/{i}.avi {i % 2}\n" for i in range(4)))
    (root / "cfg.yaml").write_text(yaml.safe_dump({"data": {"root": str(root), "train_list": "list.txt",
                                                            "num_segments": 2, "input_size": 32, "scale_size": 36,
                                                            "batch_size": 2}}))
    assert main(["bench", "loader", str(root / "cfg.yaml"), "--scan-cost", "--repeats", "1"]) == 0
    rows = {line.split("  ")[0].strip(): line.split() for line in capsys.readouterr().out.splitlines()
            if line.startswith(("scan every", "scans read", "every scan"))}
    assert len(rows) == 3
    before = next(v for k, v in rows.items() if k.startswith("scan every"))
    after = next(v for k, v in rows.items() if k.startswith("scans read"))
    assert float(before[-2].rstrip("%")) > 0 and after[-2] == "0.0%" and before[-1] == "1.00x"
