"""The baselines every paper compares against, registered: TSN, TSM and SlowOnly.

    tsn_r18 / r34 / r50 / r101     TSN (Wang et al., ECCV 2016) on ImageNet ResNets
    tsm_r18 / r34 / r50 / r101     TSM (Lin et al., ICCV 2019): TSN + residual shift in every block
    slowonly_r50                   SlowOnly (Feichtenhofer et al., ICCV 2019): 3x1x1 first convs in stages 4-5
    tsn_lite0 / tsm_lite0          the same on EfficientNet-Lite0 with its shipped ImageNet weights
    *_tiny                         random-init versions with base width 16 (kwarg base_width) for tests,
                                   the demo and `bench accuracy`: tsn_r18_tiny, tsm_r18_tiny, tsn_r50_tiny,
                                   tsm_r50_tiny, slowonly_r50_tiny

Every builder is `fn(num_classes, pretrained=None, **kwargs)`; kwargs (also `model.kwargs` in
configs): num_segments (8), dropout (0.5), consensus ('avg' | 'max' | 'weighted'),
partial_bn (False), init_std (0.001) for all; base_width (64; 16 for *_tiny) for ResNets;
shift_div (8), shift_inplace (False), shift_every (None: 2 for ResNet-101 as in the official
code, else 1) for TSM; time_kernel (3), inflate_init ('average' | 'center') for SlowOnly;
drop_path_rate (0.0) for Lite0.

Weights: a backbone source ('imagenet', a URL, a file of a 2D net) loads before the temporal
modules go in (SlowOnly inflates from it); a recognizer checkpoint (backbone.* keys, e.g. a
trained TSM or an official TSM release) loads into the whole model after, and a classifier
of another class count is re-initialised with a message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch.nn as nn

from ..errors import ModelError
from .backbones.efficientnet import EfficientNetLite
from .backbones.resnet import ResNet
from .backbones.slowonly import make_slowonly
from .pretrained import MMA_DENSE_TEST, mmaction2, register_tags, tsm_release
from .registry import ModelInfo, check_kwargs, register_model
from .temporal.shift import insert_shift
from .tsn import TSN, build_tsn
from .weights import (
    build_efficientnet_lite0,
    build_resnet,
    is_recognizer_checkpoint,
    load_state_dict_into,
    read_state_dict,
)

Temporal = Literal["none", "shift", "slowonly"]


@dataclass
class BaselineOptions:
    """Every kwarg a baseline builder accepts (not all apply to every model; see `_ALLOWED`)."""

    num_segments: int = 8
    dropout: float = 0.5
    consensus: Literal["avg", "max", "weighted"] = "avg"
    partial_bn: bool = False
    init_std: float = 0.001
    base_width: int = 64
    shift_div: int = 8
    shift_inplace: bool = False
    shift_every: int | None = None
    time_kernel: int = 3
    inflate_init: Literal["average", "center"] = "average"
    drop_path_rate: float = 0.0


_COMMON = {"num_segments", "dropout", "consensus", "partial_bn", "init_std"}
_SHIFT = {"shift_div", "shift_inplace", "shift_every"}
_ALLOWED: dict[tuple[str, Temporal], set[str]] = {
    ("resnet", "none"): _COMMON | {"base_width"},
    ("resnet", "shift"): _COMMON | {"base_width"} | _SHIFT,
    ("resnet", "slowonly"): _COMMON | {"base_width", "time_kernel", "inflate_init"},
    ("lite0", "none"): _COMMON | {"drop_path_rate"},
    ("lite0", "shift"): _COMMON | {"drop_path_rate"} | _SHIFT,
}


def _options(model_name: str, family: str, temporal: Temporal, defaults: Mapping[str, Any],
             kwargs: Mapping[str, Any]) -> BaselineOptions:
    check_kwargs(model_name, kwargs, _ALLOWED[(family, temporal)])
    opts = BaselineOptions(**{**defaults, **kwargs})
    types = {f.name: f.type for f in fields(BaselineOptions)}
    for key in ("num_segments", "base_width", "shift_div", "time_kernel"):
        value = getattr(opts, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ModelError(f"model.kwargs.{key}: expected a positive integer ({types[key]}), got {value!r}")
    if opts.consensus not in ("avg", "max", "weighted"):
        raise ModelError(f"model.kwargs.consensus: expected avg, max or weighted, got {opts.consensus!r}")
    return opts


def build_baseline(arch: str, num_classes: int, pretrained: str | Mapping[str, Any] | None = None,
                   temporal: Temporal = "none", options: BaselineOptions | None = None) -> TSN:
    """TSN / TSM / SlowOnly on a ResNet ('resnet18'..'resnet101') or on 'efficientnet_lite0'.

    Order matters for the weights: 2D weights load into the bare backbone, then the temporal
    modules go in (inflating from them), then a whole-recognizer checkpoint, if that is what
    `pretrained` is, loads into the finished model.
    """
    o = options or BaselineOptions()
    if isinstance(pretrained, str) and pretrained.startswith("imagenet") and arch != "efficientnet_lite0" \
            and o.base_width != 64:
        raise ModelError(f"ImageNet weights fit base_width 64, not {o.base_width}")
    sd = read_state_dict(pretrained, arch) if pretrained is not None else None
    whole = sd is not None and is_recognizer_checkpoint(sd)
    backbone_weights = None if whole else sd
    if arch == "efficientnet_lite0":
        backbone: ResNet | EfficientNetLite = build_efficientnet_lite0(backbone_weights,
                                                                       drop_path_rate=o.drop_path_rate)
    else:
        if backbone_weights is not None and o.base_width != 64:
            raise ModelError(f"pretrained 2D weights fit base_width 64, not {o.base_width}")
        backbone = build_resnet(arch, o.base_width, backbone_weights)
    label = pretrained if isinstance(pretrained, str) else getattr(pretrained, "source", "<dict>")
    if backbone.pretrained_report is not None:
        backbone.pretrained_report.source = label
    if temporal == "shift":
        insert_shift(backbone, o.num_segments, o.shift_div, o.shift_inplace, o.shift_every)
    elif temporal == "slowonly":
        if not isinstance(backbone, ResNet):
            raise ModelError("SlowOnly needs a ResNet backbone")
        make_slowonly(backbone, o.num_segments, time_kernel=o.time_kernel, inflate_init=o.inflate_init)
    model = build_tsn(backbone, num_classes, o.num_segments, o.dropout, o.consensus, o.init_std, o.partial_bn)
    if sd is not None and whole:
        model.pretrained_report = load_state_dict_into(model, sd, label)
    elif backbone_weights is not None:
        model.pretrained_report = backbone.pretrained_report
    return model


# --------------------------------------------------------------------------- paper figures for `actionlab flops`
# (frames, size, GMACs, params in M or None, where the figure is printed, why ours may differ)
_TSM_SRC = "TSM paper (Lin et al. 2019) / TEFE Table 1"
_WHY_ROUND = "the papers print whole GFLOPs (= GMACs); 32.7 rounds to 33"
_MMA = ("MMAction2 model zoo, tsm_r50 8f SSv2 (174 classes)",
        "its counter also counts BatchNorm, 2 ops per element: 2 x 0.089 G at 8 x 224; 32.70 + 0.18 = 32.88")
PAPER_FIGURES: dict[str, list[dict[str, Any]]] = {
    "tsn_r50": [
        {"frames": 8, "size": 224, "gmacs": 33, "source": "TEFE paper Table 1/2 (TSN row)", "why": _WHY_ROUND},
        {"frames": 16, "size": 224, "gmacs": 66, "source": "TEFE paper Table 1/2 (TSN row)", "why": _WHY_ROUND},
        {"frames": 8, "size": 224, "gmacs": 32.7, "params_m": 23.9, "source": "METHODS.md (4.09 GMACs/frame x 8)",
         "why": "same counting convention; differences are rounding"},
    ],
    "tsm_r50": [
        {"frames": 8, "size": 224, "gmacs": 33, "source": _TSM_SRC, "why": _WHY_ROUND + "; the shift adds no MACs"},
        {"frames": 16, "size": 224, "gmacs": 65, "source": "TEFE Table 1, ART Table I (TSM rows)",
         "why": "the papers print whole GFLOPs; 16 x 4.09 = 65.4"},
        {"frames": 8, "size": 224, "gmacs": 32.88, "params_m": 23.87, "source": _MMA[0], "why": _MMA[1]},
    ],
}


def _info(description: str, num_frames: int = 8, input_size: int = 224, weights: str | None = "imagenet",
          mean: tuple[float, float, float] | None = None, std: tuple[float, float, float] | None = None,
          paper: str = "", figures: list[dict[str, Any]] | None = None) -> ModelInfo:
    extra: dict[str, Any] = {"paper_figures": figures or []}
    kw: dict[str, Any] = {}
    if mean is not None:
        kw["mean"], kw["std"] = mean, std
    return ModelInfo(num_frames=num_frames, input_size=input_size, weights=weights, paper=paper,
                     description=description, extra=extra, **kw)


def _register(name: str, arch: str, temporal: Temporal, info: ModelInfo,
              defaults: Mapping[str, Any] | None = None) -> Callable[..., nn.Module]:
    family = "lite0" if arch == "efficientnet_lite0" else "resnet"

    def builder(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
        options = _options(name, family, temporal, defaults or {}, kwargs)
        return build_baseline(arch, num_classes, pretrained, temporal, options)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = f"{info.description}\n\nkwargs: {sorted(_ALLOWED[(family, temporal)])}"
    return register_model(info, name=name)(builder)


# One line a model: the registered name is written where the model is defined.
_register("tsn_r18", "resnet18", "none", _info("TSN on ImageNet ResNet-18: average consensus over 8 segments",
                                               paper="wang2016tsn", figures=PAPER_FIGURES.get("tsn_r18")))
_register("tsn_r34", "resnet34", "none", _info("TSN on ImageNet ResNet-34: average consensus over 8 segments",
                                               paper="wang2016tsn", figures=PAPER_FIGURES.get("tsn_r34")))
_register("tsn_r50", "resnet50", "none", _info("TSN on ImageNet ResNet-50: average consensus over 8 segments",
                                               paper="wang2016tsn", figures=PAPER_FIGURES.get("tsn_r50")))
_register("tsn_r101", "resnet101", "none", _info("TSN on ImageNet ResNet-101: average consensus over 8 segments",
                                                 paper="wang2016tsn", figures=PAPER_FIGURES.get("tsn_r101")))
_SHIFT_TEXT = "residual shift (1/8 each way) in every block"
_register("tsm_r18", "resnet18", "shift", _info(f"TSM on ImageNet ResNet-18: {_SHIFT_TEXT}", paper="lin2019tsm",
                                                figures=PAPER_FIGURES.get("tsm_r18")))
_register("tsm_r34", "resnet34", "shift", _info(f"TSM on ImageNet ResNet-34: {_SHIFT_TEXT}", paper="lin2019tsm",
                                                figures=PAPER_FIGURES.get("tsm_r34")))
_register("tsm_r50", "resnet50", "shift", _info(f"TSM on ImageNet ResNet-50: {_SHIFT_TEXT}", paper="lin2019tsm",
                                                figures=PAPER_FIGURES.get("tsm_r50")))
_register("tsm_r101", "resnet101", "shift", _info(f"TSM on ImageNet ResNet-101: {_SHIFT_TEXT}", paper="lin2019tsm",
                                                  figures=PAPER_FIGURES.get("tsm_r101")))
_register("slowonly_r50", "resnet50", "slowonly",
          _info("SlowOnly-R50 8x8: 3x1x1 first convs in stages 4-5, inflated from ImageNet ResNet-50",
                paper="feichtenhofer2019slowfast"))

# The released checkpoints of these models (their pretrained tags), next to them: `create_model("tsm_r50.k400")`.
register_tags(
    "tsm_r50",
    k400=tsm_release("TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth", "kinetics400", 400,
                     source="TSM (Lin, Gan, Han, ICCV 2019), official release, 8 segments, uniform sampling",
                     accuracy="Kinetics-400 val top-1 71.2 (8 frames x 1 clip, 1 centre crop of 224), 72.8 (x 10 "
                              "crops: 5 positions + flips; --protocol release)",
                     release_views="1x10"),
    sthv2=tsm_release("TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth", "sthv2", 174,
                      source="TSM (Lin, Gan, Han, ICCV 2019), official release, 8 segments",
                      accuracy="Something-Something V2 val top-1 61.2 (8 frames x 2 clips (twice_sample) x 3 crops, "
                               "no flips; --protocol release)",
                      release_views="1x3", release_twice_sample=True,
                      note="release protocol: the README's command (--test_crops=3 --twice_sample, no --full_res), "
                           "so its 3 crops are 224 wide at GroupFullResSample's positions; the README calls the "
                           "setting 'full resolution' (256-wide crops with --full_res): which one gave 61.2 cannot "
                           "be told"),
    k400_mmaction2=mmaction2(
        "tsm", "https://download.openmmlab.com/mmaction/v1.0/recognition/tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-"
        "50e_kinetics400-rgb/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb_20220831-64d69186.pth",
        "top-1 73.18, top-5 90.56; README: '8 clips x 10 crop' = the config's 8 segments x 10 crops (TenCrop 224; "
        "--protocol release)",
        "TSM (Lin et al., ICCV 2019), MMAction2 tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb",
        sampler="mmaction_segments", test_style="mmaction2", release_views="1x10"),
)
register_tags(
    "tsn_r50",
    k400=mmaction2(
        "tsn", "https://download.openmmlab.com/mmaction/v1.0/recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-"
        "100e_kinetics400-rgb/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb_20220906-2692d16c.pth",
        "top-1 74.12, top-5 91.34; README: '25 clips x 10 crop', the config's test pipeline: 8 segments x 10 crops "
        "(TenCrop 224; --protocol release)",
        "TSN (Wang et al., ECCV 2016), MMAction2 tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb",
        sampler="mmaction_segments", test_style="mmaction2", release_views="1x10"),
)
register_tags(
    "slowonly_r50",
    k400=mmaction2(
        "slowonly", "https://download.openmmlab.com/mmaction/v1.0/recognition/slowonly/slowonly_imagenet-pretrained-"
        "r50_8xb16-8x8x1-steplr-150e_kinetics400-rgb/slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-150e_"
        "kinetics400-rgb_20220901-df42dc84.pth",
        "top-1 75.96, top-5 92.40 (metafile.yml) or 76.45, 92.55 (README table): the two official sources "
        "disagree; both 8x8, 10 clips x 3 crops of 256 (--protocol release)",
        "SlowOnly (Feichtenhofer et al., ICCV 2019), MMAction2 slowonly_imagenet-pretrained-r50_8xb16-8x8x1-steplr-"
        "150e_kinetics400-rgb", sampler="mmaction_clips", frame_interval=8, **MMA_DENSE_TEST),
)

# the shipped TF-converted weights expect [-1, 1]
_LITE: dict[str, Any] = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
_register("tsn_lite0", "efficientnet_lite0", "none",
          _info("TSN on EfficientNet-Lite0 with its shipped ImageNet weights", paper="wang2016tsn", **_LITE))
_register("tsm_lite0", "efficientnet_lite0", "shift",
          _info("TSM on EfficientNet-Lite0 (shift in every block with a residual connection)", paper="lin2019tsm",
                **_LITE))

# Tiny random-init variants: base width 16, 64 px (a few MMACs a frame), for tests, the demo, bench accuracy.
_TINY = {"base_width": 16}
_register("tsn_r18_tiny", "resnet18", "none", _info("tiny TSN (ResNet-18 layout, base width 16, random init)",
                                                    input_size=64, weights=None, paper="wang2016tsn"), _TINY)
_register("tsm_r18_tiny", "resnet18", "shift", _info("tiny TSM (ResNet-18 layout, base width 16, random init)",
                                                     input_size=64, weights=None, paper="lin2019tsm"), _TINY)
_register("tsn_r50_tiny", "resnet50", "none", _info("tiny TSN (ResNet-50 layout, base width 16, random init)",
                                                    input_size=64, weights=None, paper="wang2016tsn"), _TINY)
_register("tsm_r50_tiny", "resnet50", "shift", _info("tiny TSM (ResNet-50 layout, base width 16, random init)",
                                                     input_size=64, weights=None, paper="lin2019tsm"), _TINY)
_register("slowonly_r50_tiny", "resnet50", "slowonly",
          _info("tiny SlowOnly (ResNet-50 layout, base width 16, random init)", input_size=64, weights=None,
                paper="feichtenhofer2019slowfast"), _TINY)
