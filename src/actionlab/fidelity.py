"""Temporal fidelity score: does a model's temporal attention sit on the annotated action?

The TFE paper (Xu et al., FITEE 2025) shows temporal fidelity only as pictures (Fig. 4).
This module measures it for videos whose action segments are annotated (Charades'
per-action times; the built-in benchmark's action frames, the dataset item "action_mask"):

    attention [B, T] >= 0 (a model's extras["attention"]),  action_mask [B, T] bool
    mass share   sum_t a_t [t in action] / sum_t a_t                       per clip, in [0, 1]
    chance       |action| / T: the mass share of uniform attention        (to read the above against)
    ranking AUC  P(a_i > a_j) for i in the action, j outside (ties 1/2)   per clip, 0.5 = chance

Clips whose mask is all-true or all-false say nothing about placement and are skipped
(counted in "skipped").  Scores are means over the clips that count.

The engine's `actionlab test` calls, per batch of clips (views flattened as the model saw them):

    meter = FidelityMeter()
    meter.update(output.extras["attention"], batch["action_mask"].flatten(0, 1))   # [N*V, T] each
    meter.compute() -> {"fidelity_mass": .., "fidelity_chance": .., "fidelity_auc": .., "fidelity_clips": n,
                        "fidelity_skipped": m}

or `temporal_fidelity(attention, action_mask)` on all of it at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .errors import DataError


def _check(attention: torch.Tensor, action_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    attention = torch.as_tensor(attention).detach().float().cpu()
    action_mask = torch.as_tensor(action_mask).detach().cpu().bool()
    if attention.dim() == 1:
        attention, action_mask = attention.unsqueeze(0), action_mask.unsqueeze(0)
    if attention.shape != action_mask.shape or attention.dim() != 2:
        raise DataError(f"temporal fidelity needs attention and action_mask of one shape [B, T], got "
                        f"{tuple(attention.shape)} and {tuple(action_mask.shape)}")
    if (attention < 0).any():
        raise ValueError("temporal attention must be non-negative")
    return attention, action_mask


def per_clip_fidelity(attention: torch.Tensor, action_mask: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per clip: (mass share [B], chance [B], ranking AUC [B], valid [B] bool)."""
    attention, action_mask = _check(attention, action_mask)
    inside = action_mask.float()
    n_in = inside.sum(1)
    t = attention.shape[1]
    valid = (n_in > 0) & (n_in < t)
    total = attention.sum(1)
    mass = (attention * inside).sum(1) / total.clamp_min(1e-12)
    mass = torch.where(total > 0, mass, n_in / t)  # all-zero attention reads as uniform
    # AUC over all (inside, outside) pairs: 1 when a_i > a_j, 1/2 on ties
    diff = attention.unsqueeze(2) - attention.unsqueeze(1)  # [B, T(i), T(j)]
    pair = inside.unsqueeze(2) * (1.0 - inside).unsqueeze(1)
    wins = ((diff > 0).float() + 0.5 * (diff == 0).float()) * pair
    auc = wins.sum((1, 2)) / pair.sum((1, 2)).clamp_min(1.0)
    return mass, n_in / t, auc, valid


class FidelityMeter:
    """Accumulates the temporal fidelity of many batches; `compute` gives the means.

    Also the evaluator's meter for "temporal_fidelity" (`eval_metrics.py`): `observe` reads the model's
    extras["attention"] against the batch's "action_mask"; `state` / `merged` combine ranks.
    """

    batch_key = "action_mask"
    extras_keys = ("attention",)

    def __init__(self) -> None:
        self.mass_sum = 0.0
        self.chance_sum = 0.0
        self.auc_sum = 0.0
        self.count = 0
        self.skipped = 0

    def update(self, attention: torch.Tensor, action_mask: torch.Tensor) -> None:
        mass, chance, auc, valid = per_clip_fidelity(attention, action_mask)
        self.mass_sum += float(mass[valid].sum())
        self.chance_sum += float(chance[valid].sum())
        self.auc_sum += float(auc[valid].sum())
        self.count += int(valid.sum())
        self.skipped += int((~valid).sum())

    @property
    def observed(self) -> int:
        return self.count + self.skipped

    def observe(self, extras: dict[str, Any], action_mask: torch.Tensor, image_size: tuple[int, int]) -> None:
        if "attention" in extras:
            self.update(extras["attention"], action_mask)

    def state(self) -> list[float]:
        return [self.mass_sum, self.chance_sum, self.auc_sum, self.count, self.skipped]

    @classmethod
    def merged(cls, states: list[list[float]]) -> FidelityMeter:
        out = cls()
        sums = [sum(s[i] for s in states) for i in range(5)]
        out.mass_sum, out.chance_sum, out.auc_sum = sums[:3]
        out.count, out.skipped = int(sums[3]), int(sums[4])
        return out

    def compute(self) -> dict[str, float]:
        n = self.count
        nan = math.nan
        return {
            "fidelity_mass": self.mass_sum / n if n else nan,
            "fidelity_chance": self.chance_sum / n if n else nan,
            "fidelity_auc": self.auc_sum / n if n else nan,
            "fidelity_clips": float(n),
            "fidelity_skipped": float(self.skipped),
        }


def fidelity_notes(metrics: dict[str, float]) -> list[str]:
    """The summary line of the fidelity metrics (empty when there are none)."""
    if "fidelity_auc" not in metrics:
        return []
    m = metrics
    return [f"temporal fidelity: attention mass {m['fidelity_mass']:.3f} (uniform {m['fidelity_chance']:.3f}), "
            f"AUC {m['fidelity_auc']:.3f} (chance 0.5)"]


def temporal_fidelity(attention: torch.Tensor, action_mask: torch.Tensor) -> dict[str, float]:
    """One call over [B, T] attention and action masks; see the module docstring for the keys."""
    meter = FidelityMeter()
    meter.update(attention, action_mask)
    return meter.compute()


# ---------------------------------------------------------------------------- Charades annotations


def parse_charades_actions(text: str) -> list[tuple[str, float, float]]:
    """Charades' `actions` column ("c092 11.90 21.20;c147 0.00 12.60") -> [(class, start_s, end_s)]."""
    out: list[tuple[str, float, float]] = []
    for item in (text or "").split(";"):
        parts = item.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise DataError(f"bad Charades action {item!r}: expected 'cXXX start end'")
        try:
            out.append((parts[0], float(parts[1]), float(parts[2])))
        except ValueError:
            raise DataError(f"bad Charades action {item!r}: start/end are not numbers") from None
    return out


def segments_to_mask(frame_times: Sequence[float] | torch.Tensor, segments: Iterable[tuple[float, float]]
                     ) -> torch.Tensor:
    """bool [T]: which sampled frames (times in seconds) lie inside any [start, end] segment."""
    times = torch.as_tensor(frame_times, dtype=torch.float64)
    mask = torch.zeros(times.shape, dtype=torch.bool)
    for start, end in segments:
        mask |= (times >= start) & (times <= end)
    return mask
