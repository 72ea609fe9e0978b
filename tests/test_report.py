"""actionlab.report / `actionlab report`: tables, CSV, plots and claim checks from fake finished run dirs."""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

import pytest

from actionlab.errors import ConfigError
from actionlab.report import ROW_FILE, aggregate, check_claims, load_rows, markdown_table, summarize, write_report


def _run(root: Path, recipe: str, variant: str, seed: int, baseline: str | None = None, **metrics) -> Path:
    run_dir = root / "runs" / f"{recipe}-{variant}-s{seed}"
    run_dir.mkdir(parents=True)
    row = {"recipe": recipe, "variant": variant, "seed": seed, "model": f"{recipe}_model", "baseline": baseline,
           "gmacs": 0.01, "params_m": 0.1, "test_clips_per_s": 50.0, **metrics}
    (run_dir / ROW_FILE).write_text(json.dumps(row))
    history = [{"epoch": e, "train_loss": 2.0 / e, "val_top1": 0.1 * e} for e in (1, 2, 3)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
    return run_dir


def _bench(root: Path, te_top1: float = 0.7, tfe_auc: float = 0.8) -> Path:
    for seed in (0, 1):
        _run(root, "tsn", "order", seed, top1=0.5, within_pair=0.5 + 0.02 * seed,
             within_pair_by_pair={"a/b": 0.5, "c/d": 0.52})
        _run(root, "tsm", "order", seed, "tsn", top1=0.9, within_pair=0.95)
        _run(root, "tefe_te_only", "order", seed, "tsn", top1=te_top1, within_pair=0.9)
        _run(root, "vanilla_attention", "distractor", seed, top1=0.4, fidelity_auc=0.6, fidelity_mass=0.4,
             fidelity_chance=0.5)
        _run(root, "tfe", "distractor", seed, "vanilla_attention", top1=0.3 + 0.1 * seed, fidelity_auc=tfe_auc)
    return root


def test_summarize_mean_and_sample_std_skip_missing():
    s = summarize([1.0, 3.0, None, math.nan])
    assert (s.mean, s.n) == (2.0, 2) and s.std == pytest.approx(math.sqrt(2))
    assert summarize([]).n == 0 and summarize([0.25]).format(".2f") == "0.25"


def test_aggregate_and_table_over_seeds(tmp_path):
    groups = aggregate(load_rows([_bench(tmp_path)]))
    by_name = {g.recipe: g for g in groups}
    assert set(by_name) == {"tsn", "tsm", "tefe_te_only", "vanilla_attention", "tfe"}
    assert by_name["tfe"].stats["top1"].mean == pytest.approx(0.35)
    assert by_name["tfe"].stats["top1"].n == 2
    table = markdown_table(groups)
    assert "0.350 ± 0.071" in table and "fidelity AUC" in table
    assert "pointing" not in table  # no run has it: column dropped


def test_claims_hold_and_fail_from_numbers(tmp_path):
    claims = {c.text: c for c in check_claims(aggregate(load_rows([_bench(tmp_path / "a")])))}
    tsn = next(c for t, c in claims.items() if t.startswith("near chance"))
    assert tsn.holds is True and "0.510" in tsn.numbers
    assert claims["TE alone beats TSN (top-1)"].holds is True
    assert next(c for t, c in claims.items() if t.startswith("tsm far above")).holds is True
    assert next(c for t, c in claims.items() if "fidelity" in t).holds is True
    assert next(c for t, c in claims.items() if "distractor cue" in t).holds is False  # 0.35 < 0.4
    assert claims["ATR beats ATR_sim (top-1)"].holds is None  # not run
    worse = {c.text: c for c in check_claims(aggregate(load_rows([_bench(tmp_path / "b", 0.4, 0.5)])))}
    assert worse["TE alone beats TSN (top-1)"].holds is False
    assert next(c for t, c in worse.items() if "fidelity" in t).holds is False


def test_write_report_files(tmp_path):
    paths = write_report(load_rows([_bench(tmp_path / "bench")]), tmp_path / "out", "# header")
    text = paths["markdown"].read_text()
    assert text.startswith("# header") and "## Claims" in text and "does not hold" in text
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    tfe = next(r for r in rows if r["method"] == "tfe")
    assert float(tfe["top1_mean"]) == pytest.approx(0.35) and tfe["seeds"] == "2"
    assert tfe["pointing_any_mean"] == ""
    for key in ("training_curves", "accuracy_vs_gmacs"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG"


def test_plain_tested_run_dir(tmp_path):
    run_dir = tmp_path / "myrun"
    (run_dir / "test_test_1x1").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("name: real\nmodel: {name: tsm_r50}\ntrain: {seed: 3}\n")
    (run_dir / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "train_loss": 1.0}) + "\n")
    (run_dir / "test_test_1x1" / "metrics.json").write_text(json.dumps({"metrics": {"top1": 0.6, "top5": 0.9}}))
    (row,) = load_rows([run_dir])
    assert (row["recipe"], row["model"], row["seed"], row["top1"]) == ("real", "tsm_r50", 3, 0.6)


def test_report_command(tmp_path, capsys):
    from actionlab.commands import report

    bench = _bench(tmp_path / "bench")
    assert report.run(argparse.Namespace(run_dirs=[str(bench)], out=str(tmp_path / "rep"))) == 0
    assert "## Claims" in capsys.readouterr().out
    assert (tmp_path / "rep" / "results.csv").is_file()
    with pytest.raises(ConfigError):
        report.run(argparse.Namespace(run_dirs=[str(tmp_path / "missing")], out=None))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError):
        report.run(argparse.Namespace(run_dirs=[str(tmp_path / "empty")], out=None))
