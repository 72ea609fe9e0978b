"""`actionlab bench accuracy`: which runs it plans, argument checks, and the extra metrics pass (fidelity etc.)."""

from __future__ import annotations

import argparse

import pytest
import torch

from actionlab.bench import accuracy
from actionlab.errors import ConfigError
from actionlab.recipes import all_recipes


def test_default_methods_exist_and_cover_every_paper():
    recipes = all_recipes()
    assert set(accuracy.DEFAULT_METHODS) <= set(recipes)
    names = {r.name for r, _, _ in accuracy.plan(accuracy.DEFAULT_METHODS, 1)}
    assert {"tsn", "tsm", "tefe", "tefe_te_only", "tefe_fe_only", "atr", "atr_sim", "tsm_atr", "art", "art_backbone",
            "tfe", "vanilla_attention"} <= names


def test_plan_adds_baselines_on_the_method_variant_for_every_seed():
    runs = accuracy.plan(["tefe", "tfe"], 2)
    assert [(r.name, v, s) for r, v, s in runs] == [
        ("tsn", "order", 0), ("tefe", "order", 0), ("vanilla_attention", "distractor", 0), ("tfe", "distractor", 0),
        ("tsn", "order", 1), ("tefe", "order", 1), ("vanilla_attention", "distractor", 1), ("tfe", "distractor", 1)]


@pytest.mark.parametrize("kwargs", [{"methods": " , "}, {"budget_minutes": 0.0}, {"seeds": 0}, {"epochs": 0},
                                    {"data": "/nonexistent-dir"}])
def test_bad_arguments(kwargs):
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    args = parser.parse_args([])
    for k, v in kwargs.items():
        setattr(args, k, v)
    with pytest.raises(ConfigError):
        accuracy.run(args)


def test_unknown_method_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown method"):
        accuracy.plan(["tsmm"], 1)


class _Extras(torch.nn.Module):
    """Stands in for a trained model: attention on frames 2-5, actionness and regions peaked at cell (0, 0)."""

    eval_metrics = ("temporal_fidelity", "actionness_in_box", "pointing_game")

    def forward(self, clip):
        from types import SimpleNamespace

        n, t = clip.shape[0], clip.shape[2]
        attention = torch.zeros(n, t)
        attention[:, 2:6] = 1.0
        actionness = torch.full((n, t, 1, 2, 2), -10.0)
        actionness[..., 0, 0] = 10.0
        regions = actionness.expand(n, t, 2, 2, 2)
        return SimpleNamespace(logits=torch.zeros(n, 3), extras={"attention": attention, "actionness": actionness,
                                                                 "regions": regions})


def test_extra_metrics_from_extras(monkeypatch):
    """The extra pass turns a model's extras + the dataset's masks/boxes into fidelity, in-box and pointing."""
    from types import SimpleNamespace

    import actionlab.data
    import actionlab.engine.build
    import actionlab.engine.loader

    t = 8
    mask = torch.zeros(2, 1, t, dtype=torch.bool)
    mask[:, :, 2:6] = True
    boxes = torch.tensor([0.0, 0.0, 16.0, 16.0]).expand(2, 1, t, 4).clone()  # top-left quarter of 32 px
    batch = {"clip": torch.zeros(2, 1, 3, t, 32, 32, dtype=torch.uint8), "action_mask": mask, "boxes": boxes}
    monkeypatch.setattr(actionlab.data, "build_dataset", lambda cfg, split, views=None: SimpleNamespace(num_classes=3))
    monkeypatch.setattr(actionlab.engine.loader, "eval_loader", lambda *a, **k: [batch])
    monkeypatch.setattr(actionlab.engine.build, "load_for_inference",
                        lambda *a, **k: SimpleNamespace(model=_Extras()))
    cfg = SimpleNamespace(test=SimpleNamespace(batch_size=2), train=SimpleNamespace(seed=0))
    out = accuracy.extra_metrics(cfg, "unused.pt")
    assert out["fidelity_auc"] == pytest.approx(1.0) and out["fidelity_mass"] == pytest.approx(1.0)
    assert out["fidelity_chance"] == pytest.approx(0.5)
    assert out["actionness_in_box"] > 0.99 and out["actionness_in_box_chance"] == pytest.approx(0.25)
    # any of K=2 tracklets: its chance is that of 2 random peaks, 1 - (1 - 1/4)^2, not single-peak 1/4
    assert out["pointing_any"] == pytest.approx(1.0) and out["pointing_chance"] == pytest.approx(1 - 0.75**2)
    assert out["pointing_chance_single"] == pytest.approx(0.25)
    assert out["pointing_too_small"] == 1.0 and out["actionness_too_small"] == 1.0  # 2x2 maps


def test_the_budget_is_epochs_by_default_and_the_same_for_every_model(monkeypatch, tmp_path):
    """Without --budget-minutes every run trains the same number of epochs (no timing: load-independent)."""
    seen = []

    def fake_bench_one(recipe, cfg, minutes, threads, seed):
        seen.append((recipe.name, cfg["train"]["epochs"], minutes))
        raise RuntimeError("stop")

    monkeypatch.setattr(accuracy, "bench_one", fake_bench_one)
    monkeypatch.setattr("actionlab.data.synthetic.generate", lambda out, variant, **k: __import__("types")
                        .SimpleNamespace(root=tmp_path, counts={}, class_names=[]))
    parser = argparse.ArgumentParser()
    accuracy.add_arguments(parser)
    args = parser.parse_args(["--methods", "tsm", "--seeds", "1", "--jobs", "1", "--out", str(tmp_path)])
    with pytest.raises(ConfigError, match="every run failed"):
        accuracy.run(args)
    assert seen == [("tsn", accuracy.DEFAULT_EPOCHS, None), ("tsm", accuracy.DEFAULT_EPOCHS, None)]
