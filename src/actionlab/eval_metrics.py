"""The metrics a method declares for its own outputs, beside accuracy.

A recognizer names them in its `eval_metrics` attribute (models/recognizer.py), and the evaluator
(`engine/evaluate.py`, `actionlab test`, validation during training) computes exactly those, whenever
the data carry what they are measured against:

    name                 model extras read                          batch entry     module
    temporal_fidelity    "attention" [N, T]                         "action_mask"   fidelity.py (TFE)
    pointing_game        "regions" [N, T, K, h, w]                  "boxes"         localisation.py (ART)
    actionness_in_box    "actionness" / "actionness_per_block"      "boxes"         localisation.py (ATR)

A meter (the classes in METERS) has `batch_key` and `extras_keys`, `observe(extras, target, image_size)` per
forward pass (extras on the CPU, target [N, ...] with views flattened as the model saw them), `observed`
(0: it reports nothing), `state()` / `merged(states)` to combine torchrun ranks, and `compute() -> metrics`.
The engine knows none of them by name: a new metric is a meter class and a line in METERS.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from .errors import ModelError
from .fidelity import FidelityMeter, fidelity_notes
from .localisation import ActionnessInBoxMeter, PointingMeter, localisation_notes


class Meter(Protocol):
    batch_key: str
    extras_keys: tuple[str, ...]

    @property
    def observed(self) -> int: ...

    def observe(self, extras: dict[str, Any], target: torch.Tensor, image_size: tuple[int, int]) -> None: ...

    def state(self) -> Any: ...

    def compute(self) -> dict[str, float]: ...


METERS: dict[str, Any] = {  # name -> meter class (with `merged`)
    "temporal_fidelity": FidelityMeter,
    "pointing_game": PointingMeter,
    "actionness_in_box": ActionnessInBoxMeter,
}


def declared_meters(model: torch.nn.Module) -> dict[str, Meter]:
    """A fresh meter for each metric `model.eval_metrics` names (unknown names: a one-line ModelError)."""
    names = tuple(getattr(model, "eval_metrics", ()))
    unknown = [n for n in names if n not in METERS]
    if unknown:
        raise ModelError(f"{type(model).__name__}.eval_metrics names {unknown}, expected some of {sorted(METERS)}")
    return {n: METERS[n]() for n in names}


def merged(name: str, states: list[Any]) -> Meter:
    """The meter `name` holding every rank's observations (`states`: each rank's `state()`)."""
    return METERS[name].merged(states)


def results(meters: dict[str, Meter]) -> dict[str, float]:
    """The metrics of the meters that observed anything."""
    out: dict[str, float] = {}
    for meter in meters.values():
        if meter.observed:
            out.update(meter.compute())
    return out


def extras_wanted(meters: dict[str, Meter], batch: dict[str, Any]) -> set[str]:
    """The model extras to keep from each forward pass: those of the meters whose batch entry is present."""
    return {k for m in meters.values() if m.batch_key in batch for k in m.extras_keys}


def notes(metrics: dict[str, float]) -> list[str]:
    """One human-readable line per declared metric present in `metrics` (the `actionlab test` summary)."""
    return fidelity_notes(metrics) + localisation_notes(metrics)
