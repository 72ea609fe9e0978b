"""The training-strategy protocol: how one batch turns into optimizer steps.

This module sits below both `models` and `engine`: a method registers its strategy next to its
model (`models/tfe.py`, `models/art.py`) and the loop (`engine/trainer.py`) runs whichever one
the config names, without either package importing the other for it.

    @register_strategy("my_method")
    class MyStrategy(TrainStrategy):
        def build_optimizers(self, model, make_optimizer): ...   # named optimizers
        def train_step(self, ctx, clip, target) -> dict[str, float]: ...
        def after_optimizer_step(self, model): ...                # e.g. an EMA update

The standard strategy does one forward, one backward (with gradient
accumulation) and one step of the single optimizer 'main'.  A strategy that
optimises several parameter sets in phases (TFE: approximators, then the
disentangler) builds one optimizer per set and calls `backward_and_step`
once per phase, freezing the other set with `frozen(...)` so its gradients
are neither computed nor all-reduced; under DDP it sets
`ddp_find_unused_parameters = True`.  State a strategy keeps outside the model
goes in `state_dict()` so that checkpoints carry it.

Imports: torch and `errors` only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from .errors import ActionlabError, ConfigError


class NonFiniteLossError(ActionlabError):
    """The loss became NaN or infinite: training stops before the bad step is applied."""

    exit_code = 1


@dataclass
class StepContext:
    """What a strategy needs from the loop for one batch."""

    model: nn.Module  # possibly DDP-wrapped; use `unwrap(model)` for attributes
    optimizers: dict[str, torch.optim.Optimizer]
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    scaler: Any = None  # torch.amp.GradScaler for fp16, else None
    accumulate: int = 1  # micro-batches per optimizer step
    should_step: bool = True  # last micro-batch of an accumulation window
    clip_grad: float | None = None
    step: int = 0  # optimizer steps done so far
    state: dict[str, Any] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)  # the whole batch (action_mask, boxes, ...) on the device


def recognizer(model: nn.Module) -> Any:
    """`unwrap(model)` as what it is for the loop: a recognizer (models/recognizer.py), with `loss` and the rest of
    its contract (typed Any here: this module sits below the models)."""
    return unwrap(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


@contextlib.contextmanager
def frozen(*modules: nn.Module):
    """Parameters of `modules` get no gradient inside the block (restored afterwards).

    For phased strategies: the forward of a phase runs with the other phase's parameters frozen.
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _all_ranks_true(flag: bool, device: torch.device) -> bool:
    """True iff `flag` holds on every rank (every rank stops on one rank's NaN); the flag itself alone."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    t = torch.tensor([0 if flag else 1], device=device)
    dist.all_reduce(t)
    return int(t.item()) == 0


def check_finite(loss: torch.Tensor, what: str = "loss") -> None:
    """Raise `NonFiniteLossError` when `loss` is NaN/inf on any rank (all ranks stop together)."""
    finite = bool(torch.isfinite(loss.detach()).all())
    if not _all_ranks_true(finite, loss.device):
        value = float(loss.detach().float().sum()) if not finite else "finite here, not on another rank"
        raise NonFiniteLossError(f"{what} is {value}")


def backward_and_step(ctx: StepContext, loss: torch.Tensor, optimizer_names: list[str],
                      params: list[torch.nn.Parameter] | None = None) -> None:
    """Backward of loss/accumulate; at the window's end clip, step and zero the named optimizers.

    A NaN/inf loss raises `NonFiniteLossError` before anything is applied, so the weights stay those
    of the last good step.  `params`: the parameters whose gradient norm is clipped (default: the
    named optimizers' own).
    """
    check_finite(loss)
    scaled = loss / ctx.accumulate
    (ctx.scaler.scale(scaled) if ctx.scaler is not None else scaled).backward()
    if not ctx.should_step:
        return
    for name in optimizer_names:
        opt = ctx.optimizers[name]
        if ctx.scaler is not None:
            ctx.scaler.unscale_(opt)
        if ctx.clip_grad:
            group_params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            torch.nn.utils.clip_grad_norm_(params if params is not None else group_params, ctx.clip_grad)
        if ctx.scaler is not None:
            ctx.scaler.step(opt)
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
    if ctx.scaler is not None:
        ctx.scaler.update()


class TrainStrategy:
    """The standard strategy: one backward, one optimizer."""

    ddp_find_unused_parameters = False  # phased strategies leave parameters out of some backward passes

    def __init__(self, **kwargs: Any):
        if kwargs:
            raise ConfigError(f"strategy '{type(self).__name__}' takes no options, got {sorted(kwargs)}")

    def build_optimizers(self, model: nn.Module, make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
                         ) -> dict[str, torch.optim.Optimizer]:
        """`make_optimizer(module)` builds the configured optimizer over that module's parameters
        (param groups per `OptimConfig`: BN without decay, bias lr multiplier); a strategy with
        several parameter sets calls it once per set."""
        return {"main": make_optimizer(unwrap(model))}

    def train_step(self, ctx: StepContext, clip: torch.Tensor, target: torch.Tensor
                   ) -> dict[str, float | torch.Tensor]:
        with ctx.autocast():
            output = ctx.model(clip)
            terms = recognizer(ctx.model).loss(output, target)
        backward_and_step(ctx, terms["loss"], ["main"])
        return {k: v.detach() for k, v in terms.items()}  # 0-dim tensors: the loop reads them at log steps only

    def after_optimizer_step(self, model: nn.Module) -> None:
        """Called after each optimizer step (not after every micro-batch)."""

    def state_dict(self) -> dict[str, Any]:
        """Strategy state kept outside the model (saved in checkpoints); buffers belong in the model."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


_STRATEGIES: dict[str, type[TrainStrategy]] = {"standard": TrainStrategy}


def register_strategy(name: str) -> Callable[[type[TrainStrategy]], type[TrainStrategy]]:
    def wrap(cls: type[TrainStrategy]) -> type[TrainStrategy]:
        _STRATEGIES[name] = cls
        return cls

    return wrap


def strategy_class(name: str) -> type[TrainStrategy] | None:
    """The class registered under `name` (None when there is none yet)."""
    return _STRATEGIES.get(name)


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)
