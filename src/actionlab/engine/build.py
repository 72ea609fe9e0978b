"""Building models from a config, and models from checkpoints for test / predict / explain."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..config import Config, from_dict
from ..errors import ConfigError, ModelError
from ..models.recognizer import Recognizer
from ..models.registry import _entry, _import_all, create_model
from ..strategy import TrainStrategy, strategy_class, strategy_names
from .checkpoint import load_checkpoint, load_model_state


def _accepts(fn: Any, name: str) -> bool:
    params = inspect.signature(fn).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _names_explicitly(fn: Any, name: str) -> bool:
    """True when `fn` has a parameter called `name` (a bare **kwargs does not count: it may forward
    everything to a constructor that rejects the key, as the TSN builders do)."""
    param = inspect.signature(fn).parameters.get(name)
    return param is not None and param.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)


def build_model(cfg: Config, num_classes: int, load_pretrained: bool = True,
                class_names: Sequence[str] | None = None) -> Recognizer:
    """`create_model(cfg.model.name, ...)` with the clip length from `data.num_segments`.

    The number of frames is passed as `num_segments` unless `model.kwargs` sets it, so one config key
    drives both the sampler and the temporal modules.  load_pretrained=False skips `model.pretrained`
    (the weights come from a checkpoint).  class_names (the dataset's when training, the checkpoint's at
    inference) go to builders that name a `class_names` parameter (ART's text bank) unless
    `model.kwargs` sets them.
    """
    if num_classes <= 0:
        raise ConfigError("config key 'model.num_classes' must be positive (or 0 to take it from the dataset)")
    kwargs = dict(cfg.model.kwargs)
    builder = _entry(cfg.model.name).builder
    if "num_segments" not in kwargs and _accepts(builder, "num_segments"):
        kwargs["num_segments"] = cfg.data.num_segments
    if class_names is not None and "class_names" not in kwargs and _names_explicitly(builder, "class_names"):
        kwargs["class_names"] = list(class_names)
    pretrained = cfg.model.pretrained if load_pretrained else None
    model = create_model(cfg.model.name, num_classes=num_classes, pretrained=pretrained, **kwargs)
    if pretrained is not None and model.pretrained_report is not None:  # what loaded, what is new, what was unused
        print(f"model.pretrained={pretrained}: {model.pretrained_report.summary()}", file=sys.stderr)
    return model


def build_strategy(name: str, **kwargs: Any) -> TrainStrategy:
    """The training strategy `train.strategy` names ("standard", or a method's, registered beside its model)."""
    _import_all()  # the method modules (models/tfe.py, models/art.py) register their strategies
    cls = strategy_class(name)
    if cls is None:
        raise ConfigError(f"unknown train.strategy '{name}', expected one of {strategy_names()}")
    return cls(**kwargs)


def model_name_of(model: nn.Module, cfg: Config) -> str:
    """The registered name of a recognizer (a model built in code: the config's model.name)."""
    return model.model_name if isinstance(model, Recognizer) and model.model_name else cfg.model.name


@dataclass
class LoadedModel:
    model: nn.Module
    cfg: Config  # the config the checkpoint was trained with (or the caller's, for a bare state dict)
    class_names: list[str]
    checkpoint: dict[str, Any]


def load_for_inference(checkpoint_path: str | Path, cfg: Config | None = None,
                       num_classes: int | None = None, device: torch.device | str = "cpu") -> LoadedModel:
    """A model in eval mode with a checkpoint's weights.

    cfg: the caller's config (`actionlab test CONFIG`); its model must be the checkpoint's model, and
    `num_classes` (from the caller's dataset) must match the checkpoint's classifier.  Without cfg the
    checkpoint's own config is used (`actionlab predict`).
    """
    ckpt = load_checkpoint(checkpoint_path)
    saved_cfg = from_dict(ckpt["config"]) if "config" in ckpt else None
    use_cfg = cfg or saved_cfg
    if use_cfg is None:
        raise ModelError(f"checkpoint {checkpoint_path} holds bare weights without a config; pass a config")
    saved_name = ckpt.get("model_name")
    if cfg is not None and saved_name and saved_name != cfg.model.name:
        raise ModelError(f"checkpoint {checkpoint_path} was saved from model '{saved_name}', "
                         f"but the config asks for '{cfg.model.name}'")
    saved_classes = ckpt.get("num_classes")
    if num_classes is not None and saved_classes is not None and num_classes != saved_classes:
        raise ModelError(f"checkpoint {checkpoint_path} has {saved_classes} classes, the dataset has {num_classes}")
    k = saved_classes or num_classes or use_cfg.model.num_classes
    if not k:
        raise ModelError(f"cannot tell the number of classes of checkpoint {checkpoint_path}")
    saved_names = ckpt.get("class_names")
    model = build_model(use_cfg, int(k), load_pretrained=False, class_names=saved_names or None)
    load_model_state(model, ckpt, checkpoint_path, expected_model=use_cfg.model.name)
    model.to(device).eval()
    class_names = list(saved_names or [str(i) for i in range(int(k))])
    return LoadedModel(model, use_cfg, class_names, ckpt)
