"""The timeline page in a real browser: headless Chromium (through chromedriver, `_browser.py`) loads the
page from disk, seeks and plays the video, and the test reads the chart's cursor and the top-1 shown
from the DOM -- and the label drawn on the frame the browser itself decoded (a canvas read-back).

The expected values come from Python, not from the page's script: the window of each frame by the
nearest-centre rule over the timeline's windows, and the frame on screen at time t from a PyAV
decode of the same file.  A screenshot is written for the test log (`screenshot:` line; set
ACTIONLAB_SCREENSHOT=PATH to keep a copy).  Debian's chromium plays H.264 (the page's video);
the test checks that it did (videoWidth, a decoded frame) rather than assuming it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from actionlab.annotate import font
from actionlab.annotate.overlay import Layout
from actionlab.annotate.page import write_folder_page
from actionlab.annotate.sync import frame_windows
from tests._browser import Chromium, browser_or_skip
from tests._watch_helpers import changing_class_frames, colour_predictor, decode, write_video

FPS, N, CHANGE = 10, 60, 27

SEEK = """const [t, done] = arguments;
const v = document.getElementById("player");
const go = () => {
  v.addEventListener("seeked", () => requestAnimationFrame(() => requestAnimationFrame(() => done(v.currentTime))),
                     {once: true});
  v.currentTime = t;
};
if (v.readyState >= 1) go(); else v.addEventListener("loadedmetadata", go, {once: true});"""

SETTLED = """const done = arguments[0], v = document.getElementById("player");
const finish = () => requestAnimationFrame(() => requestAnimationFrame(() => done(v.currentTime)));
if (v.seeking) v.addEventListener("seeked", finish, {once: true}); else finish();"""

PLAY_TO = """const [t, done] = arguments;
const v = document.getElementById("player");
v.play();
const check = () => {
  if (v.currentTime >= t) { v.pause(); requestAnimationFrame(() => requestAnimationFrame(() => done(v.currentTime))); }
  else requestAnimationFrame(check);
};
check();"""

STATE = """const c = document.getElementById("cursor"), svg = document.getElementById("chart");
const v = document.getElementById("player");
return {time: v.currentTime, cursorTime: +c.dataset.time, x: +c.getAttribute("x1"),
        left: +svg.dataset.plotLeft, right: +svg.dataset.plotRight,
        top: [...document.querySelectorAll("#now-top li")].map((li) => li.dataset.label),
        videoWidth: v.videoWidth, paused: v.paused};"""

FRAME_ROWS = """const [x, y, w, h] = arguments;
const v = document.getElementById("player");
const canvas = document.createElement("canvas");
canvas.width = v.videoWidth; canvas.height = v.videoHeight;
const g = canvas.getContext("2d");
g.drawImage(v, 0, 0);
const d = g.getImageData(x, y, w, h).data;
const luma = [];
for (let i = 0; i < d.length; i += 4) luma.push(Math.round(0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2]));
return luma;"""

CHART_POINT = """const svg = document.getElementById("chart"), r = svg.getBoundingClientRect();
const [t, duration] = arguments;
const left = +svg.dataset.plotLeft, right = +svg.dataset.plotRight, vb = svg.viewBox.baseVal;
const x = (left + (right - left) * t / duration) * r.width / vb.width;
return x - r.width / 2;"""


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, one_thread: None) -> dict:
    d = tmp_path_factory.mktemp("browser")
    video = write_video(d / "square.mp4", changing_class_frames(N, CHANGE), fps=FPS, audio="aac")
    tl = colour_predictor().timeline(video, window=20, stride=5, topk=3, out_video=d / "site" / "square.labels.mp4")
    page = tl.to_html(d / "site" / "square.html")
    _, times = decode(tl.annotated.path)
    shown = frame_windows([(w.start_frame, w.end_frame) for w in tl.windows], N)
    return {"dir": d, "page": page, "timeline": tl, "times": np.array(times), "shown": shown}


def expected_top(page: dict, t: float) -> list[str]:
    """Labels of the window shown at time t: the frame on screen is the last one starting at or before t."""
    f = int(np.searchsorted(page["times"], t + 1e-6, side="right")) - 1
    return page["timeline"].windows[page["shown"][f]].labels


def drawn_in_browser(b: Chromium) -> str:
    """The label drawn on the frame the browser shows, read from a canvas copy of it."""
    lay = Layout.for_frame(320, 240)
    y, x = lay.label_at(0)
    h, w = font.GLYPH_H * lay.scale, 320 - x
    luma = np.array(b.run(FRAME_ROWS, x, y, w, h)).reshape(h, w)
    return font.read_text(luma > 160, lay.scale)


def check_state(b: Chromium, page: dict, t: float) -> dict:
    state = b.run(STATE)
    duration = page["timeline"].duration
    assert state["cursorTime"] == pytest.approx(t, abs=1e-3)
    assert state["x"] == pytest.approx(state["left"] + (state["right"] - state["left"]) * t / duration, abs=0.02)
    assert state["top"] == expected_top(page, t)
    assert drawn_in_browser(b) == state["top"][0]  # the page's "now" and the frame's drawn label agree
    return state


def test_timeline_page_in_chromium(page: dict) -> None:
    chromium, driver = browser_or_skip()
    with Chromium(chromium, driver) as b:
        b.open(page["page"])
        for t in (0.35, 2.45, 3.05, 5.55):  # red, the last red frame's window, green after the change, the end
            assert b.run_async(SEEK, t) == pytest.approx(t, abs=1e-3)
            state = check_state(b, page, t)
            assert state["videoWidth"] == 320  # the browser decoded the H.264 file
        assert expected_top(page, 0.35)[0] == "red square" and expected_top(page, 5.55)[0] == "green square"

        # playing: the cursor follows the video, and the top-1 with it
        b.run_async(SEEK, 1.05)
        assert b.run_async(PLAY_TO, 3.3) >= 3.3
        state = b.run(STATE)
        assert state["paused"] and state["time"] >= 3.3 and state["top"][0] == "green square"
        assert state["cursorTime"] == pytest.approx(state["time"], abs=0.1)  # it followed playback to the pause
        t = state["time"]
        if abs(t * FPS - round(t * FPS)) > 1e-3:  # not on a frame boundary, where rounding could pick either frame
            assert state["top"] == expected_top(page, t)
        mid = (int(t * FPS) + 0.5) / FPS  # settle on the middle of the frame reached, and check it exactly
        b.run_async(SEEK, mid)
        check_state(b, page, mid)

        # clicking the chart at 1.5 s seeks the video there (to within one chart pixel)
        duration = page["timeline"].duration
        b.pointer("#chart", b.run(CHART_POINT, 1.5, duration), 0, click=True)
        clicked = b.run_async(SETTLED)
        assert clicked == pytest.approx(1.5, abs=duration / 800)
        check_state(b, page, clicked)

        # hovering at 4.2 s shows the top classes of the window shown then
        b.pointer("#chart", b.run(CHART_POINT, 4.2, duration), 20)
        tip = b.run("""const tip = document.getElementById("tip");
            return {hidden: tip.hidden, time: +tip.dataset.time,
                    top: [...tip.querySelectorAll("li")].map((li) => li.dataset.label)};""")
        assert not tip["hidden"] and tip["time"] == pytest.approx(4.2, abs=duration / 800)
        assert tip["top"] == expected_top(page, tip["time"])
        shot = b.screenshot(page["dir"] / "timeline_page.png")
    print(f"screenshot: {shot}")
    if os.environ.get("ACTIONLAB_SCREENSHOT"):
        shutil.copy(shot, os.environ["ACTIONLAB_SCREENSHOT"])
    assert shot.stat().st_size > 10_000


def test_folder_page_in_chromium(page: dict, tmp_path: Path) -> None:
    results = [{"video": str(page["dir"] / "square.mp4"), "top": [{"label": "red square", "score": 0.61},
                                                                   {"label": "green square", "score": 0.2}]},
               {"video": str(tmp_path / "b.mp4"), "top": [{"label": "green square", "score": 0.55}]}]
    path = write_folder_page(tmp_path / "all.html", results, [(str(tmp_path / "bad.avi"), "cannot open video")],
                             "colour_stub")
    chromium, driver = browser_or_skip()
    with Chromium(chromium, driver) as b:
        b.open(path)
        rows = b.run("""return [...document.querySelectorAll('#predictions tbody tr')].map((tr) =>
                        [tr.dataset.top1, tr.querySelectorAll('ol li').length, tr.hidden]);""")
        assert rows == [["red square", 2, False], ["green square", 1, False]]
        assert b.run("return [...document.querySelectorAll('#failures td')].map((td) => td.textContent)") == [
            str(tmp_path / "bad.avi"), "cannot open video"]
        b.run("const f = document.getElementById('filter'); f.value = 'GREEN'; "
              "f.dispatchEvent(new Event('input'));")
        assert b.run("return [...document.querySelectorAll('#predictions tbody tr')].map((tr) => tr.hidden)") == [
            False, False]  # both rows name a green square among their top classes
        b.run("const f = document.getElementById('filter'); f.value = 'b.mp4'; f.dispatchEvent(new Event('input'));")
        assert b.run("return document.getElementById('shown').textContent") == "1 of 2 shown"
