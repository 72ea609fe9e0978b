"""Choosing the training strategy a config names (`train.strategy`).

The protocol itself (StepContext, TrainStrategy, register_strategy, backward_and_step, frozen,
unwrap) lives in `actionlab/strategy.py`, below both models and engine; it is re-exported here
for the loop and for older imports.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..strategy import (
    NonFiniteLossError,
    StepContext,
    TrainStrategy,
    backward_and_step,
    check_finite,
    frozen,
    register_strategy,
    strategy_class,
    strategy_names,
    unwrap,
)

__all__ = ["NonFiniteLossError", "StepContext", "TrainStrategy", "backward_and_step", "build_strategy",
           "check_finite", "frozen", "register_strategy", "unwrap"]


def build_strategy(name: str, **kwargs: Any) -> TrainStrategy:
    from ..models.registry import _import_all

    _import_all()  # method modules register their strategies next to their models
    cls = strategy_class(name)
    if cls is None:
        raise ConfigError(f"unknown train.strategy '{name}', expected one of {strategy_names()}")
    return cls(**kwargs)
