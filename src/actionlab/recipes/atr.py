"""ATR on the built-in benchmark: TSN vs TSN+ATR_sim vs TSN+ATR, and TSM vs TSM+ATR.

The 'order' variant pairs every class with its time reversal, so TSN (order-blind
average consensus) stays at chance inside a pair; ATR's efficient reasoner mixes
neighbouring frames (a temporal window), ATR_sim without ARL shows what the
actionness adds, and TSM+ATR what ATR adds to a model that already sees order.
Each ATR net is its baseline's tiny model (models/baselines.py) plus ATR blocks in
stages 3-5, trained with the same budget (the demo config; no overrides), so the
comparison isolates the blocks. The per-frame boxes of the moving object give the
actionness-in-box number (`actionlab.localisation.actionness_box_mass`).
"""

from __future__ import annotations

from . import Recipe

RECIPES: list[Recipe] = [
    Recipe("atr_sim", model="tsn_atr_sim_r18_tiny", baseline="tsn", variant="order",
           description="TSN + ATR_sim (no ARL: average pooling + broadcast, 2 efficient reasoners)"),
    Recipe("atr", model="tsn_atr_r18_tiny", baseline="tsn", variant="order",
           description="TSN + ATR (ARL + EAR, adding form, 2 efficient reasoners) in stages 3-5"),
    Recipe("tsm_atr", model="tsm_atr_r18_tiny", baseline="tsm", variant="order",
           description="TSM + ATR (ARL + EAR, adding form, 2 efficient reasoners) in stages 3-5"),
]
