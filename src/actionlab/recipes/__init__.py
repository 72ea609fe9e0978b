"""Recipes: how the demo and `actionlab bench accuracy` train a method on the built-in benchmark.

A recipe names a registered model and its kwargs, the baseline recipe it is compared
with, the benchmark variant that shows what the method is for, and config overrides
(strategy, optimizer, ...).  Each module `actionlab/recipes/<method>.py` defines a
module-level `RECIPES: list[Recipe]`; `all_recipes()` collects them from every module.

    Recipe("tsm", model="tsm_r18_tiny", baseline="tsn", variant="order")
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

Variant = Literal["order", "finegrained", "distractor"]

# The config every recipe starts from in `actionlab demo` (configs/demo.yaml holds the same, for
# `actionlab train` by hand; a test keeps the two equal).  data.root is filled in by the demo.
DEMO_CONFIG: dict[str, Any] = {
    "name": "demo",
    "data": {
        "format": "generic", "root": "runs/bench-order", "train_list": "train.txt", "val_list": "val.txt",
        "test_list": "test.txt", "class_names": "classes.txt", "options": {"annotations": "annotations.json"},
        # 64 px videos read at 32 px: ~3x cheaper than 56 px, and the order pairs are as easy to tell apart
        "num_segments": 8, "scale_size": 36, "input_size": 32, "train_crop": "multiscale",
        "flip": False,  # a horizontal flip turns move_right into move_left and rotate_cw into rotate_ccw
        "batch_size": 16, "num_workers": 0,
    },
    "model": {"name": "tsm_r18_tiny", "kwargs": {"dropout": 0.2}},
    "optim": {"name": "sgd", "lr": 0.02, "momentum": 0.9, "weight_decay": 1.0e-4, "schedule": "cosine",
              "warmup_epochs": 1, "clip_grad": 20},
    "train": {"epochs": 8, "seed": 0, "eval_every": 0, "log_every": 10, "work_dir": "runs"},
    "test": {"views": "1x1", "batch_size": 16},
}


@dataclass(frozen=True)
class Recipe:
    name: str  # what `--methods` selects, e.g. "tsm"
    model: str  # registered model name
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None  # recipe this one is compared with (None: it is a baseline)
    variant: Variant = "order"  # built-in benchmark variant (see actionlab.data.synthetic)
    overrides: dict[str, Any] = field(default_factory=dict)  # dotted config keys -> values
    description: str = ""

    def config_overrides(self) -> list[str]:
        """The recipe as `--set` strings, applied on top of the demo config."""
        import yaml

        out = [f"model.name={self.model}", f"name={self.name}"]
        out += [f"model.kwargs.{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                for k, v in self.model_kwargs.items()]
        out += [f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}" for k, v in self.overrides.items()]
        return [o.removesuffix("\n...") for o in out]


def all_recipes() -> dict[str, Recipe]:
    """Every recipe of every module in actionlab.recipes, by name (duplicate names are an error)."""
    import actionlab.recipes as pkg

    found: dict[str, Recipe] = {}
    for mod in pkgutil.iter_modules(pkg.__path__, prefix=pkg.__name__ + "."):
        module = importlib.import_module(mod.name)
        for recipe in getattr(module, "RECIPES", []):
            if recipe.name in found:
                raise ValueError(f"recipe '{recipe.name}' is defined twice (second time in {mod.name})")
            found[recipe.name] = recipe
    return found


def get_recipe(name: str) -> Recipe:
    recipes = all_recipes()
    if name not in recipes:
        close = difflib.get_close_matches(name, list(recipes), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(recipes))}"
        raise ConfigError(f"unknown method '{name}'{hint}")
    return recipes[name]


def with_baselines(names: list[str]) -> list[Recipe]:
    """The named recipes and the baselines they are compared with, baselines first, no repeats."""
    ordered: list[Recipe] = []
    for name in names:
        recipe: Recipe | None = get_recipe(name)
        chain: list[Recipe] = []
        while recipe is not None:
            chain.append(recipe)
            recipe = get_recipe(recipe.baseline) if recipe.baseline else None
        for r in reversed(chain):
            if r not in ordered:
                ordered.append(r)
    return ordered


def runs_with_baselines(methods: list[str]) -> list[tuple[Recipe, Variant]]:
    """(recipe, variant) pairs to run: each method on its own variant, with its baselines on that same variant
    (so `tfe` brings `vanilla_attention` on 'distractor', `tsm` brings `tsn` on 'order'); no repeats."""
    runs: list[tuple[Recipe, Variant]] = []
    for name in methods:
        variant = get_recipe(name).variant
        for recipe in with_baselines([name]):
            if (recipe, variant) not in runs:
                runs.append((recipe, variant))
    return runs


def external_data_overrides(root: Path) -> list[str]:
    """`--set` strings that point the demo config at a dataset in the generic format in `root`.

    Needs train.txt and test.txt (lines `path label`) and classes.txt (one name a line); val.txt is optional
    (the demo and `bench accuracy` train without validating, unless asked to); an annotations.json beside them
    (boxes, action frames, pairs: the built-in benchmark's layout) is optional.
    """
    if not root.is_dir():
        raise ConfigError(f"--data {root}: no such directory")
    missing = [n for n in ("train.txt", "test.txt", "classes.txt") if not (root / n).is_file()]
    if missing:
        raise ConfigError(f"--data {root}: missing {', '.join(missing)} (the generic format: train.txt and test.txt "
                          f"with 'path label' lines, classes.txt; val.txt optional)")
    out = [f"data.root={root.resolve()}"]
    if not (root / "val.txt").is_file():
        out.append("data.val_list=")
    if not (root / "annotations.json").is_file():
        out.append("data.options={}")
    return out
