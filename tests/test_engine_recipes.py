from pathlib import Path

import pytest

from actionlab.commands.demo import comparison_table, recipe_settings
from actionlab.config import from_dict, load_config
from actionlab.engine.experiment import recipe_config
from actionlab.errors import ConfigError
from actionlab.models.registry import list_models
from actionlab.recipes import (
    DEMO_CONFIG,
    Recipe,
    all_recipes,
    external_data_overrides,
    get_recipe,
    runs_with_baselines,
    with_baselines,
)

CONFIGS = Path(__file__).parent.parent / "configs"


def test_every_recipe_names_a_registered_model_and_a_known_baseline():
    recipes = all_recipes()
    assert {"tsn", "tsm"} <= set(recipes)
    models = set(list_models())
    for r in recipes.values():
        assert r.model in models, r.name
        assert r.baseline is None or r.baseline in recipes, r.name
        assert r.variant in ("order", "finegrained", "distractor")


def test_with_baselines_orders_baselines_first_without_repeats():
    assert [r.name for r in with_baselines(["tsm", "tsn"])] == ["tsn", "tsm"]
    with pytest.raises(ConfigError, match="unknown method 'tms'; did you mean .*tsm"):
        get_recipe("tms")


def test_demo_jobs_run_baselines_on_the_methods_variant(monkeypatch):
    import actionlab.recipes as recipes

    fake = {"tsn": Recipe("tsn", "tsn_r18_tiny"), "x": Recipe("x", "tsm_r18_tiny", baseline="tsn",
                                                                  variant="finegrained")}
    monkeypatch.setattr(recipes, "all_recipes", lambda: fake)
    assert [(r.name, v) for r, v in runs_with_baselines(["x"])] == [("tsn", "finegrained"), ("x", "finegrained")]


def test_recipe_overrides_reach_the_config(tmp_path):
    recipe = Recipe("r", "tsm_r18_tiny", model_kwargs={"shift_div": 4}, overrides={"optim.lr": 0.5,
                                                                                    "train.strategy": "standard"})
    cfg = recipe_config(recipe, DEMO_CONFIG, tmp_path, tmp_path / "runs")
    assert (cfg.model.name, cfg.model.kwargs["shift_div"], cfg.optim.lr) == ("tsm_r18_tiny", 4, 0.5)
    assert cfg.data.root == str(tmp_path.resolve()) and cfg.name == "r"
    assert cfg.model.kwargs["dropout"] == DEMO_CONFIG["model"]["kwargs"]["dropout"]  # merged, not replaced


def test_configs_demo_yaml_equals_the_demo_config():
    assert load_config(CONFIGS / "demo.yaml").to_dict() == from_dict(DEMO_CONFIG).to_dict()


@pytest.mark.parametrize("name", ["tsn_r50_sthv2_8f", "tsm_r50_sthv2_8f", "tsm_r50_kinetics400_8f"])
def test_baseline_configs_follow_the_official_tsm_schedules(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.model.name in list_models() and cfg.model.pretrained == "imagenet"
    assert (cfg.optim.name, cfg.optim.schedule, cfg.optim.milestones, cfg.train.epochs) == ("sgd", "step", [20, 40],
                                                                                         50)
    assert cfg.optim.clip_grad == 20 and cfg.optim.scale_lr_with_batch
    if "sthv2" in name:
        assert cfg.optim.lr == 0.01 and cfg.optim.base_batch_size == 64 and not cfg.data.flip
    else:
        assert cfg.optim.lr == 0.02 and cfg.optim.base_batch_size == 128


def test_comparison_table_shows_chance_levels():
    row = {"recipe": "tsm", "model": "tsm_r18_tiny", "baseline": "tsn", "top1": 0.9, "within_pair": 0.95,
           "pairs": 4, "classes": 8, "gmacs": 0.022, "params_m": 0.7, "train_clips_per_s": 20.0,
           "test_clips_per_s": 30.0, "epochs": 10, "train_seconds": 240.0}
    text = comparison_table([row])
    assert "within-pair" in text and "0.950" in text and "0.500" in text and "0.125" in text


def test_no_recipe_hard_codes_a_dataset():
    """Recipes run on any dataset: nothing in them names the built-in benchmark's classes (ART's text bank comes
    from the dataset's class names, which the engine passes to the model)."""
    from actionlab.data.synthetic import DEFAULT_CLASSES

    for r in all_recipes().values():
        text = repr(r.model_kwargs) + repr(r.overrides)
        assert not any(name in text for name in DEFAULT_CLASSES), r.name


def test_art_recipe_builds_on_a_four_class_dataset(tmp_path):
    """The ART recipe on a dataset with other classes: the model gets the dataset's names, and its last feature
    map is at least 4x4 at the demo's input size (a 1x1 map makes every region map identically 1)."""
    import torch

    from actionlab.engine.build import build_model

    cfg = recipe_config(get_recipe("art"), DEMO_CONFIG, tmp_path, tmp_path / "runs")
    model = build_model(cfg, 4, load_pretrained=False, class_names=["a", "b", "c", "d"])
    assert model.class_names == ["a", "b", "c", "d"]
    size = cfg.data.input_size
    regions = model.head(*_tokens(model, size)).regions  # the head alone: no text encoder runs
    assert min(regions.shape[-2:]) >= 4
    backbone = build_model(recipe_config(get_recipe("art_backbone"), DEMO_CONFIG, tmp_path, tmp_path), 4,
                           load_pretrained=False)
    x = torch.randn(1, 3, cfg.data.num_segments, size, size)
    assert min(backbone(x).extras["feature_maps"].shape[-2:]) >= 4


def _tokens(model, size):
    import torch

    frames = model.frames(torch.randn(1, 3, model.num_segments, size, size))
    return frames.tokens, frames.grid, frames.x_cls


def test_external_data_needs_the_generic_lists(tmp_path):
    with pytest.raises(ConfigError, match="missing .*classes.txt"):
        for name in ("train.txt", "val.txt", "test.txt"):
            (tmp_path / name).write_text("a.mp4 0\n")
        external_data_overrides(tmp_path)
    (tmp_path / "classes.txt").write_text("a\n")
    assert "data.options={}" in external_data_overrides(tmp_path)  # no annotations.json: none required
    assert "data.val_list=" not in external_data_overrides(tmp_path)
    (tmp_path / "val.txt").unlink()  # a train/test-only folder: nothing validates, so no val.txt is needed
    assert "data.val_list=" in external_data_overrides(tmp_path)
    with pytest.raises(ConfigError, match="no such directory"):
        external_data_overrides(tmp_path / "nope")


def test_demo_list_shows_each_recipes_settings():
    assert "train.strategy=art" in recipe_settings(get_recipe("art"))
    assert "optim.name=adamw" in recipe_settings(get_recipe("tfe"))
    assert recipe_settings(get_recipe("tsn")) == "-"


def test_cost_of_a_recipe_says_nothing_about_a_random_copys_weights(tmp_path, caplog):
    """The demo measures GMACs on a fresh copy of each model: ART's 'the semantic bank is random' (no class names)
    is about that copy, not the trained run, and would mislead after the run finished."""
    import logging

    from actionlab.engine.experiment import model_cost

    caplog.set_level(logging.WARNING)
    cost = model_cost(recipe_config(get_recipe("art"), DEMO_CONFIG, tmp_path, tmp_path / "runs"), 8)
    assert cost["gmacs"] > 0
    assert not [r for r in caplog.records if "semantic bank" in r.getMessage()]
