"""ART on the built-in benchmark: the backbone alone vs the backbone + ART, on the 'finegrained' variant.

In 'finegrained' a large body drifts the same way in every class and only a small part beside it
moves in the class's way (4 time-reversed pairs of motions, see actionlab.data.synthetic); the
per-frame box of that part gives the pointing game of ART's tracklets
(`actionlab.explain.tracklets.evaluate_pointing`). Both recipes use the demo's tiny TSM
(`tsm_r18_tiny`, random init) with the same data, epochs and optimizer (the demo config); ART adds a
tiny head (d=64, 1 spatial-enhancement + 1 RSSA layer, K=2 tracklets), a semantic bank of the
benchmark's class names from the offline MiniLM sentence encoder (all 18 templates), and the
bank's EMA training strategy. The class names are the generator's defaults (DEFAULT_CLASSES).
"""

from __future__ import annotations

from ..data.synthetic import DEFAULT_CLASSES
from . import Recipe

ART_TINY_HEAD = {"dim": 64, "se_layers": 1, "rssa_layers": 1, "heads": 4, "head_dropout": 0.0}

RECIPES: list[Recipe] = [
    Recipe("art_backbone", model="tsm_r18_tiny", variant="finegrained",
           description="TSM alone on the finegrained variant: the backbone ART is compared with"),
    Recipe("art", model="art", baseline="art_backbone", variant="finegrained",
           model_kwargs={"backbone": "tsm_r18_tiny", "class_names": list(DEFAULT_CLASSES), "templates": "all",
                         "text_encoder": "minilm", **ART_TINY_HEAD},
           overrides={"train.strategy": "art"},
           description="TSM + ART (text-seeded region queries, 2 tracklets, MTC loss, tuned text bank)"),
]
