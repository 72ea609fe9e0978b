"""`actionlab bench data` runs end to end on tiny settings and prints its side-by-side table."""

from __future__ import annotations

from actionlab.cli import main


def test_bench_data_smoke(capsys):
    code = main(["bench", "data", "--seconds", "0.6", "--videos", "1", "--repeats", "1", "--width", "64",
                 "--height", "48", "--size", "32", "--loader-clips", "2", "--batch-size", "2", "--workers", "0"])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("(a) naive: decode all, RGB kept", "(b) decode bound (by hand)", "(c) actionlab, first epoch",
                 "(c') actionlab, scan cached"):
        assert out.count(name) == 2, name  # both GOP settings
    rows = [line.split() for line in out.splitlines() if "actionlab," in line or "(a) naive" in line]
    assert all(row[-1] == "0" for row in rows)  # the same frames as the naive decode, pixel for pixel
    assert out.count("1.00x") >= 4  # (a) against itself, (b) against itself, per GOP setting
    assert "DataLoader" in out and "0 workers" in out
