"""ART on the built-in benchmark: the backbone alone vs the backbone + ART, on the 'finegrained' variant.

In 'finegrained' a large body drifts the same way in every class and only a small part beside it
moves in the class's way (4 time-reversed pairs of motions, see actionlab.data.synthetic); the
per-frame box of that part gives the pointing game of ART's tracklets
(`actionlab.explain.tracklets.evaluate_pointing`). Both recipes use the same backbone,
`tsm_r18_tiny_os8` (the demo's tiny TSM, random init, with the strides of its last two stages
removed: its last feature map is 4x4 at the demo's 32 px, so that region maps can point somewhere;
at output stride 32 it is 1x1 and every region map is identically 1), with the same data, epochs and
optimizer (the demo config). ART adds a tiny head (d=64, 1 spatial-enhancement + 1 RSSA layer, K=2
tracklets), a semantic bank from the offline MiniLM sentence encoder (all 18 templates) and the bank's
EMA training strategy. The bank is built from the dataset's own class names (the engine passes them
to the model), so the recipe runs on any dataset.
"""

from __future__ import annotations

from . import Recipe

ART_TINY_HEAD = {"dim": 64, "se_layers": 1, "rssa_layers": 1, "heads": 4, "head_dropout": 0.0}

RECIPES: list[Recipe] = [
    Recipe("art_backbone", model="tsm_r18_tiny_os8", variant="finegrained",
           description="TSM (output stride 8: 4x4 maps at 32 px) alone: the backbone ART is compared with"),
    Recipe("art", model="art", baseline="art_backbone", variant="finegrained",
           model_kwargs={"backbone": "tsm_r18_tiny_os8", "templates": "all",
                         "text_encoder": "minilm", **ART_TINY_HEAD},
           overrides={"train.strategy": "art"},
           description="TSM + ART (text-seeded region queries, 2 tracklets, MTC loss, tuned text bank)"),
]
