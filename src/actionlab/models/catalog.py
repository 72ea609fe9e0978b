"""The modules that register models, their pretrained tags and the methods' training strategies.

Each registers what it defines where it defines it (`register_model`, `register_tags`,
`register_strategy`: the names written there, as timm does); they are imported, in this order, the first
time a model, a tag or a strategy is looked up.  A new model file goes in this list.
"""

from __future__ import annotations

import importlib

MODEL_MODULES = ("baselines", "tefe", "atr", "art", "tfe", "backbones.tea")

_LOADED = False


def load_all() -> None:
    """Import the modules of MODEL_MODULES (once), so that their models, tags and strategies are registered."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for name in MODEL_MODULES:
        importlib.import_module(f"actionlab.models.{name}")
