"""`actionlab bench data` runs end to end on tiny settings and prints its side-by-side table."""

from __future__ import annotations

from actionlab.cli import main
from tests._video_corpus import xvid_available


def test_bench_data_smoke(capsys):
    code = main(["bench", "data", "--seconds", "0.6", "--videos", "1", "--repeats", "1", "--width", "64",
                 "--height", "48", "--size", "32", "--loader-clips", "2", "--batch-size", "2", "--workers", "0",
                 "--avi-videos", "1", "--avi-seconds", "1", "--avi-size", "64x48", "--exact-frames", "4"])
    out = capsys.readouterr().out
    assert code == 0
    sets = 2 + (5 if xvid_available() else 0)  # two H.264 GOP settings, five Xvid AVI settings
    for name in ("(a) naive: decode all, RGB kept", "(c) actionlab, first epoch", "(c') actionlab, scan cached",
                 "(c'') actionlab, scan on disk"):
        assert out.count(name) == sets, name
    assert out.count("(b) decode bound (by hand)") == 2  # not for AVI
    rows = [line.split() for line in out.splitlines() if "actionlab," in line or "(a) naive" in line]
    assert all(row[-2] == "0" for row in rows)  # the same frames as the naive decode, pixel for pixel
    assert all(row[-1].split("/")[0] == row[-1].split("/")[1] for row in rows)  # every single read exact
    assert out.count("1.00x") >= 6  # (a) against itself twice, (b) against itself, per H.264 GOP setting
    assert "DataLoader" in out and "0 workers" in out
