"""Model registry in the style of timm: one way to build any model.

    @register_model(ModelInfo(num_frames=8, weights="imagenet"))
    def tsn_r50(num_classes: int, pretrained: str | None = None, **kwargs) -> Recognizer: ...

    model = create_model("tsn_r50", num_classes=174, pretrained="imagenet")
    model = create_model("tsm_r50", pretrained="k400")      # a pretrained tag (pretrained.py): 400 classes
    model = create_model("tsm_r50.k400", num_classes=101)   # the same weights, a new 101-class head

The modules in `catalog.MODEL_MODULES` register their models when imported (the name written where
the model is defined, as timm does); `create_model` and `list_models` import them on first use.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.nn as nn

from ..errors import ModelError
from ..norms import IMAGENET_MEAN, IMAGENET_STD
from . import catalog
from .recognizer import Recognizer


@dataclass(frozen=True)
class ModelInfo:
    """The default configuration beside a registered model."""

    num_frames: int = 8
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    weights: str | None = None  # default weight source for pretrained=True ('imagenet', URL, hub id)
    paper: str = ""  # citation key of the paper the model comes from
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Entry:
    name: str
    builder: Callable[..., nn.Module]
    info: ModelInfo


_REGISTRY: dict[str, _Entry] = {}


def register_model(info: ModelInfo | None = None, name: str | None = None) -> Callable:
    """Decorator: register a builder `fn(num_classes, pretrained=None, **kwargs) -> nn.Module`."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or fn.__name__
        if key in _REGISTRY and _REGISTRY[key].builder is not fn:
            raise ValueError(f"model '{key}' is registered twice")
        _REGISTRY[key] = _Entry(key, fn, info or ModelInfo())
        return fn

    return wrap


def _import_all() -> None:
    """The models of every module in `catalog.MODEL_MODULES`, registered."""
    catalog.load_all()


def options_of(*fns: Callable[..., Any], minus: Iterable[str] = ()) -> set[str]:
    """The keyword parameters `fns` name (no *args / **kwargs), less `minus`: the options a builder takes."""
    names = {p.name for fn in fns for p in inspect.signature(fn).parameters.values()
             if p.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}
    return names - {"self", *minus}


def check_kwargs(model: str, kwargs: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """The one check of `model.kwargs` for every model: a key it does not take is a ModelError naming the key,
    the closest option and all of them.  Run before anything is built, so that an error raised while building
    (a bug, or a value out of range) is never mistaken for a misspelled option."""
    allowed = sorted(set(accepted))
    for key in kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ModelError(f"model.kwargs.{key}: not an option of {model}{hint}; options: {allowed}")


def list_models(pattern: str = "*") -> list[str]:
    _import_all()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def model_info(name: str) -> ModelInfo:
    return _entry(name).info


def _entry(name: str) -> _Entry:
    _import_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `actionlab.list_models()`"
        raise ModelError(f"unknown model '{name}'{hint}")
    return _REGISTRY[name]


def create_model(name: str, num_classes: int | None = None,
                 pretrained: str | bool | Mapping[str, Any] | None = None, weights: str | None = None,
                 **kwargs: Any) -> Recognizer:
    """Build a registered model.

    name: a registered model, or `model.tag` ('tsm_r50.k400') for the model with a tag's weights.
    pretrained: None/False for random init, True for the model's default weights, a tag of the
    model ('k400', see `list_pretrained`), or a weight source ('imagenet', a URL, a local
    .pth/.pt/.safetensors file).  num_classes: None takes the tag's; another count keeps the
    tag's backbone and temporal modules and puts in a new classifier (reported).
    weights: a file downloaded by hand for the tag (instead of the torch hub cache).
    """
    from .pretrained import create_pretrained, find_tag, get_pretrained

    tag = None
    if "." in name and name not in _REGISTRY:
        tag = get_pretrained(name)
        if not tag.is_video:
            raise ModelError(f"{name} is an ImageNet backbone tag; use it as pretrained='{tag.tag}' on a model built "
                             f"on {tag.model} (e.g. create_model('tsm_r50', num_classes=..., pretrained='imagenet'))")
        if pretrained not in (None, True, tag.tag, tag.name):
            raise ModelError(f"model '{name}' names its weights; do not also pass pretrained={pretrained!r}")
        name = tag.model
    entry = _entry(name)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(entry.builder).parameters.values()):
        check_kwargs(name, kwargs, options_of(entry.builder, minus=("num_classes", "pretrained")))
    # (builders with **kwargs check theirs with `check_kwargs` before building)
    if pretrained is True:
        pretrained = entry.info.weights
    elif pretrained is False:
        pretrained = None
    tag = tag or find_tag(name, pretrained)
    if tag is not None:
        model = create_pretrained(entry.builder, tag, num_classes, weights, **kwargs)
    else:
        if weights is not None:
            raise ModelError(f"weights={weights!r} goes with a pretrained tag (see list_pretrained('{name}.*'))")
        if num_classes is None:
            raise ModelError(f"create_model('{name}'): give num_classes (or a pretrained tag that has them)")
        model = entry.builder(num_classes=num_classes, pretrained=pretrained, **kwargs)
    if not isinstance(model, Recognizer):  # the contract every consumer reads (models/recognizer.py)
        raise ModelError(f"model '{name}': its builder returned a {type(model).__name__}, not a Recognizer")
    if tag is None and model.pretrained_report is not None:
        from .weights import account_whole_model

        account_whole_model(model.pretrained_report, model)
    model.model_name = name
    model.model_info = entry.info
    if tag is not None:
        model.pretrained_tag = tag
    return model
