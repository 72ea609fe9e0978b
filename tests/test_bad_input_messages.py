"""Messages for bad input that say what is wrong once, in words, with the file and line: unreadable and empty
videos, the class histogram of `data check`, a list that is not UTF-8, boxes in the wrong units, test views."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from actionlab.cli import main
from tests._deploy_helpers import changing_frames, make_checkpoint, write_video

pytestmark = pytest.mark.usefixtures("one_thread")


def run(capfd, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    return code, out, err


def error_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("actionlab ")]
    assert len(lines) == 1 and ": error: " in lines[0] and err.strip().endswith(lines[0]), err
    return lines[0]


def test_unreadable_and_empty_videos_are_named_once_without_ffmpeg_errno(tmp_path, capfd):
    ckpt = make_checkpoint(tmp_path / "tsn.pt", "tsn_r18_tiny")
    good = write_video(tmp_path / "good.mp4", changing_frames(12, 32, 32))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    code, out, err = run(capfd, "predict", good, broken, empty, "--checkpoint", ckpt)
    assert code == 1 and "good.mp4" in out
    assert "Errno" not in err and "1094995529" not in err
    assert err.count(str(broken)) == 1 and err.count(str(empty)) == 1  # each path once
    assert f"cannot open video {broken}: Invalid data found when processing input" in err
    assert f"cannot open video {empty}: the file is empty (0 bytes)" in err


def _tree(root: Path, lines: list[str], **data) -> Path:
    (root / "v").mkdir(parents=True, exist_ok=True)
    for i in range(2):
        write_video(root / "v" / f"ok{i}.mp4", changing_frames(12, 32, 32, seed=i))
    (root / "v" / "bad.mp4").write_bytes(b"not a video")
    (root / "train.txt").write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    config = root / "cfg.yaml"
    config.write_text(yaml.safe_dump({"data": {"root": str(root), "train_list": "train.txt",
                                               "class_names": "classes.txt", "num_segments": 4, **data}}))
    (root / "classes.txt").write_text("walk\nrun\njump\n")
    return config


def test_data_check_histogram_counts_readable_videos_and_says_what_it_left_out(tmp_path, capfd):
    config = _tree(tmp_path, ["v/ok0.mp4 0", "v/ok1.mp4 1", "v/bad.mp4 2", "v/missing.mp4 1"])
    code, out, _ = run(capfd, "data", "check", config, "--splits", "train")
    assert code == 1 and "unreadable videos: 2" in out
    assert "classes, readable videos only (2 unreadable or missing not counted): walk 1, run 1 (+1 unreadable), " \
           "jump 0 (+1 unreadable)" in out
    assert "classes without readable videos: 1 (jump)" in out  # jump's only video cannot be read


def test_a_latin1_list_names_its_line(tmp_path, capfd):
    config = _tree(tmp_path, ["v/ok0.mp4 0", "v/ok1.mp4 1", "v/caf\u00e9.mp4 2"])
    code, out, _ = run(capfd, "data", "check", config, "--splits", "train")
    assert code == 1 and f"{tmp_path / 'train.txt'}:3: not UTF-8 text" in out  # the split fails, the line named
    code, _, err = run(capfd, "train", config, "--set", "train.epochs=1", f"train.work_dir={tmp_path / 'runs'}")
    line = error_line(err)
    assert code == 2 and f"{tmp_path / 'train.txt'}:3: not UTF-8 text (byte 0xe9 at column 6" in line


def test_boxes_in_0_1_units_with_one_coordinate_past_1_fail_data_check(tmp_path, capfd):
    config = _tree(tmp_path, ["v/ok0.mp4 0", "v/ok1.mp4 1"], options={"annotations": "annotations.json"})
    boxes = [[0.1, 0.2, 0.5, 0.6], [0.12, 0.2, 0.55, 0.62], [0.3, 0.25, 1.02, 0.7]]
    (tmp_path / "annotations.json").write_text(json.dumps({"size": 32, "videos": {"v/ok0.mp4": {"boxes": boxes}}}))
    code, out, _ = run(capfd, "data", "check", config, "--splits", "train")
    assert code == 1 and "[train] failed" in out and "'v/ok0.mp4': boxes look like 0-1 units (3 of 3 boxes" in out


def test_test_views_are_checked_when_the_config_loads(tmp_path, capfd):
    config = _tree(tmp_path, ["v/ok0.mp4 0", "v/ok1.mp4 1"])
    code, _, err = run(capfd, "train", config, "--set", "test.views=3by3", f"train.work_dir={tmp_path / 'runs'}")
    assert code == 2 and "config key 'test.views' expects 'CLIPSxCROPS' such as 1x1, 2x3, 10x3, got '3by3'" \
        in error_line(err)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_disk_full_behind_torchs_runtime_error_is_one_line(tmp_path, capfd, monkeypatch):
    """torch 2.13 reports ENOSPC while saving as RuntimeError("... unexpected pos ...") with the OSError as its
    context (seen on a 1 MB tmpfs as train.work_dir); here the checkpoint's writer finds the disk full."""
    from actionlab.engine import checkpoint
    from tests._engine_toys import FullDisk

    config = _tree(tmp_path, ["v/ok0.mp4 0", "v/ok1.mp4 1"])
    real_fdopen = os.fdopen
    monkeypatch.setattr(checkpoint.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode), room=4096))
    code, _, err = run(capfd, "train", config, "--set", "train.epochs=1", "model.name=tsn_r18_tiny",
                       "model.kwargs={base_width: 8}", "data.input_size=32", "data.scale_size=32",
                       "data.batch_size=2", "data.num_workers=0", "train.device=cpu", f"train.work_dir={tmp_path}/runs")
    line = error_line(err)
    assert code == 1 and f"cannot write checkpoint {tmp_path / 'runs' / 'cfg' / 'checkpoints' / 'last.pt'}: no " \
        "space left on the device" in line and "unexpected pos" not in err
