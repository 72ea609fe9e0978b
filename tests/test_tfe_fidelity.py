"""Temporal fidelity score and the attention explainer (Fig. 4)."""

from __future__ import annotations

import math

import pytest
import torch

from actionlab.errors import DataError, ModelError
from actionlab.fidelity import (
    FidelityMeter,
    parse_charades_actions,
    per_clip_fidelity,
    segments_to_mask,
    temporal_fidelity,
)


def test_mass_share_and_auc_by_hand():
    attention = torch.tensor([[0.1, 0.6, 0.2, 0.1], [0.4, 0.1, 0.1, 0.4]])
    mask = torch.tensor([[0, 1, 1, 0], [0, 1, 1, 0]], dtype=torch.bool)
    mass, chance, auc, valid = per_clip_fidelity(attention, mask)
    assert torch.allclose(mass, torch.tensor([0.8, 0.2])) and torch.allclose(chance, torch.tensor([0.5, 0.5]))
    assert torch.allclose(auc, torch.tensor([1.0, 0.0])) and valid.all()
    scores = temporal_fidelity(attention, mask)
    assert scores["fidelity_mass"] == pytest.approx(0.5) and scores["fidelity_auc"] == pytest.approx(0.5)


def test_ties_unnormalised_attention_and_skipped_clips():
    uniform = torch.full((1, 6), 3.0)  # not normalised: the share is still computed
    mask = torch.tensor([[1, 1, 0, 0, 0, 0]], dtype=torch.bool)
    mass, chance, auc, _ = per_clip_fidelity(uniform, mask)
    assert mass.item() == pytest.approx(1 / 3) and chance.item() == pytest.approx(1 / 3)
    assert auc.item() == pytest.approx(0.5)  # all ties
    meter = FidelityMeter()
    meter.update(torch.rand(3, 6), torch.ones(3, 6, dtype=torch.bool))  # all action: says nothing
    meter.update(torch.rand(1, 6), torch.zeros(1, 6, dtype=torch.bool))
    out = meter.compute()
    assert out["fidelity_clips"] == 0 and out["fidelity_skipped"] == 4 and math.isnan(out["fidelity_mass"])


def test_meter_over_batches_equals_one_call():
    torch.manual_seed(0)
    attention = torch.rand(10, 8)
    mask = torch.rand(10, 8) > 0.5
    meter = FidelityMeter()
    for a, m in zip(attention.split(3), mask.split(3)):
        meter.update(a, m)
    assert meter.compute() == pytest.approx(temporal_fidelity(attention, mask), nan_ok=True)


def test_bad_shapes_and_charades_annotations():
    with pytest.raises(DataError):
        temporal_fidelity(torch.rand(2, 8), torch.ones(2, 4, dtype=torch.bool))
    actions = parse_charades_actions("c092 11.90 21.20;c147 0.00 12.60")
    assert actions == [("c092", 11.9, 21.2), ("c147", 0.0, 12.6)]
    assert parse_charades_actions("") == []
    with pytest.raises(DataError):
        parse_charades_actions("c092 11.90")
    mask = segments_to_mask([1.0, 13.0, 15.0, 25.0], [(0.0, 2.0), (14.0, 21.2)])
    assert mask.tolist() == [True, False, True, False]


def test_render_draws_both_models(tmp_path):
    pytest.importorskip("matplotlib")
    from actionlab.explain.attention import render, temporal_attention
    from actionlab.models.recognizer import Output, Recognizer
    from actionlab.models.tfe import TFEModel, VanillaTemporalModel, build_frame_encoder

    torch.manual_seed(0)
    tfe = TFEModel(build_frame_encoder("resnet18", base_width=8), 3, 4, heads=4, k=2)
    vanilla = VanillaTemporalModel(build_frame_encoder("resnet18", base_width=8), 3, 4, num_layers=1, heads=4)
    clip = torch.randn(1, 3, 4, 32, 32)
    frames = torch.randint(0, 255, (4, 32, 32, 3), dtype=torch.uint8)
    result = temporal_attention(tfe, clip)
    assert result.attention.shape == (4,) and result.attention.sum() == pytest.approx(1.0, abs=1e-5)
    assert tfe.training  # restored after the eval-mode forward
    paths = render(tfe, clip, frames, tmp_path, ["a", "b", "c"], compare_model=vanilla,
                   action_mask=[False, True, True, False], label=1)
    assert len(paths) == 1 and paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    class NoAttention(Recognizer):
        def forward(self, clip):
            return Output(torch.zeros(clip.shape[0], 3))

    with pytest.raises(ModelError):
        render(NoAttention(), clip, frames, tmp_path, ["a", "b", "c"])


def test_attention_figure_title_clears_the_frame_numbers(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from actionlab.explain.attention import render
    from actionlab.models.tfe import TFEModel, build_frame_encoder

    torch.manual_seed(0)
    tfe = TFEModel(build_frame_encoder("resnet18", base_width=8), 3, 4, heads=4, k=2)
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    render(tfe, torch.randn(1, 3, 4, 32, 32), torch.zeros(4, 32, 32, 3, dtype=torch.uint8), tmp_path, ["a", "b", "c"],
           action_mask=[False, True, True, False], label=1)
    (fig,) = figures
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    frame_numbers = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    assert frame_numbers and not any(title.overlaps(box) for box in frame_numbers)
    assert "green = annotated action" in fig._suptitle.get_text()
