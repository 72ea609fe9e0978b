"""Optimizers and learning-rate schedules the papers use.

- SGD with momentum and step decay (TSN/TSM/TEFE: /10 at given epochs; ART: /10 every 20 epochs);
- AdamW with cosine decay (TFE: 5 warm-up epochs, wd 0.2);
- linear warm-up in front of any schedule, updated every iteration;
- parameter groups from the model (`Recognizer.param_groups`: BN without weight decay,
  bias lr multiplier), each group's lr = base lr x its `lr_mult`;
- `optim.lr_mult` ({fc: 5}): parameters by name get their own multiplier on top (the TSM release's
  fine-tuning recipe: the new fc at 5x, its bias at 10x = 5 x the bias multiplier 2);
- optional linear lr scaling with the total batch (Goyal et al.): lr x total / base.
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any

import torch
import torch.nn as nn

from ..config import OptimConfig
from ..errors import ConfigError
from ..models.recognizer import param_groups


def scaled_lr(cfg: OptimConfig, total_batch_size: int) -> float:
    """The base lr, scaled linearly with the total batch when `scale_lr_with_batch` is on."""
    if cfg.scale_lr_with_batch:
        return cfg.lr * total_batch_size / cfg.base_batch_size
    return cfg.lr


def build_optimizer(module: nn.Module, cfg: OptimConfig, lr: float | None = None,
                    weight_decay: float | None = None) -> torch.optim.Optimizer:
    """The configured optimizer over `module`'s trainable parameters, in the model's param groups.

    `lr` / `weight_decay` override the config's values (a strategy may give a parameter set its own).
    """
    lr = cfg.lr if lr is None else lr
    weight_decay = cfg.weight_decay if weight_decay is None else weight_decay
    make_groups = getattr(module, "param_groups", None)
    if callable(make_groups):
        groups = make_groups(weight_decay, cfg.no_bn_decay, cfg.no_bias_decay, cfg.bias_lr_mult)
    else:
        groups = param_groups(module, weight_decay, cfg.no_bn_decay, cfg.no_bias_decay, cfg.bias_lr_mult)
    groups = split_by_lr_mult(module, [g for g in groups if g["params"]], cfg.lr_mult)
    if not groups:
        raise ValueError(f"{type(module).__name__} has no trainable parameters to optimize")
    for g in groups:
        g["lr"] = lr * g.get("lr_mult", 1.0)
        g["initial_lr"] = g["lr"]
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=weight_decay)
    if cfg.name == "adamw":
        betas = (float(cfg.betas[0]), float(cfg.betas[1]))
        return torch.optim.AdamW(groups, lr=lr, betas=betas, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer '{cfg.name}'")


def lr_mult_matches(key: str, name: str) -> bool:
    """Whether an `optim.lr_mult` key names a parameter: the parameter itself, a module above it, or a glob."""
    return name == key or name.startswith(key + ".") or fnmatch.fnmatchcase(name, key)


def split_by_lr_mult(module: nn.Module, groups: list[dict[str, Any]], lr_mult: dict[str, float]
                     ) -> list[dict[str, Any]]:
    """Each group split into the parameters an `optim.lr_mult` key names (lr_mult x its value, `lr_key` set)
    and the rest; the first key that matches a parameter wins."""
    if not lr_mult:
        return groups
    names = {id(p): n for n, p in module.named_parameters()}
    out = []
    for g in groups:
        parts: dict[str | None, list[nn.Parameter]] = {}
        for p in g["params"]:
            key = next((k for k in lr_mult if lr_mult_matches(k, names.get(id(p), ""))), None)
            parts.setdefault(key, []).append(p)
        for key, params in parts.items():
            if key is None:
                out.append({**g, "params": params})
            else:
                out.append({**g, "params": params, "lr_mult": g.get("lr_mult", 1.0) * float(lr_mult[key]),
                            "lr_key": key, "name": f"{key}.{g.get('name', 'params')}"})
    return out


def describe_lr_groups(optimizers: dict[str, torch.optim.Optimizer], cfg: OptimConfig) -> list[str]:
    """One line per optimizer: each parameter group's starting lr and size; refuses `optim.lr_mult` keys that
    name no trainable parameter (a typo would otherwise train the head at the base lr, silently)."""
    used = {g.get("lr_key") for o in optimizers.values() for g in o.param_groups}
    unused = [k for k in cfg.lr_mult if k not in used]
    if unused:
        raise ConfigError(f"config key 'optim.lr_mult': {', '.join(repr(k) for k in unused)} names no trainable "
                          "parameter (keys are module or parameter names such as fc, backbone.layer4, or globs)")
    lines = []
    for name, opt in optimizers.items():
        parts = [f"{g.get('name', i)} {g.get('initial_lr', g['lr']):.3g} ({len(g['params'])} tensors)"
                 for i, g in enumerate(opt.param_groups)]
        mults = f" (optim.lr_mult {', '.join(f'{k}: x{v:g}' for k, v in cfg.lr_mult.items())})" if cfg.lr_mult else ""
        lines.append(f"optimizer {name}: lr per parameter group{mults}: {', '.join(parts)}")
    return lines


def lr_at(cfg: OptimConfig, initial_lr: float, step: int, steps_per_epoch: int, total_epochs: int,
          lr_mult: float = 1.0) -> float:
    """The lr of a group whose initial lr is `initial_lr` (already x lr_mult) for optimizer step `step` (0-based).

    Warm-up rises linearly over the first `warmup_epochs` (per iteration, reaching the base lr at its
    end); the step schedule decays at epoch boundaries (`milestones`, else every `step_size` epochs);
    cosine decays per iteration from the end of the warm-up to `min_lr` at the last step.
    """
    warmup_steps = int(round(cfg.warmup_epochs * steps_per_epoch))
    warmup = (step + 1) / warmup_steps if step < warmup_steps else 1.0
    if cfg.schedule == "step":
        epoch = step // steps_per_epoch
        if cfg.milestones:
            decays = sum(1 for m in cfg.milestones if epoch >= m)
        else:
            decays = epoch // cfg.step_size if cfg.step_size > 0 else 0
        return initial_lr * cfg.gamma**decays * warmup
    if cfg.schedule == "cosine" and step >= warmup_steps:
        total_steps = max(total_epochs * steps_per_epoch, warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - 1 - warmup_steps))
        floor = cfg.min_lr * lr_mult
        return floor + (initial_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return initial_lr * warmup


class Schedule:
    """Per-iteration lr schedule of one optimizer: call `step()` after every optimizer step.

    Its whole state is the number of steps taken, so resuming restores it exactly.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int,
                 total_epochs: int):
        self.optimizer = optimizer
        self.cfg = cfg
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.total_epochs = total_epochs
        self.last_step = 0
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self._apply()

    def _apply(self) -> None:
        for g in self.optimizer.param_groups:
            g["lr"] = lr_at(self.cfg, g["initial_lr"], self.last_step, self.steps_per_epoch, self.total_epochs,
                            g.get("lr_mult", 1.0))

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"last_step": self.last_step, "steps_per_epoch": self.steps_per_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
        self._apply()
