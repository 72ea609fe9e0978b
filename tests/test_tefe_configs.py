"""TEFE's paper configs and its recipes for the built-in benchmark."""

from pathlib import Path

import pytest
import torch

from actionlab import create_model
from actionlab.config import load_config
from actionlab.models.registry import list_models

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("tefe_*.yaml"))


def test_the_papers_experiments_have_configs():
    names = {p.stem for p in CONFIGS}
    assert {"tefe_r50_sthv1_8f", "tefe_r50_sthv1_16f", "tefe_r50_sthv2_8f", "tefe_r50_sthv2_16f",
            "tefe_r50_jester_8f"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_has_the_paper_schedule_and_builds(path):
    cfg = load_config(path)
    assert cfg.name == path.stem and cfg.model.name in list_models("tefe*")
    assert cfg.data.format in ("sthv1", "sthv2", "jester") and cfg.data.format in path.stem
    assert cfg.data.num_segments == (16 if path.stem.endswith("16f") else 8)
    assert not cfg.data.flip and cfg.model.pretrained == "imagenet"
    o = cfg.optim
    assert (o.name, o.lr, o.momentum, o.weight_decay, o.schedule, o.milestones, o.gamma) == \
        ("sgd", 0.001, 0.9, 5e-4, "step", [30, 40, 45], 0.1)
    assert cfg.train.epochs == 50 and cfg.test.views == "1x1"
    # The model section builds (tiny width, no download): kwargs and frames are accepted.
    model = create_model(cfg.model.name, num_classes=4, num_segments=cfg.data.num_segments, base_width=4,
                         **cfg.model.kwargs)
    assert model(torch.randn(1, 3, cfg.data.num_segments, 16, 16)).logits.shape == (1, 4)


def test_recipes_compare_the_baselines_network_with_and_without_modules():
    from actionlab.recipes import all_recipes, with_baselines

    found = all_recipes()
    ours = {name: found[name] for name in ("tefe_te_only", "tefe_fe_only", "tefe")}
    baseline = found["tsn"]
    plain = create_model(baseline.model, num_classes=8, **baseline.model_kwargs)
    for recipe in ours.values():
        assert recipe.baseline == "tsn" and recipe.variant == "order" and not recipe.overrides
        model = create_model(recipe.model, num_classes=8, **recipe.model_kwargs)
        # Same network as the baseline wherever no module was inserted (same arch and width).
        shapes = {k: v.shape for k, v in model.state_dict().items()}
        shared = {k: v.shape for k, v in plain.state_dict().items() if k in shapes}
        assert len(shared) > 0.8 * len(plain.state_dict())
        assert all(shapes[k] == s for k, s in shared.items())
    assert [r.name for r in with_baselines(["tefe"])] == ["tsn", "tefe"]
