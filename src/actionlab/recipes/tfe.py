"""TFE on the built-in benchmark: the vanilla temporal attention model vs TFE, 'distractor' variant.

In the 'distractor' variant the action fills a middle segment of the video and the frames
around it show a distractor and a static cue patch whose colour, in train/val, mostly
gives the label away; in test the cue is random.  A model whose temporal attention sits on
the cue frames (temporal infidelity) loses accuracy on test; the dataset's "action_mask"
gives the temporal fidelity score (`actionlab.fidelity`).

Both recipes use the same tiny frame encoder (ResNet-18, base width 16, random init, trained
end to end), 8 segments and the same optimizer and budget: AdamW (transformer layers train
poorly with the demo's SGD), so the comparison isolates TD + the two-phase training (Eq. 12).
The vanilla model has 2 temporal layers + attention pooling; TFE replaces the last of them by
the TD module (1 layer + TD) and trains with the `tfe` strategy (bounded 'uniform' adversary).
"""

from __future__ import annotations

from . import Recipe

# The same optimizer for both, so that only the method differs.
_OPTIM = {"optim.name": "adamw", "optim.lr": 1.0e-3, "optim.weight_decay": 0.05, "optim.clip_grad": 5.0}

RECIPES: list[Recipe] = [
    Recipe("vanilla_attention", model="vanilla_temporal_tiny", variant="distractor", overrides=dict(_OPTIM),
           description="vanilla temporal attention: tiny CNN frames -> 2 transformer layers -> attention pooling"),
    Recipe("tfe", model="tfe_tiny", baseline="vanilla_attention", variant="distractor",
           overrides={**_OPTIM, "train.strategy": "tfe"},
           description="TFE: 1 transformer layer + TD (k-hot Gumbel masks), A_S / A_N, two-phase training"),
]
