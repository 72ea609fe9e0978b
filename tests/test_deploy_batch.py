"""Batch prediction over a folder: DataLoader workers, one JSONL line per video, resume, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actionlab.api import Predictor, load
from actionlab.batch_predict import find_videos, main, predict_folder, read_done
from actionlab.errors import DataError
from tests._deploy_helpers import changing_frames, make_checkpoint, write_video

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    d = tmp_path_factory.mktemp("deploy_batch")
    ckpt = make_checkpoint(d / "tsn.pt", "tsn_r18_tiny", num_frames=4, input_size=32, scale_size=36)
    videos = d / "videos"
    (videos / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.mp4", "b.mp4", "sub/c.mp4"]):
        write_video(videos / name, changing_frames(20 + 7 * i, 40, 48, seed=10 + i))
    (videos / "broken.mp4").write_bytes(b"not a video")
    (videos / "notes.txt").write_text("ignored: not a video extension")
    return {"dir": d, "ckpt": ckpt, "videos": videos, "predictor": load(ckpt, device="cpu")}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_find_videos(setup: dict) -> None:
    v = setup["videos"]
    found = find_videos([v])
    assert found == [str(v / n) for n in ["a.mp4", "b.mp4", "broken.mp4", "sub/c.mp4"]]
    assert find_videos([v / "a.mp4", v]) == found[:1] + found[1:]  # a file listed twice is kept once
    with pytest.raises(DataError, match="no such file"):
        find_videos([v / "nope"])


def test_predicts_every_video_once_and_resumes(setup: dict, tmp_path: Path) -> None:
    predictor: Predictor = setup["predictor"]
    out = tmp_path / "pred.jsonl"
    first = predict_folder(predictor, [setup["videos"]], out, topk=3, batch_size=2, num_workers=1)
    assert (first.predicted, first.failed, first.skipped) == (3, 1, 0)
    lines = {x["video"]: x for x in _lines(out)}
    assert len(lines) == 4
    assert "error" in lines[str(setup["videos"] / "broken.mp4")]
    for name in ["a.mp4", "sub/c.mp4"]:
        video = str(setup["videos"] / name)
        ref = predictor.predict(video, topk=3)
        assert [t["label"] for t in lines[video]["top"]] == ref.labels
        assert [t["score"] for t in lines[video]["top"]] == pytest.approx(ref.scores, abs=1e-5)
        assert lines[video]["label"] == ref.label

    # a crash: one complete line lost and the next cut mid-write; the rerun does only what is missing
    text = out.read_text().splitlines(keepends=True)
    kept, lost, cut = text[:2], text[2], text[3]
    out.write_text("".join(kept) + cut[: len(cut) // 2])
    assert len(read_done(out)) == 2 and out.read_text() == "".join(kept)  # the partial line is dropped
    again = predict_folder(predictor, [setup["videos"]], out, topk=3, batch_size=2, num_workers=0)
    assert (again.predicted + again.failed, again.skipped) == (2, 2)
    final = _lines(out)
    assert sorted(x["video"] for x in final) == sorted(lines)  # one line per video, none twice
    assert json.loads(lost)["video"] in {x["video"] for x in final[2:]}

    done = predict_folder(predictor, [setup["videos"]], out)  # the broken file is tried again, and fails again
    assert (done.predicted, done.failed, done.skipped, done.retried) == (0, 1, 3, 1)
    assert sorted(x["video"] for x in _lines(out)) == sorted(lines)  # its old error line was replaced


def test_views_and_cli(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.jsonl"
    rc = main([str(setup["ckpt"]), str(setup["videos"] / "a.mp4"), "--jsonl", str(out), "--views", "2x3",
               "--num-workers", "0", "--topk", "2", "--device", "cpu"])
    assert rc == 0 and "1 predicted, 0 failed, 0 already there" in capsys.readouterr().out
    (line,) = _lines(out)
    ref = setup["predictor"].predict(setup["videos"] / "a.mp4", topk=2, views="2x3")
    assert line["views"] == "2x3" and [t["label"] for t in line["top"]] == ref.labels
    assert line["score"] == pytest.approx(ref.score, abs=1e-5)


def test_unreadable_jsonl_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video": "a.mp4"}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        read_done(bad)


def test_folder_table_skips_and_lists_failures(setup: dict, capsys: pytest.CaptureFixture[str]) -> None:
    """Table mode: an unreadable file costs no good file its prediction; failures listed, exit code 1."""
    from actionlab.cli import main as cli

    rc = cli(["predict", str(setup["videos"]), "--checkpoint", str(setup["ckpt"]), "--topk", "2",
              "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 1
    for name in ["a.mp4", "b.mp4", "sub/c.mp4"]:
        assert str(setup["videos"] / name) in out
    assert "broken.mp4" not in out
    assert "1 of 4 videos failed" in err and f"{setup['videos'] / 'broken.mp4'}: " in err
    assert "Traceback" not in err


def test_jsonl_mode_lists_failures_and_exits_1(setup: dict, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    rc = main([str(setup["ckpt"]), str(setup["videos"]), "--jsonl", str(tmp_path / "p.jsonl"), "--num-workers", "0",
               "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 1 and "3 predicted, 1 failed" in out
    assert "1 of 4 videos failed" in err and "broken.mp4: " in err and "Traceback" not in err


def test_rerun_retries_earlier_failures_and_exits_1_while_any_fails(setup: dict, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`predict FOLDER --jsonl OUT` a second time: a video that failed is tried again and reported again (not
    counted as already there), the exit code stays 1 until it reads, and each video keeps one line."""
    from actionlab.cli import main as cli

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "a.mp4", changing_frames(20, 40, 48, seed=1))
    (videos / "b.mp4").write_bytes(b"not a video yet")
    out = tmp_path / "p.jsonl"
    argv = ["predict", str(videos), "--checkpoint", str(setup["ckpt"]), "--jsonl", str(out), "--num-workers", "0"]
    assert cli(argv) == 1
    capsys.readouterr()
    assert cli(argv) == 1
    printed = capsys.readouterr()
    assert f"{out}: 0 predicted, 1 failed (1 that had failed before were tried again), 1 already there" in printed.out
    assert "1 of 1 videos failed" in printed.err and str(videos / "b.mp4") in printed.err
    assert [("error" in x, x["video"]) for x in _lines(out)] == [(False, str(videos / "a.mp4")),
                                                                 (True, str(videos / "b.mp4"))]
    write_video(videos / "b.mp4", changing_frames(20, 40, 48, seed=2))  # the file is fixed
    assert cli(argv) == 0
    assert "1 predicted, 0 failed (1 that had failed before were tried again), 1 already there" in \
        capsys.readouterr().out
    assert sorted((x["video"], "error" in x) for x in _lines(out)) == [(str(videos / "a.mp4"), False),
                                                                      (str(videos / "b.mp4"), False)]
