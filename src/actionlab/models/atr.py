"""ATR-nets: ATR blocks (models/temporal/atr.py) inserted into TSN, TSM and SlowOnly ResNets.

The paper inserts one block "right after the last BN of a residual block", in
every block of the last three stages by default: that is the ResNet slot
`before_add`. The base recognizer is built through the registry (so an ATR net
is exactly its base plus the blocks, and the base's ImageNet weights load
before the blocks are added), then:

    insert_atr(model.backbone, num_segments, stages=(3, 4, 5), **block_options)
    enable_actionness_extras(model)       # extras + explain_kind = "actionness"

Extras (after every forward of an ATR net with ARL):
    extras["actionness"]            the LAST ATR block's map [N, T, 1, h, w] (one tensor, as the
                                    recognizer contract expects; stage 5 in the default placement)
    extras["actionness_per_block"]  {block name ("layer2.0", ...): [N, T, 1, h_b, w_b]} in network order
Models without ARL (ATR_sim) add neither key.

`model.kwargs` in a config reaches the builders below: the ATR options are
`stages`, `blocks` and the `ATRBlock` arguments (reduction, cues, aggregation,
distribution, reasoner, num_reasoners, window, reasoner_reduction,
graph_embed_dim, zero_init); every other key goes to the base model's builder.

`actionlab.localisation.actionness_box_mass` measures how much of an actionness map's
spatial softmax (the weights of Eq. 5) falls inside annotated boxes of the moving object;
the evaluator reports it for ATR nets (`eval_metrics = ("actionness_in_box",)`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

import torch.nn as nn

from ..errors import ModelError
from .backbones.resnet import ResNet
from .backbones.resnet import blocks as resnet_blocks
from .recognizer import Recognizer
from .registry import ModelInfo, create_model, register_model
from .temporal.atr import ATRBlock
from .tsn import TSN
from .weights import is_recognizer_checkpoint, load_state_dict_into, read_state_dict

DEFAULT_STAGES = (3, 4, 5)
BLOCK_OPTIONS = frozenset(inspect.signature(ATRBlock.__init__).parameters) - {"self", "channels", "num_segments"}
ATR_SIM = {"aggregation": "average", "distribution": "broadcast"}
PAPER = "liang2025atr"
NAMED_WEIGHTS = ("imagenet", "imagenet_v2", "lite0")  # resolved by the base builder (they need its arch)


def insert_atr(backbone: ResNet, num_segments: int, stages: Iterable[int] | None = DEFAULT_STAGES,
               blocks_named: Iterable[str] | None = None, **options: Any) -> list[str]:
    """Fill the `before_add` slot of the chosen blocks with ATR blocks; returns their names.

    stages: ResNet stages 2..5 whose every block gets one (paper default 3, 4, 5);
    blocks_named: explicit block names such as "layer4.2" (the paper's "S5-3"), added to `stages`.
    """
    unknown = set(options) - BLOCK_OPTIONS
    if unknown:
        raise ModelError(f"unknown ATR option(s) {sorted(unknown)}; expected {sorted(BLOCK_OPTIONS)}")
    stages = set(stages or ())
    wanted = set(blocks_named or ())
    if not stages <= {2, 3, 4, 5}:
        raise ModelError(f"ATR stages must be among 2..5, got {sorted(stages)}")
    found = {loc.name for _, loc in resnet_blocks(backbone)}
    if wanted - found:
        raise ModelError(f"ATR blocks {sorted(wanted - found)} not in this backbone (it has {sorted(found)})")
    inserted = []
    for block, loc in resnet_blocks(backbone):
        if loc.stage not in stages and loc.name not in wanted:
            continue
        if not isinstance(block.before_add, nn.Identity):
            raise ModelError(f"slot before_add of {loc.name} is already filled by {type(block.before_add).__name__}")
        block.before_add = ATRBlock(loc.out_channels, num_segments, **options)
        inserted.append(loc.name)
    if not inserted:
        raise ModelError("ATR placement selects no block: give stages (2..5) or block names")
    return inserted


def atr_blocks(model: nn.Module) -> list[tuple[str, ATRBlock]]:
    """(name, block) for every ATR block in network order; names are the ResNet block names ("layer4.2")."""
    return [(name.removeprefix("backbone.").removesuffix(".before_add"), m)
            for name, m in model.named_modules() if isinstance(m, ATRBlock)]


def _collect_actionness(module: nn.Module, args: Any, output: Any) -> Any:
    """Forward hook: move the blocks' maps into `output.extras` (and release them from the blocks)."""
    maps = {}
    for name, block in atr_blocks(module):
        if block.actionness is not None:
            maps[name] = block.actionness
            block.actionness = None
    if maps and hasattr(output, "extras"):
        output.extras["actionness"] = next(reversed(maps.values()))
        output.extras["actionness_per_block"] = maps
    return output


def enable_actionness_extras(model: Recognizer) -> Recognizer:
    """Make a recognizer with ATR blocks report their maps in extras and explain with them."""
    model.register_forward_hook(_collect_actionness)
    model.explain_kind = "actionness"
    model.eval_metrics = ("actionness_in_box",)
    return model


def _split_options(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    atr = {k: kwargs.pop(k) for k in list(kwargs) if k in BLOCK_OPTIONS}
    return atr, kwargs


def build_atr(base: str, num_classes: int, pretrained: str | Mapping[str, Any] | None = None,
              stages: Iterable[int] | None = None, blocks: Iterable[str] | None = None,
              defaults: dict[str, Any] | None = None, **kwargs: Any) -> nn.Module:
    """The registered base recognizer `base` (tsn_r50, tsm_r50, slowonly_r50, ...) with ATR blocks.

    Backbone weights ('imagenet', a 2D file) load into the base before the blocks exist; a whole
    recognizer checkpoint (a trained TSN/TSM, or a trained ATR net) loads after, into the finished net.
    `defaults` are a variant's block options (e.g. ATR_sim's), overridable from kwargs.
    """
    options, base_kwargs = _split_options(dict(kwargs))
    options = {**(defaults or {}), **options}
    label = pretrained if isinstance(pretrained, str) else "<dict>"
    whole = None  # a trained recognizer checkpoint (with or without ATR keys) loads after the blocks exist
    if pretrained is not None and not (isinstance(pretrained, str) and pretrained in NAMED_WEIGHTS):
        state = read_state_dict(pretrained)
        whole, pretrained = (state, None) if is_recognizer_checkpoint(state) else (None, state)
    model = create_model(base, num_classes=num_classes, pretrained=pretrained, **base_kwargs)
    backbone = getattr(model, "backbone", None)
    assert isinstance(model, TSN)  # tsn / tsm / slowonly bases: a TSN recognizer
    if not isinstance(backbone, ResNet):
        raise ModelError(f"ATR needs a ResNet backbone with block slots; '{base}' has {type(backbone).__name__}")
    if stages is None and blocks is None:
        stages = DEFAULT_STAGES
    insert_atr(backbone, model.num_segments, stages, blocks, **options)
    if whole is not None:
        model.pretrained_report = load_state_dict_into(model, whole, label)
    if any(b.locator is not None for _, b in atr_blocks(model)):
        enable_actionness_extras(model)
    return model


# --------------------------------------------------------------------------- registered models


def _register(name: str, base: str, defaults: dict[str, Any] | None = None, text: str = "", *, prefix: str,
              num_frames: int = 8, input_size: int = 224, weights: str | None = "imagenet") -> None:
    description = f"{prefix} + {text}"

    def builder(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
        return build_atr(base, num_classes, pretrained, defaults=defaults, **kwargs)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"{base} + ATR blocks: {description}"
    info = ModelInfo(num_frames=num_frames, input_size=input_size, weights=weights, paper=PAPER,
                     description=description, extra={"base": base, "atr": dict(defaults or {})})
    register_model(info, name=name)(builder)


_VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "atr": ({}, "ATR (ARL + EAR, adding form, 2 efficient reasoners) in every block of stages 3-5"),
    "atr_sim": (ATR_SIM, "ATR_sim ablation: no ARL, global average pooling + broadcast"),
    "atr_graph": ({"reasoner": "graph"}, "graph reasoners (Wang & Gupta) instead of the efficient ones"),
    "atr_scale": ({"distribution": "scale"}, "distribution in the scaling form"),
    "atr_motion": ({"cues": "motion"}, "ARL with motion modelling only"),
    "atr_appearance": ({"cues": "appearance"}, "ARL with appearance modelling only"),
    "atr_lite": ({"reasoner_reduction": 16}, "reasoner channel transform C -> C/16 -> C instead of C x C"),
}

# One line a model: the registered name is written where the model is defined.
_register("tsn_atr_r50", "tsn_r50", *_VARIANTS["atr"], prefix="TSN-R50")
_register("tsn_atr_sim_r50", "tsn_r50", *_VARIANTS["atr_sim"], prefix="TSN-R50")
_register("tsn_atr_graph_r50", "tsn_r50", *_VARIANTS["atr_graph"], prefix="TSN-R50")
_register("tsn_atr_scale_r50", "tsn_r50", *_VARIANTS["atr_scale"], prefix="TSN-R50")
_register("tsn_atr_motion_r50", "tsn_r50", *_VARIANTS["atr_motion"], prefix="TSN-R50")
_register("tsn_atr_appearance_r50", "tsn_r50", *_VARIANTS["atr_appearance"], prefix="TSN-R50")
_register("tsn_atr_lite_r50", "tsn_r50", *_VARIANTS["atr_lite"], prefix="TSN-R50")
_register("tsm_atr_r50", "tsm_r50", *_VARIANTS["atr"], prefix="TSM-R50")
_register("tsm_atr_sim_r50", "tsm_r50", *_VARIANTS["atr_sim"], prefix="TSM-R50")
_register("slowonly_atr_r50", "slowonly_r50", *_VARIANTS["atr"], prefix="SlowOnly-R50")
_register("slowonly_atr_sim_r50", "slowonly_r50", *_VARIANTS["atr_sim"], prefix="SlowOnly-R50")

# Tiny random-init versions of the tiny baselines (models/baselines.py: base width 16, 64 px) for tests,
# the demo and `bench accuracy`: an ATR net and its baseline differ only by the ATR blocks.
_TINY: dict[str, Any] = {"input_size": 64, "weights": None}
_register("tsn_atr_r18_tiny", "tsn_r18_tiny", *_VARIANTS["atr"], prefix="tiny tsn_r18_tiny", **_TINY)
_register("tsn_atr_sim_r18_tiny", "tsn_r18_tiny", *_VARIANTS["atr_sim"], prefix="tiny tsn_r18_tiny", **_TINY)
_register("tsn_atr_graph_r18_tiny", "tsn_r18_tiny", *_VARIANTS["atr_graph"], prefix="tiny tsn_r18_tiny", **_TINY)
_register("tsm_atr_r18_tiny", "tsm_r18_tiny", *_VARIANTS["atr"], prefix="tiny tsm_r18_tiny", **_TINY)
_register("tsm_atr_sim_r18_tiny", "tsm_r18_tiny", *_VARIANTS["atr_sim"], prefix="tiny tsm_r18_tiny", **_TINY)
_register("tsn_atr_r50_tiny", "tsn_r50_tiny", *_VARIANTS["atr"], prefix="tiny tsn_r50_tiny", **_TINY)
_register("tsn_atr_sim_r50_tiny", "tsn_r50_tiny", *_VARIANTS["atr_sim"], prefix="tiny tsn_r50_tiny", **_TINY)
_register("tsn_atr_graph_r50_tiny", "tsn_r50_tiny", *_VARIANTS["atr_graph"], prefix="tiny tsn_r50_tiny", **_TINY)
_register("tsm_atr_r50_tiny", "tsm_r50_tiny", *_VARIANTS["atr"], prefix="tiny tsm_r50_tiny", **_TINY)
_register("tsm_atr_sim_r50_tiny", "tsm_r50_tiny", *_VARIANTS["atr_sim"], prefix="tiny tsm_r50_tiny", **_TINY)
_register("slowonly_atr_r50_tiny", "slowonly_r50_tiny", *_VARIANTS["atr"], prefix="tiny slowonly_r50_tiny", **_TINY)
_register("slowonly_atr_sim_r50_tiny", "slowonly_r50_tiny", *_VARIANTS["atr_sim"], prefix="tiny slowonly_r50_tiny",
          **_TINY)
