"""`actionlab bench tfe`: the distractor variant's cue correlation / conflicting test cue, and a tiny sweep."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from actionlab.bench import tfe as bench
from actionlab.data.synthetic import DEFAULT_CLASSES, render
from actionlab.errors import ConfigError


def cues(split: str, corr: float, test_cue: str = "random", n: int = 24) -> list[tuple[int, int]]:
    out = []
    for i in range(n):
        c = i % len(DEFAULT_CLASSES)
        v = render("distractor", DEFAULT_CLASSES[c], np.random.default_rng([0, 1, c, i]), 32, 8, split=split,
                   class_index=c, cue_prob=corr, test_cue=test_cue)
        out.append((c, v["cue"]))
    return out


def test_cue_correlation_and_conflicting_test_cue():
    assert all(c == k for c, k in cues("train", 1.0))  # corr 1: the cue always names the label
    assert sum(c == k for c, k in cues("train", 0.0)) <= 8  # corr 0: uniformly random (1/8 by chance)
    assert all(c != k for c, k in cues("test", 1.0, "conflict"))  # another class's cue on every test video
    assert len({k for _, k in cues("test", 1.0, "conflict")}) > 3
    with pytest.raises(ConfigError):
        cues("test", 0.5, "sometimes", n=1)
    with pytest.raises(ConfigError):
        cues("train", 1.5, n=1)


def test_pool_encoder_keeps_position():
    frames = np.zeros((1, 2, 16, 16, 3), dtype=np.uint8)
    frames[0, 0, :8, :8] = 255  # top-left in frame 0, bottom-right in frame 1
    frames[0, 1, 8:, 8:] = 255
    f = bench.pool_encode(frames, 2)
    assert f.shape == (1, 2, 12)
    assert not torch.equal(f[0, 0], f[0, 1]) and torch.equal(f[0, 0].sort().values, f[0, 1].sort().values)


def test_tiny_sweep_writes_results_and_table(tmp_path, capsys):
    import argparse

    p = argparse.ArgumentParser()
    bench.add_arguments(p)
    args = p.parse_args(["sweep", "--corr", "1", "--seeds", "2", "--models", "vanilla_1l,tfe", "--epochs", "1",
                         "--videos-per-class", "2", "--eval-per-class", "1", "--frames", "8", "--segments", "4",
                         "--width", "16", "--out", str(tmp_path)])
    assert bench.run(args) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert sorted((r["model"], r["seed"]) for r in rows) == [("tfe", 0), ("tfe", 1), ("vanilla_1l", 0),
                                                              ("vanilla_1l", 1)]
    for r in rows:
        assert r["test"]["cue"] + r["test"]["top1"] <= 1.0 + 1e-6  # conflicting cue: never both right
        assert 0.0 <= r["test"]["auc"] <= 1.0 and 0.0 <= r["test"]["mass"] <= 1.0
    out = capsys.readouterr().out
    assert "| 1 | tfe | 2 |" in out and "±" in out
    assert (tmp_path / "models" / "tfe_corr1.pt").is_file()
    # never silent: run k of N with the time left; the table says what its columns are and where the files went
    assert "run 1 of 4: corr 1 vanilla_1l seed 0" in out and re.search(r"run 4 of 4: .*min left\)", out)
    assert "predicted = cue: share of test videos" in out and f"results: {tmp_path / 'results.jsonl'}" in out
    assert bench.run(args) == 0 and "0 runs to train (4 already in" in capsys.readouterr().out
    with pytest.raises(ConfigError):
        bench.run(p.parse_args(["sweep", "--models", "tfe,nope", "--out", str(tmp_path)]))
