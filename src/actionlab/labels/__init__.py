"""Class-name lists of the datasets pretrained models were trained on, in each release's index order.

    kinetics400.txt   400 Kinetics-400 classes; the order of MMAction2's
                      `tools/data/kinetics/label_map_k400.txt`, identical (checked line by line) to the
                      TSM release's `tools/kinetics_label_map.txt`: alphabetical.
    sthv2.txt         174 Something-Something V2 templates; the order of MMAction2's
                      `tools/data/sthv2/label_map.txt`, i.e. the ids of the official
                      `something-something-v2-labels.json` (the TSM release asserts json order == id
                      order in `tools/gen_label_sthv2.py`).
"""

from __future__ import annotations

from importlib import resources

from ..errors import ModelError

LABEL_SETS = {"kinetics400": 400, "sthv2": 174}


def load_labels(name: str) -> list[str]:
    """The class names of a label set ('kinetics400', 'sthv2'), index order of the release."""
    if name not in LABEL_SETS:
        raise ModelError(f"unknown label list '{name}', expected one of {sorted(LABEL_SETS)}")
    text = resources.files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != LABEL_SETS[name]:  # a damaged install, not a user error we could fix
        raise ModelError(f"label list {name}: {len(names)} names, expected {LABEL_SETS[name]}")
    return names
