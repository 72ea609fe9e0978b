"""Self-contained HTML pages: a timeline to watch, and the predictions of a folder of videos.

Each page is one file that works offline: its style and a small hand-written script are inline,
its data is inline JSON (`<script type="application/json">`), and nothing is fetched from the
network.  The timeline page's video is referenced by a path relative to the page (keep the two
side by side) or embedded in the page as base64 (`embed=True`: one file to send, ~1.33x the
video's size).

Timeline page (`write_timeline_page`): the video player, "now" (top-5 of the window shown at the
current time, by the same rule as the annotated video's drawn label), and a chart of the class
scores over time (SVG) whose cursor follows playback; clicking the chart seeks the video and
hovering shows the top-5 at that time.  Element ids the browser test reads: #player, #cursor
(data-time, x1), #now-top (li[data-label]), #chart, #tip.

Folder page (`write_folder_page`): one row per video with its top-5 and scores, then the
videos that failed and why.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

MIME = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm", ".ogv": "video/ogg", ".mov": "video/mp4"}


def _static(name: str) -> str:
    return resources.files("actionlab.annotate").joinpath("static", name).read_text(encoding="utf-8")


def inline_json(data: Any) -> str:
    """JSON that is safe inside a <script> element (no '</script>' or '<!--' can end or break it)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def video_source(video: str | os.PathLike, page: str | os.PathLike, embed: bool = False) -> str:
    """The <video src>: a path relative to the page (URL-quoted), or a data: URI with the file inside."""
    from urllib.parse import quote

    video, page = Path(video), Path(page)
    if embed:
        mime = MIME.get(video.suffix.lower(), "video/mp4")
        return f"data:{mime};base64,{base64.b64encode(video.read_bytes()).decode('ascii')}"
    rel = os.path.relpath(video.resolve(), page.resolve().parent)
    return quote(Path(rel).as_posix())


def _page(title: str, body: str, data: Any, script: str) -> str:
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>\n{_static('page.css')}</style>\n</head>\n<body>\n"
            f"{body}\n"
            f'<script type="application/json" id="page-data">{inline_json(data)}</script>\n'
            f"<script>\n{script}</script>\n</body>\n</html>\n")


def write_timeline_page(path: str | os.PathLike, data: dict[str, Any], video: str | os.PathLike,
                        embed: bool = False) -> Path:
    """The timeline page at `path` for `data` (see `Timeline.page_data`), playing `video`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    src = video_source(video, path, embed)
    name = html.escape(str(data.get("name", "")))
    meta = html.escape(f"{data['model']} · window {data['window']} / stride {data['stride']} frames · "
                       f"{len(data['windows'])} windows · {data['duration']:.1f} s · {data['fps']:.3g} fps")
    body = f"""<header><h1>{name}</h1><p class="meta">{meta}</p></header>
<main class="timeline">
<div class="top">
<video id="player" controls preload="auto" playsinline src="{html.escape(src, quote=True)}"></video>
<section id="now" aria-live="polite"><h2>now <span id="now-time">0.00 s</span></h2>
<ol id="now-top" class="toplist"></ol>
<p class="hint">Scores of the window shown at this moment. Click the chart to seek; hover it for the top-5 at
any time.</p></section>
</div>
<figure id="chart-box"><svg id="chart" role="img" aria-label="class scores over time"
 ></svg><div id="tip" hidden></div>
<figcaption id="legend"></figcaption></figure>
</main>"""
    path.write_text(_page(f"{data.get('name', '')}: timeline", body, data, _static("timeline.js")),
                    encoding="utf-8")
    return path


def write_folder_page(path: str | os.PathLike, results: Sequence[dict[str, Any]],
                      failures: Sequence[tuple[str, str]], model: str, views: str = "1x1") -> Path:
    """One page: every video with its top classes (results: {"video", "top": [{"label", "score"}]}),
    then the failures with their reason."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        video = str(r["video"])
        href = video_source(video, path) if Path(video).exists() else ""
        rows.append({"video": video, "href": href, "top": [[t["label"], float(t["score"])] for t in r["top"]]})
    data = {"model": model, "views": views, "rows": rows,
            "failures": [{"video": v, "error": e} for v, e in failures]}
    total = len(results) + len(failures)
    meta = html.escape(f"{model} · views {views} · {len(results)} of {total} videos predicted"
                       + (f" · {len(failures)} failed" if failures else ""))
    body = f"""<header><h1>Predictions</h1><p class="meta">{meta}</p></header>
<main class="folder">
<p><label>filter <input id="filter" type="search" placeholder="video or class"></label>
<span id="shown"></span></p>
<table id="predictions"><thead><tr><th>#</th><th>video</th><th>top-1</th><th>score</th><th>top-5</th></tr></thead>
<tbody></tbody></table>
<section id="failures-box"{'' if failures else ' hidden'}><h2>failed ({len(failures)})</h2>
<table id="failures"><thead><tr><th>video</th><th>reason</th></tr></thead><tbody></tbody></table></section>
</main>"""
    path.write_text(_page("predictions", body, data, _static("folder.js")), encoding="utf-8")
    return path
