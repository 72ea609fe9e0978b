"""The one forward contract every method answers.

    clip [N, C, T, H, W] (float, normalised) --model--> Output(logits [N, K], extras)
    model.loss(output, target) -> {"loss": total, other named terms ...}

`extras` holds what a method wants to show or regularise: attention masks,
actionness maps, tracklets, auxiliary losses.  Conventions for its keys:
  "attention"  [N, T]            temporal attention over segments (TFE)
  "actionness" [N, T, 1, h, w]   frame-wise actionness maps (ATR; a list per block allowed)
  "regions"    [N, T, K, h, w]   tracklet region responses (ART)
  "aux_losses" dict[str, Tensor] terms `loss` adds to the total
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError

if TYPE_CHECKING:  # annotations only: the registry and the weights modules build on this one
    from .pretrained import PretrainedTag
    from .registry import ModelInfo
    from .weights import LoadReport


@dataclass
class Output:
    logits: torch.Tensor
    extras: dict[str, Any] = field(default_factory=dict)


def classification_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross entropy for class indices; BCE with logits for multi-hot targets (Charades)."""
    if target.dtype.is_floating_point and target.dim() == logits.dim():
        return F.binary_cross_entropy_with_logits(logits, target)
    return F.cross_entropy(logits, target)


class Recognizer(nn.Module):
    """Base class: subclasses implement `forward(clip) -> Output`.

    Everything the rest of actionlab reads from a recognizer is declared here, with the value a model
    that does not set it has:

        num_segments, num_classes      the frames T it was built for, the size of its classifier (constructor)
        model_name, model_info         the registered name and its ModelInfo (set by `create_model`)
        pretrained_tag                 the pretrained tag whose weights it holds (set by `create_model`)
        pretrained_report              what loaded, what is new, what was unused (set where weights load)
        explain_kind                   the `actionlab explain` kind drawn by default (explain/common.py)
        eval_metrics                   the metrics `actionlab test` computes from its extras where the data
                                       carry their annotation (actionlab/eval_metrics.py)
        set_partial_bn(enabled)        TSN's partial BN (`train.partial_bn`); refused where there is none
    """

    num_segments: int
    num_classes: int
    model_name: str = ""
    model_info: ModelInfo | None = None
    pretrained_tag: PretrainedTag | None = None
    pretrained_report: LoadReport | None = None
    explain_kind: str = "gradcam"
    eval_metrics: tuple[str, ...] = ()

    def set_partial_bn(self, enabled: bool) -> None:
        """Freeze all but the first BN of the backbone (TSN); this recognizer has no such BN."""
        if enabled:
            raise ConfigError(f"config key 'train.partial_bn': model '{self.model_name or type(self).__name__}' "
                              "has no partial BN")

    def forward(self, clip: torch.Tensor) -> Output:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, output: Output, target: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {"cls": classification_loss(output.logits, target)}
        for name, value in output.extras.get("aux_losses", {}).items():
            terms[name] = value
        terms["loss"] = torch.stack(list(terms.values())).sum()
        return terms

    def param_groups(self, weight_decay: float, no_bn_decay: bool = True, no_bias_decay: bool = False,
                     bias_lr_mult: float = 1.0) -> list[dict[str, Any]]:
        return param_groups(self, weight_decay, no_bn_decay, no_bias_decay, bias_lr_mult)


def name_of(model: nn.Module) -> str:
    """The registered name of a recognizer, else its class name (a model built in code)."""
    return model.model_name if isinstance(model, Recognizer) and model.model_name else type(model).__name__


def param_groups(module: nn.Module, weight_decay: float, no_bn_decay: bool = True, no_bias_decay: bool = False,
                 bias_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Parameter groups as TSN/TSM use them: BN (and optionally bias) without decay, bias lr x mult."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    bias: list[nn.Parameter] = []
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
    norm_params = {id(p) for m in module.modules() if isinstance(m, norm_types) for p in m.parameters()}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if id(p) in norm_params:
            (no_decay if no_bn_decay else decay).append(p)
        elif name.endswith(".bias") or p.ndim == 1:
            bias.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": weight_decay, "name": "decay"}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0, "name": "norm"})
    if bias:
        groups.append({"params": bias, "weight_decay": 0.0 if no_bias_decay else weight_decay,
                       "lr_mult": bias_lr_mult, "name": "bias"})
    return groups


@contextlib.contextmanager
def evaluating(model: nn.Module, grad: bool = False) -> Iterator[nn.Module]:
    """The block runs `model` in eval mode (dropout off, BN on running statistics) and without autograd
    unless `grad` (Grad-CAM needs it); the model's training flag is what it was before, afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.set_grad_enabled(grad):
            yield model
    finally:
        model.train(was_training)
