"""Progress lines on and off a terminal; the skip message in plain words."""

import io
import logging

from actionlab.data.dataset import collate
from actionlab.engine.logs import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_one_line_per_update_off_a_terminal():
    out = io.StringIO()
    bar = Progress("test: batches", 20, stream=out)
    for i in range(1, 21):
        bar.update(i)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[0].startswith("test: batches 1/20") and lines[-1] == "test: batches 20/20"
    assert [int(line.split()[2].split("/")[0]) for line in lines] == [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 20]


def test_progress_rewrites_one_line_on_a_terminal():
    out = _Terminal()
    bar = Progress("videos", 3, stream=out)
    for i in (1, 2, 3):
        bar.update(i)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("videos 3/3".ljust(79) + "\n")


def test_a_fully_skipped_batch_is_said_in_plain_words(caplog):
    with caplog.at_level(logging.WARNING):
        assert collate([None]) is None
        assert collate([None, None]) is None
    assert [r.getMessage() for r in caplog.records] == [
        "skipped 1 unreadable video, the only one in its batch (data.on_error=skip)",
        "skipped 2 unreadable videos: none of their batch could be read (data.on_error=skip)"]
