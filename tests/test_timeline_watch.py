"""Annotated videos and pages of a timeline: what is drawn is read back from the decoded output.

The reference for "the frame shows its window's labels" is independent of the drawing code:
a plain PyAV decode of the written file, the label read glyph by glyph from its pixels, the
strip's cursor found as its whitest column, and the window each frame should show computed
from the timeline's own windows by the nearest-centre rule.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import av
import numpy as np
import pytest

from actionlab.annotate import font
from actionlab.annotate.overlay import Layout
from actionlab.annotate.sync import first_frames, frame_windows, window_centres
from actionlab.cli import main
from actionlab.timeline import plan_windows
from tests._deploy_helpers import make_checkpoint
from tests._watch_helpers import (
    CLASSES,
    changing_class_frames,
    colour_predictor,
    decode,
    drawn_label,
    strip_cursor,
    write_video,
)

FPS, N, CHANGE, WINDOW, STRIDE = 10, 60, 27, 20, 5


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def change(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 6 s video whose square turns from red to green at frame 27, with an AAC tone; its annotated copy."""
    d = tmp_path_factory.mktemp("watch")
    video = write_video(d / "change.mp4", changing_class_frames(N, CHANGE), fps=FPS, audio="aac")
    tl = colour_predictor().timeline(video, window=WINDOW, stride=STRIDE, topk=3, out_video=d / "out.mp4")
    return {"dir": d, "video": video, "timeline": tl, "out": d / "out.mp4"}


def test_font_reads_back_every_character() -> None:
    text = "".join(c for c in string.printable if c.isprintable())
    for scale in (1, 2, 3):
        ink = font.render(text, scale)
        assert ink.shape == (font.GLYPH_H * scale, font.text_width(text, scale))
        assert font.read_text(ink, scale) == text.rstrip()
    assert font.to_ascii("café ☃") == "cafe ?"
    cut = font.fit("playing " * 20, 120, 2)
    assert cut.endswith("...") and font.text_width(cut, 2) <= 120 and font.fit("jump", 120, 2) == "jump"


def test_a_frame_shows_the_window_with_the_nearest_centre() -> None:
    for num_frames, window, stride in [(100, 16, 4), (330, 64, 16), (37, 8, 3), (10, 64, 16)]:
        spans = plan_windows(num_frames, window, stride)
        shown = frame_windows(spans, num_frames)
        centres = window_centres(spans)
        for f in range(num_frames):
            distance = np.abs(centres - f)
            assert shown[f] == int(np.flatnonzero(distance == distance.min())[0])  # ties: the earlier window
        starts = first_frames(spans)
        assert all(shown[s] == j for j, s in enumerate(starts) if s < num_frames)


def test_annotated_video_shows_the_class_change_within_one_stride(change: dict) -> None:
    tl = change["timeline"]
    frames, times = decode(change["out"])
    src_frames, src_times = decode(change["video"])
    assert len(frames) == N == tl.annotated.frames and times == pytest.approx(src_times)
    with av.open(str(change["out"])) as c:
        stream = c.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 320, 240)
        assert stream.average_rate == FPS

    # each frame's drawn label, read from its pixels, is the top-1 of the window with the nearest centre
    drawn = [drawn_label(f) for f in frames]
    shown = frame_windows([(w.start_frame, w.end_frame) for w in tl.windows], N)
    assert drawn == [tl.windows[j].labels[0] for j in shown]
    assert drawn[0] == "red square" and drawn[-1] == "green square"
    switch = drawn.index("green square")
    assert set(drawn[:switch]) == {"red square"} and set(drawn[switch:]) == {"green square"}
    assert abs(switch - CHANGE) <= STRIDE
    assert [drawn_label(f, line=1) for f in frames[::10]] == [tl.windows[j].labels[1] for j in shown[::10]]

    # the strip's cursor is at the frame's place in the video
    assert [strip_cursor(f) for f in frames] == pytest.approx([f * 320 // N for f in range(N)], abs=1)
    # outside the label box and the strip the picture is the input's
    lay = Layout.for_frame(320, 240)
    for out, src in zip(frames[::7], src_frames[::7]):
        body = slice(lay.height // 2, lay.height - lay.strip)
        assert np.abs(out[body].astype(int) - src[body].astype(int)).mean() < 4


def test_audio_is_copied_packet_for_packet(change: dict) -> None:
    def audio_packets(path: Path) -> list[bytes]:
        with av.open(str(path)) as c:
            return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]

    assert change["timeline"].annotated.audio == "copied"
    assert audio_packets(change["out"]) == audio_packets(change["video"])


def test_audio_the_container_cannot_hold_is_encoded(tmp_path: Path) -> None:
    video = write_video(tmp_path / "u8.mkv", changing_class_frames(20, 10, 64, 48), fps=FPS, audio="pcm_u8")
    tl = colour_predictor().timeline(video, window=8, stride=4)
    result = tl.to_video(tmp_path / "u8.mp4")  # after the run: a second decode, no model
    assert result.audio.startswith("re-encoded to aac") and result.frames == 20
    with av.open(str(result.path)) as c:
        assert c.streams.audio[0].codec_context.name == "aac"
        assert float(c.streams.audio[0].duration * c.streams.audio[0].time_base) == pytest.approx(2.0, abs=0.1)


def test_rotation_is_applied_and_odd_sides_are_padded(tmp_path: Path) -> None:
    from actionlab.data.readers import read_all_sequential
    from tests._video_corpus import corpus_file

    rotated = corpus_file("mp4_h264_rot90")
    tl = colour_predictor().timeline(rotated, window=8, stride=4)
    result = tl.to_video(tmp_path / "upright.mp4")
    upright = read_all_sequential(rotated).numpy()  # the readers' frames: rotation applied
    frames, _ = decode(result.path)
    assert frames[0].shape == upright[0].shape and upright.shape[1] != upright.shape[2]
    with av.open(str(result.path)) as c:
        first = next(c.decode(video=0))
        assert c.streams.video[0].codec_context.name == "h264" and first.rotation == 0  # drawn upright, not tagged
    lay = Layout.for_frame(upright.shape[2], upright.shape[1])
    body = slice(lay.height // 2 + 2, lay.height - lay.strip - 2)
    right = np.abs(frames[5][body].astype(int) - upright[5][body].astype(int)).mean()
    wrong = np.abs(frames[5][body].astype(int) - upright[5, ::-1, ::-1][body].astype(int)).mean()  # 270 not 90
    assert right < 12 and right < wrong / 3  # (tiny frames of random 8 px blocks: 4:2:0 chroma costs a few levels)

    odd = write_video(tmp_path / "odd.mkv", changing_class_frames(12, 6, 66, 50)[:, :49, :65], fps=FPS,
                      pix_fmt="yuv444p")  # 4:4:4 allows odd sides; 4:2:0 output needs even ones
    out = colour_predictor().timeline(odd, window=6, stride=3).to_video(tmp_path / "odd.mp4")
    assert out.padded and (out.width, out.height) == (65, 49) and decode(out.path)[0][0].shape == (50, 66, 3)


def test_variable_frame_rate_keeps_the_timestamps(tmp_path: Path) -> None:
    from tests._video_corpus import corpus_file

    vfr = corpus_file("mp4_h264_vfr")
    tl = colour_predictor().timeline(vfr, window=8, stride=4)
    result = tl.to_video(tmp_path / "vfr.mp4")
    assert decode(result.path)[1] == pytest.approx(decode(vfr)[1], abs=1e-3)


def test_page_shows_the_same_window_as_the_video(change: dict) -> None:
    tl = change["timeline"]
    page = tl.to_html(change["dir"] / "page.html")
    text = page.read_text()
    data = json.loads(re.search(r'<script type="application/json" id="page-data">(.*?)</script>', text, re.S)[1])
    _, times = decode(change["out"])
    shown = frame_windows([(w.start_frame, w.end_frame) for w in tl.windows], N)
    starts = [s for s, _ in data["shown"]]
    for f, t in enumerate(times):  # the page's rule (last stretch starting at or before t) on each frame's time
        j = data["shown"][int(np.searchsorted(starts, t + 1e-6, side="right")) - 1][1]
        assert j == shown[f] and data["windows"][j]["top"][0][0] == tl.windows[shown[f]].labels[0]
    assert {s["name"] for s in data["series"]} >= {"red square", "green square"}
    assert data["duration"] == pytest.approx(N / FPS)
    # self-contained: nothing is loaded from elsewhere; the video sits beside the page
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=|\b(src|href)=\"?(https?:)?//", text)
    assert 'src="out.mp4"' in text
    assert "</script>" not in json.dumps(data)  # inline JSON cannot end its element early


def test_html_escapes_class_names_and_embeds_the_video(tmp_path: Path) -> None:
    predictor = colour_predictor()
    predictor.class_names = ["</script><b>x", *CLASSES[1:]]
    video = write_video(tmp_path / "v.mp4", changing_class_frames(20, 10, 64, 48), fps=FPS)
    page = predictor.timeline(video, window=8, stride=4).to_html(tmp_path / "one" / "page.html", embed=True)
    text = page.read_text()
    assert text.count("</script>") == 2 and "<b>x" not in text
    assert 'src="data:video/mp4;base64,' in text and (tmp_path / "one" / "page.labels.mp4").is_file()


def test_cli_timeline_writes_video_page_and_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = make_checkpoint(tmp_path / "tiny.pt", "tsm_r18_tiny", num_frames=4, input_size=32, scale_size=36)
    video = write_video(tmp_path / "clip.mp4", changing_class_frames(40, 20, 96, 72), fps=FPS, audio="aac")
    rc = main(["timeline", str(video), "--model", str(ckpt), "--window", "16", "--stride", "8", "--out-dir",
               str(tmp_path / "tl"), "--no-plot", "--out-video", str(tmp_path / "clip.labels.mp4"),
               "--html", str(tmp_path / "pages" / "clip.html"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "clip.mp4: 4 windows over 4.0s" in out and "audio copied" in out
    assert (tmp_path / "tl" / "clip.timeline.json").is_file()
    frames, _ = decode(tmp_path / "clip.labels.mp4")
    data = json.loads((tmp_path / "tl" / "clip.timeline.json").read_text())
    assert len(frames) == 40 and drawn_label(frames[0]) == data["windows"][0]["top"][0]["label"]
    assert 'src="../clip.labels.mp4"' in (tmp_path / "pages" / "clip.html").read_text()

    # `predict --window` is the same timeline; a page alone gets its video beside it
    rc = main(["predict", str(video), "--checkpoint", str(ckpt), "--window", "16", "--stride", "8", "--no-plot",
               "--out-dir", str(tmp_path / "tl2"), "--html", str(tmp_path / "p2.html"), "--device", "cpu"])
    assert rc == 0 and 'src="p2.labels.mp4"' in (tmp_path / "p2.html").read_text()
    assert len(decode(tmp_path / "p2.labels.mp4")[0]) == 40
    # a page named after its video beside it does not overwrite the input; --out-video onto it is refused
    rc = main(["timeline", str(video), "--model", str(ckpt), "--window", "16", "--no-plot", "--out-dir",
               str(tmp_path / "tl3"), "--html", str(tmp_path / "clip.html"), "--device", "cpu"])
    assert rc == 0 and len(decode(video)[0]) == 40 and (tmp_path / "clip.labels.mp4").is_file()
    size = video.stat().st_size
    assert main(["timeline", str(video), "--model", str(ckpt), "--window", "16", "--no-plot", "--out-dir",
                 str(tmp_path / "tl3"), "--out-video", str(video), "--device", "cpu"]) == 2
    assert video.stat().st_size == size and "overwrite its input" in capsys.readouterr().err
    assert json.loads((tmp_path / "tl2" / "clip.timeline.json").read_text())["windows"] == data["windows"]


def test_predict_folder_page_lists_every_video_and_the_failures(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "tiny.pt", "tsn_r18_tiny", num_frames=4, input_size=32, scale_size=36)
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(2):
        write_video(folder / f"v{i}.mp4", changing_class_frames(12, 6, 64, 48), fps=FPS)
    (folder / "broken.mp4").write_bytes(b"not a video")
    rc = main(["predict", str(folder), "--checkpoint", str(ckpt), "--html", str(tmp_path / "all.html"),
               "--json", str(tmp_path / "all.json"), "--device", "cpu"])
    assert rc == 1  # a failure is listed, and said by the exit code
    text = (tmp_path / "all.html").read_text()
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', text, re.S)[1])
    reference = json.loads((tmp_path / "all.json").read_text())
    assert [(r["video"], r["top"]) for r in data["rows"]] == [
        (p["video"], [[t["label"], t["score"]] for t in p["top"]]) for p in reference["predictions"]]
    assert len(data["rows"]) == 2 and all(len(r["top"]) == 5 for r in data["rows"])
    assert [f["video"] for f in data["failures"]] == [str(folder / "broken.mp4")]
    assert "cannot open" in data["failures"][0]["error"] or "broken.mp4" in data["failures"][0]["error"]
    assert data["rows"][0]["href"] == "videos/v0.mp4"

    # the same page from a resumable --jsonl run
    rc = main(["predict", str(folder), "--checkpoint", str(ckpt), "--jsonl", str(tmp_path / "all.jsonl"),
               "--html", str(tmp_path / "batch.html"), "--num-workers", "0", "--device", "cpu"])
    batch = json.loads(re.search(r'id="page-data">(.*?)</script>', (tmp_path / "batch.html").read_text(), re.S)[1])
    assert rc == 1 and sorted(r["video"] for r in batch["rows"]) == [r["video"] for r in data["rows"]]
    assert [f["video"] for f in batch["failures"]] == [str(folder / "broken.mp4")]


def test_bad_video_is_one_line_and_leaves_no_partial_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = make_checkpoint(tmp_path / "tiny.pt", "tsn_r18_tiny", num_frames=4, input_size=32, scale_size=36)
    good = write_video(tmp_path / "good.mkv", changing_class_frames(40, 20, 64, 48), fps=FPS)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # header intact, half the frames gone
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 2000)
    for video in (cut, tmp_path / "junk.mp4", tmp_path / "missing.mp4"):
        out = tmp_path / f"{video.stem}.labels.mp4"
        rc = main(["timeline", str(video), "--checkpoint", str(ckpt), "--window", "8", "--out-video", str(out),
                   "--html", str(tmp_path / f"{video.stem}.html"), "--no-plot", "--device", "cpu"])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and video.name in err
        assert not out.exists() and not (tmp_path / f"{video.stem}.html").exists()
