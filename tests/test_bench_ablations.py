"""`bench art` (ART's ablations against one backbone) and `bench tfe factors` (what TFE's fidelity verdict sees)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from actionlab.bench import art as bench_art
from actionlab.bench import tfe_factors
from actionlab.errors import ConfigError


def test_each_ablation_is_the_art_recipe_with_one_change(tmp_path):
    recipes = {r.name: r for r in bench_art.ablation_recipes(list(bench_art.ABLATIONS), 2, tmp_path)}
    art, base = recipes["art"], recipes["art_backbone"]
    assert base.model == "tsm_r18_tiny_os8" and art.model_kwargs["backbone"] == base.model
    for name, (change, _) in bench_art.ABLATIONS.items():
        r = recipes[name]
        assert r.variant == "finegrained" and r.baseline == "art_backbone"
        assert r.model_kwargs == {**art.model_kwargs, **change}
        extra = {k: v for k, v in r.overrides.items() if k not in art.overrides}
        assert extra == ({"model.pretrained": str(tmp_path / "art_backbone-finegrained-s2/checkpoints/last.pt")}
                         if name == "art_frozen" else {})
    assert recipes["art_gamma1_0"].model_kwargs["mtc_weight"] == 0.0
    assert recipes["art_k4"].model_kwargs["num_tracklets"] == 4
    with pytest.raises(ConfigError, match="unknown ablation"):
        bench_art.ablation_recipes(["art_no_such"], 0, tmp_path)


def test_ablation_report_reads_the_last_epoch_and_compares_by_two_standard_errors(tmp_path):
    rows = []
    for name, top1s in (("art_backbone", [0.80, 0.82, 0.81]), ("art", [0.50, 0.55, 0.45]),
                        ("art_gamma1_0", [0.79, 0.81, 0.83])):
        for seed, top1 in enumerate(top1s):
            run = tmp_path / f"{name}-s{seed}"
            run.mkdir()
            lines = [{"epoch": 1, "train_loss": 3.0, "train_mtc_spatial": 0.5},
                     {"epoch": 2, "train_loss": -1.0, "train_mtc_spatial": -0.9995, "train_mtc_temporal": 0.0,
                      "train_mtc_tracklet": -0.9995}]
            (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
            rows.append({"recipe": name, "variant": "finegrained", "seed": seed, "run_dir": str(run), "top1": top1,
                         "backbone_top1": top1 + 0.1, "model": "m", "baseline": None})
    text = bench_art.ablation_report(rows, ["art", "art_gamma1_0"])
    line = {r.split("|")[1].strip(): r for r in text.splitlines() if r.startswith("| art")}
    assert "lower (-0.310)" in line["art"] and "-1.000 ± 0.000" in line["art"]  # last epoch's total loss
    assert "-0.999" in line["art"] and "0.600 ± 0.050" in line["art"]  # Eq. 10 readout of the same model
    assert "cannot tell (+0.000)" in line["art_gamma1_0"] and "higher (+0.310)" in line["art_gamma1_0"]


def test_factor_cells_change_one_thing_at_a_time():
    cells = tfe_factors.cells(["corr", "encoder"])
    assert cells[0] == tfe_factors.BASE and len(cells) == 1 + 3 + 2
    for cell in cells[1:]:
        changed = [k for k in cell if cell[k] != tfe_factors.BASE[k]]
        assert len(changed) == 1
    assert tfe_factors.cell_name({**tfe_factors.BASE, "corr": 0.0}) == "corr=0"


def test_a_pooled_encoder_cannot_see_where_a_moving_object_is():
    """Independent check of what the models can see: a frame pooled to one vector ('gap', like the recipes'
    CNN) barely changes while an object translates or turns (so the order of frames says little), unlike the
    8 x 8 grid, which keeps where it is."""
    from actionlab.data.synthetic import render

    def time_share(name: str, encoder: str) -> float:
        videos = np.stack([render("order", name, np.random.default_rng(i), 64, 8)["frames"] for i in range(4)])
        f = tfe_factors.encode(videos, encoder)
        within = (f - f.mean(1, keepdim=True)).pow(2).sum(-1).mean()
        across = (f.mean(1) - f.mean((0, 1))).pow(2).sum(-1).mean()
        return float(within / across)

    assert time_share("move_right", "gap") < 0.1 < 0.5 < time_share("move_right", "grid8")
    assert time_share("rotate_cw", "gap") < 0.1 < time_share("rotate_cw", "grid8")


def test_within_pairs_by_a_plain_loop():
    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, x):
            return argparse.Namespace(logits=self.logits)

    torch.manual_seed(0)
    labels = torch.arange(8).repeat(3)
    logits = torch.randn(len(labels), 8)
    split = {"features": torch.zeros(len(labels), 16, 4), "labels": labels}
    out = tfe_factors.within_pairs(Fixed(logits), split, 8)
    partner = {0: 1, 1: 0, 2: 3, 3: 2, 4: 5, 5: 4, 6: 7, 7: 6}
    wins = [float(logits[i, y] > logits[i, partner[int(y)]]) for i, y in enumerate(labels)]
    assert out["within_pair"] == pytest.approx(sum(wins) / len(wins))
    move = [w for w, y in zip(wins, labels) if int(y) in (0, 1)]
    assert out["pair0"] == pytest.approx(sum(move) / len(move))


def test_response_probe_sees_prompt_made_responses():
    """The probe `bench art` adds to every ART run: responses made by antipodal prompts barely vary across
    videos and frames and sit at cos -1, while what the two queries read is far from opposite."""
    import torch.nn.functional as F

    from actionlab.models.heads.art import ARTHead

    torch.manual_seed(0)
    head = ARTHead(16, 5, F.normalize(torch.randn(3, 5, 12), dim=-1), dim=32, num_tracklets=2, se_layers=0,
                   rssa_layers=1, heads=4, dropout=0.0, spatial_enhancement=False).eval()
    v = F.normalize(torch.randn(32), dim=0) * 1e3
    with torch.no_grad():
        head.prompts.copy_(torch.stack([v, -v]))
        out = head(torch.randn(6, 4, 9, 16), (3, 3), torch.randn(6, 16))
    probe = bench_art.probe_metrics(out)
    assert probe["response_variation"] < 1e-3 and probe["response_cos"] == pytest.approx(-1.0, abs=1e-3)
    assert probe["readout_cos"] > 0.5 and 1 / 9 <= probe["region_peak"] <= 1.0
    free = bench_art.probe_metrics(head.__class__(16, 5, F.normalize(torch.randn(3, 5, 12), dim=-1), dim=32,
                                                  se_layers=0, rssa_layers=1, heads=4, dropout=0.0,
                                                  spatial_enhancement=False).eval()(torch.randn(6, 4, 9, 16), (3, 3),
                                                                                    torch.randn(6, 16)))
    assert free["response_variation"] > 10 * probe["response_variation"]
