"""TEFE on the built-in benchmark: TSN vs only-TE vs only-FE vs TEFE (the shape of the paper's Table 4).

The 'order' variant pairs every class with its time reversal, so TSN (order-blind
average consensus) stays at chance inside a pair. TE's short-term branch (a k=3
temporal conv) and long-term kernel mix neighbouring frames; FE's 3x3x3 convs do
too, through a bilinear product. Each model is the baseline's tiny network
(`tsn_r18_tiny`: ResNet-18 layout, base width 16) with the modules in its blocks -
TE in the first block of every stage, FE in the second block of stages 3-5 (the
paper's best row, Table 5, scaled to two blocks a stage) - trained with the same
budget (the demo config, no overrides), so the comparison isolates the modules.
"""

from __future__ import annotations

from . import Recipe

RECIPES: list[Recipe] = [
    Recipe("tefe_te_only", model="tefe_te_only_r18_tiny", baseline="tsn", variant="order",
           description="TSN + TE (= TANet's TAM) in the first block of every stage: Table 4 'only TE'"),
    Recipe("tefe_fe_only", model="tefe_fe_only_r18_tiny", baseline="tsn", variant="order",
           description="TSN + FE (3x3x3 Hadamard bilinear block) in stages 3-5: Table 4 'only FE'"),
    Recipe("tefe", model="tefe_r18_tiny", baseline="tsn", variant="order",
           description="TSN + TE + FE (TEFE): TE in each stage's first block, FE in the second of stages 3-5"),
]
