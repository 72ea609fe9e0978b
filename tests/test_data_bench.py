"""`actionlab bench data` runs end to end on tiny settings and prints its side-by-side table."""

from __future__ import annotations

from actionlab.cli import main


def test_bench_data_smoke(capsys):
    code = main(["bench", "data", "--seconds", "0.6", "--videos", "1", "--repeats", "1", "--width", "64",
                 "--height", "48", "--size", "32", "--loader-clips", "2", "--batch-size", "2", "--workers", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert "(a) naive: decode all, index" in out and "(b) actionlab (PyAV)" in out
    assert out.count("1.0x") >= 2  # (a) is the reference of both GOP settings
    assert "DataLoader" in out and "0 workers" in out
