"""`actionlab demo`: an epoch budget, so the same seed prints the same table on every machine."""

from __future__ import annotations

import json

import pytest

from actionlab.cli import main

TINY = ["--epochs", "1", "--videos-per-class", "2", "--frames", "8", "--seed", "3"]


def _tables(out_dir) -> str:
    """What a seed fixes: everything in results.md above the machine's timings."""
    text = (out_dir / "results.md").read_text()
    return text.split("## Time", 1)[0]


@pytest.mark.usefixtures("one_thread")
def test_two_demo_runs_with_the_same_seed_print_the_same_table(tmp_path, capsys):
    assert main(["demo", *TINY, "--jobs", "1", "--out", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out
    assert main(["demo", *TINY, "--jobs", "1", "--out", str(tmp_path / "b")]) == 0
    second = capsys.readouterr().out
    a, b = _tables(tmp_path / "a"), _tables(tmp_path / "b")
    assert "within-pair" in a and "tsm" in a and "Predictions on held-out videos" in a
    assert a == b  # same data, same training, same test: the same numbers to the last digit
    assert a.split("## Within", 1)[0].strip().splitlines()[-1] in first  # the table is what was printed
    assert "expected time: about" in first and "1 epochs each, 1 thread(s) per model" in first
    assert "generating the 'order' benchmark: videos" in first  # the slow steps say where they are
    assert "The whole demo took" in second
    rows = json.loads((tmp_path / "a" / "results.json").read_text())["rows"]
    assert [r["epochs"] for r in rows] == [1, 1]  # the budget is epochs, whatever the machine's speed
