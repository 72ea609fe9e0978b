"""`actionlab data check --verify-frames`: the reader proven against a sequential decode on the user's files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml

from actionlab.cli import main
from actionlab.data import readers
from tests._data_helpers import workdir, write_jpegs
from tests._video_corpus import CORPUS, corpus_file, xvid_available

FILES = ["avi_mpeg4_bframes", "avi_xvid_packed_bf1", "avi_xvid_unpacked", "avi_h264_bframes", "mp4_h264_open_gop",
         "webm_vp9", "mp4_h264_edit_list"]


def dataset(name: str) -> Path:
    root = workdir() / "verify" / name
    if root.exists():
        shutil.rmtree(root)
    (root / "v").mkdir(parents=True)
    lines = []
    for i, n in enumerate(f for f in FILES if not CORPUS[f].cli or xvid_available()):
        src = corpus_file(n)
        shutil.copyfile(src, root / "v" / src.name)
        lines.append(f"v/{src.name} {i % 2}")
    write_jpegs(root / "frames", 9)
    lines.append("frames 0")
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("a\nb\n")
    data = {"root": str(root), "train_list": "list.txt", "class_names": "classes.txt", "num_segments": 4}
    (root / "cfg.yaml").write_text(yaml.safe_dump({"data": data, "test": {"views": "2x1"}}))
    return root


def test_verify_frames_passes_on_exact_reads(capsys):
    root = dataset("good")
    assert main(["data", "check", str(root / "cfg.yaml"), "--splits", "train", "--verify-frames",
                 "--sample", "5"]) == 0
    out = capsys.readouterr().out
    videos = len(root.joinpath("list.txt").read_text().splitlines()) - 1
    assert f"frames verified against a sequential decode: {videos} videos" in out
    assert f"and {videos * 3} clips read: 0 mismatches" in out  # one training clip and the 2 test clips each
    assert "1 frame folders not verified" in out and out.rstrip().endswith("OK")


def test_verify_frames_fails_on_a_wrong_reader(monkeypatch, capsys):
    """A reader that returns frame f + 1 for every f > 0 (the packed-AVI defect) is caught: each mismatch is
    named with file, frame and offset, and the exit code is 1."""
    root = dataset("wrong")
    real_read = readers.PyAVReader.read

    def off_by_one(self, indices):
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        return real_read(self, np.where(idx > 0, np.minimum(idx + 1, self.num_frames - 1), idx))

    monkeypatch.setattr(readers.PyAVReader, "read", off_by_one)
    assert main(["data", "check", str(root / "cfg.yaml"), "--splits", "train", "--verify-frames",
                 "--sample", "4"]) == 1
    out = capsys.readouterr().out
    found = int(re.search(r"clips read: (\d+) mismatches", out).group(1))
    assert found > 0 and f"{found} problem(s) found" in out
    assert "v/mpeg4_bf.avi: frame " in out and "of a sequential decode (offset +1)" in out
    line = next(ln for ln in out.splitlines() if "mpeg4_bf.avi: frame" in ln and "(single read)" in ln)
    asked = int(line.split(": frame ")[1].split()[0])
    assert f"is frame {asked + 1} of a sequential decode" in line


def test_verify_frames_names_a_frame_that_matches_nothing(monkeypatch, capsys):
    root = dataset("garbage")
    real_read = readers.PyAVReader.read

    def brighter(self, indices):
        frames = real_read(self, indices)
        return torch.where(frames < 250, frames + 3, frames)

    monkeypatch.setattr(readers.PyAVReader, "read", brighter)
    assert main(["data", "check", str(root / "cfg.yaml"), "--splits", "train", "--verify-frames",
                 "--sample", "2"]) == 1
    assert "matches no frame of a sequential decode within 3 (largest pixel difference 3" in capsys.readouterr().out
