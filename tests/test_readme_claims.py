"""The README's generated block: claims from saved results (report files, `bench tfe factors` rows), judged
across the sweep, written between markers; and the saved-report inputs of `actionlab report`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from actionlab.errors import ConfigError
from actionlab.readme_claims import BEGIN, END, readme_block, tfe_sweep_claims, update_readme
from actionlab.report import aggregate, check_claims, load_rows


def _row(recipe, variant, seed, **metrics):
    return {"recipe": recipe, "variant": variant, "seed": seed, "model": "m", "baseline": None,
            "run_dir": f"/somewhere/{recipe}-{variant}-s{seed}", **metrics}


def test_saved_rows_load_from_a_file_and_a_run_counts_once(tmp_path):
    rows = [_row("art_backbone", "finegrained", s, top1=0.8) for s in range(3)]
    (tmp_path / "results.json").write_text(json.dumps({"rows": rows, "claims": []}))
    (tmp_path / "ablations.json").write_text(json.dumps(rows + [_row("art_k4", "finegrained", 0, top1=0.5)]))
    loaded = load_rows([tmp_path / "results.json", tmp_path / "ablations.json"])
    assert sorted((r["recipe"], r["seed"]) for r in loaded) == [("art_backbone", 0), ("art_backbone", 1),
                                                                ("art_backbone", 2), ("art_k4", 0)]
    (tmp_path / "bad.json").write_text(json.dumps({"rows": [{"no": "recipe"}]}))
    with pytest.raises(ConfigError, match="not a saved report"):
        load_rows([tmp_path / "bad.json"])


def test_new_claims_atr_in_box_art_readout_and_ablations():
    rows = []
    for s, (a, b) in enumerate([(0.50, 0.80), (0.45, 0.81), (0.55, 0.79)]):
        rows += [_row("art_backbone", "finegrained", s, top1=0.80 + 0.01 * s),
                 _row("art", "finegrained", s, top1=a, backbone_top1=b, pointing_any=0.2, pointing_chance=0.36),
                 _row("art_gamma1_0", "finegrained", s, top1=0.78 + 0.01 * s),
                 _row("art_mtc_readout", "finegrained", s, top1=0.8, pointing_any=0.45 + 0.01 * s,
                      pointing_chance=0.36),
                 _row("atr", "order", s, top1=0.9, actionness_in_box=0.07 + 0.001 * s, actionness_in_box_chance=0.068)]
    claims = {c.text: c for c in check_claims(aggregate(rows))}
    own = claims["the final prediction (Eq. 11) beats its own backbone's (Eq. 10, the same model)"]
    assert own.holds is False and "backbone_top1 0.800" in own.numbers
    mtc = claims["the MTC loss helps (gamma1 = 5 beats gamma1 = 0)"]
    assert mtc.holds is False and "bench art --ablations art_gamma1_0" in mtc.command
    assert "K = 2 tracklets beat K = 4" not in claims  # art_k4 did not run: the ablation claim is left out
    readout = claims["with the MTC terms on the read-out, the tracklets point at the moving part (pointing game "
                     "above its chance)"]
    assert readout.holds is True and readout.method == "art_mtc_readout" and "pointing_any 0.460" in readout.numbers
    inbox = next(c for t, c in claims.items() if t.startswith("actionness concentrates"))
    assert inbox.holds is True and inbox.method == "atr"


def _sweep_row(cell, model, seed, auc, top1=0.5, nocue=0.8, cue=0.1):
    return {"cell": cell, "model": model, "seed": seed, "test": {"auc": auc, "top1": top1, "cue": cue},
            "test_nocue": {"top1": nocue}}


def test_a_sweep_claim_holds_only_where_every_cell_shows_it():
    base, other = {"corr": 0.9, "encoder": "grid8"}, {"corr": 0.0, "encoder": "grid8"}
    rows = []
    for s in range(5):
        rows += [_sweep_row(base, "tfe", s, 0.50 + 0.01 * s, nocue=0.2),
                 _sweep_row(base, "vanilla_2l", s, 0.20 + 0.01 * s, nocue=0.25),
                 _sweep_row(other, "tfe", s, 0.60 + 0.01 * s), _sweep_row(other, "vanilla_2l", s, 0.85 + 0.01 * s)]
    claims = tfe_sweep_claims(rows)
    fidelity = claims[0]
    assert fidelity.holds is False and "holds in 1, does not hold in 1 of 2 cells" in fidelity.numbers
    assert "base: 0.52 ± 0.02 vs 0.22 ± 0.02 (holds)" in fidelity.numbers and "corr=0: " in fidelity.numbers
    recognised = claims[-1]  # only corr=0: at the base cell neither model recognises the action without the cue
    assert "where both models recognise" in recognised.text and "of 1 cells" in recognised.numbers
    assert recognised.holds is False and "bench tfe factors" in recognised.command
    assert claims[1].holds is None  # the same top-1 everywhere: cannot tell in every cell


def test_readme_block_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{BEGIN}\nold text\n{END}\n\noutro\n")
    rows = [_row("tsn", "order", s, top1=0.5, within_pair=0.5 + 0.01 * s) for s in range(3)]
    block = readme_block(rows, [], ["results.json"])
    assert update_readme(readme, block) is True and update_readme(readme, block) is False
    text = readme.read_text()
    assert text.startswith("intro\n\n" + BEGIN) and text.endswith(END + "\n\noutro\n") and "old text" not in text
    assert "`actionlab report results.json --readme README.md`" in text and "| tsn |" in text
    (tmp_path / "plain.md").write_text("no markers")
    with pytest.raises(ConfigError, match="no generated block"):
        update_readme(tmp_path / "plain.md", block)


def test_report_command_rewrites_the_readme_from_files(tmp_path, capsys):
    from actionlab.commands import report

    rows = [_row("tsn", "order", s, top1=0.5, within_pair=0.5) for s in range(2)]
    (tmp_path / "results.json").write_text(json.dumps({"rows": rows}))
    sweep = [_sweep_row({"corr": 0.9}, m, s, 0.5) for m in ("tfe", "vanilla_2l") for s in range(2)]
    (tmp_path / "factors.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sweep))
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\n")
    args = argparse.Namespace(run_dirs=[str(tmp_path / "results.json"), str(tmp_path / "factors.jsonl")],
                              out=str(tmp_path / "rep"), readme=str(readme))
    assert report.run(args) == 0
    text = readme.read_text()
    assert "TSN: near chance" in text and "across the sweep" in text and "rewritten" in capsys.readouterr().out
    assert Path(tmp_path / "rep" / "results.md").is_file()


def test_the_readme_block_is_what_report_makes_of_the_saved_results():
    """The README's claims are not typed by hand: regenerate its block from the files it names and compare."""
    import re

    from actionlab.readme_claims import is_sweep_file, load_sweep_rows

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    assert 0 <= start < end, "README.md has no generated block"
    block = text[start:end + len(END)]
    named = re.search(r"Generated by `actionlab report (.+?) --readme README.md`", block)
    assert named, "the block does not name the files it was generated from"
    sources = named.group(1).split()
    paths = [root / s for s in sources]
    assert all(p.is_file() for p in paths) and all(s.startswith("benchmarks/results/") for s in sources)
    sweeps = [p for p in paths if is_sweep_file(p)]
    rows = load_rows([p for p in paths if p not in sweeps])
    expected = readme_block(rows, [r for p in sweeps for r in load_sweep_rows(p)], sources)
    assert block == expected.rstrip("\n"), "README.md's generated block differs from `actionlab report ... --readme`"
