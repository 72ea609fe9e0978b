"""Long-video timelines: window planning, timestamps, scores per window, bounded memory, JSON/CSV/PNG, CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
import torch

from actionlab.api import Predictor, load
from actionlab.cli import main
from actionlab.errors import ConfigError
from actionlab.timeline import plan_windows, video_timeline, write_timeline
from tests._deploy_helpers import CLASSES, changing_frames, decode_all, make_checkpoint, write_video

FPS = 10
FRAMES = 330  # 33 s at 10 fps: (330 - 64) / 16 is not whole, so a tail window is added


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("deploy_timeline")
    ckpt = make_checkpoint(d / "tsm.pt", "tsm_r18_tiny", num_frames=4, input_size=32, scale_size=36)
    video = write_video(d / "long.mp4", changing_frames(FRAMES, 40, 48, seed=2), fps=FPS)
    return {"dir": d, "ckpt": ckpt, "video": video, "predictor": load(ckpt, device="cpu")}


def test_plan_windows() -> None:
    assert plan_windows(330, 64, 16)[:3] == [(0, 64), (16, 80), (32, 96)]
    assert plan_windows(330, 64, 16)[-2:] == [(256, 320), (266, 330)]  # tail aligned to the end
    assert plan_windows(320, 64, 16)[-1] == (256, 320)  # exact fit: no extra window
    assert plan_windows(40, 64, 16) == [(0, 40)]  # shorter than a window: one window over everything
    with pytest.raises(ConfigError, match="--stride"):
        plan_windows(100, 64, 0)


def test_timeline_windows_timestamps_and_scores(setup: dict) -> None:
    predictor: Predictor = setup["predictor"]
    tl = video_timeline(predictor, setup["video"], window=64, stride=16, topk=3, batch_size=5)
    spans = plan_windows(FRAMES, 64, 16)
    assert [(w.start_frame, w.end_frame) for w in tl.windows] == spans
    assert (tl.num_frames, tl.decoded_frames, tl.fps) == (FRAMES, FRAMES, FPS)
    for w in tl.windows:
        assert w.start == pytest.approx(w.start_frame / FPS, abs=1e-6)
        assert w.end == pytest.approx(w.end_frame / FPS, abs=1e-6)
    assert tl.windows[-1].end == pytest.approx(tl.duration) == pytest.approx(33.0)

    # each window scores exactly what `predict` gives on that window's frames of a full decode
    frames = decode_all(setup["video"])
    for w in tl.windows[::4] + tl.windows[-1:]:
        ref = predictor.predict(frames[w.start_frame:w.end_frame], topk=3)
        assert w.labels == ref.labels
        assert w.scores == pytest.approx(ref.scores, abs=1e-5)
        torch.testing.assert_close(tl.scores[w.index], ref.probabilities, rtol=1e-5, atol=1e-6)
    assert float((tl.scores[0] - tl.scores[10]).abs().max()) > 1e-3  # content changes over time


def test_memory_stays_bounded(setup: dict, tmp_path: Path) -> None:
    """Only the crops some pending window samples are held: the peak does not grow with the video."""
    predictor: Predictor = setup["predictor"]
    longer = write_video(tmp_path / "longer.mp4", changing_frames(3 * FRAMES, 40, 48, seed=5), fps=FPS)
    short = video_timeline(predictor, setup["video"], window=64, stride=16, batch_size=1)
    long = video_timeline(predictor, longer, window=64, stride=16, batch_size=1)
    bound = predictor.num_frames * math.ceil(64 / 16)
    assert 0 < long.peak_buffered_frames <= bound
    assert long.peak_buffered_frames == short.peak_buffered_frames
    assert len(long.windows) > 3 * len(short.windows) - 3


def test_written_files(setup: dict, tmp_path: Path) -> None:
    tl = video_timeline(setup["predictor"], setup["video"], window=100, stride=50, topk=2)
    paths = write_timeline(tl, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"long.timeline.json", "long.timeline.csv", "long.timeline.png"}

    data = json.loads(paths["json"].read_text())
    assert (data["window"], data["stride"], data["fps"], data["num_frames"]) == (100, 50, FPS, FRAMES)
    assert [(w["start"], w["end"]) for w in data["windows"]] == [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0),
                                                                (15.0, 25.0), (20.0, 30.0), (23.0, 33.0)]
    assert all(len(w["top"]) == 2 and w["top"][0]["label"] in CLASSES for w in data["windows"])

    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == len(data["windows"])
    assert rows[-1]["start"] == "23.0000" and rows[-1]["label_1"] == data["windows"][-1]["top"][0]["label"]
    assert float(rows[0]["score_1"]) == pytest.approx(data["windows"][0]["top"][0]["score"], abs=1e-6)

    png = paths["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_cli_entry_point(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["timeline", str(setup["video"]), "--checkpoint", str(setup["ckpt"]), "--window", "128", "--stride",
               "64", "--out-dir", str(tmp_path), "--no-plot", "--device", "cpu"])
    assert rc == 0
    assert "long.mp4: 5 windows over 33.0s" in capsys.readouterr().out
    assert (tmp_path / "long.timeline.json").is_file() and not (tmp_path / "long.timeline.png").exists()
    assert main(["timeline", str(tmp_path / "none.mp4"), "--model", str(setup["ckpt"]), "--out-dir",
                 str(tmp_path)]) == 2


def test_dense_sampler_windows(setup: dict, tmp_path: Path) -> None:
    """A dense clip (4 frames, 8 apart) longer than the window wraps inside it, as the data sampler does."""
    ckpt = make_checkpoint(tmp_path / "dense.pt", "tsn_r18_tiny", num_frames=4, input_size=32, scale_size=36,
                           overrides=["data.sampler=dense", "data.frame_interval=8"])
    predictor = load(ckpt, device="cpu")
    tl = video_timeline(predictor, setup["video"], window=24, stride=40, topk=5)
    assert [(w.start_frame, w.end_frame) for w in tl.windows] == plan_windows(FRAMES, 24, 40)
    frames = decode_all(setup["video"])
    for w in tl.windows:
        ref = predictor.predict(frames[w.start_frame:w.end_frame], topk=5)
        assert w.scores == pytest.approx(ref.scores, abs=1e-5) and w.labels == ref.labels
