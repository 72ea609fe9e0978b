"""TEFE: TSN on a ResNet whose blocks carry TE (temporal extraction) and FE (feature enhancement) modules.

Jiang & Zhang, "An Improved Action Recognition Network With Temporal Extraction and
Feature Enhancement", IEEE Access 2022. TE = `temporal/tam.py` (Eqs. 1-6), FE =
`temporal/bilinear.py` (Eqs. 9-11).

Placement (paper Sec. III-C, Table 5) is given per stage 2..5 of the ResNet:

    te=[1, 1, 1, 1], fe=[0, 3, 5, 2]   (default = Table 5's best row)

Counts read as in Table 5, where TE + FE never exceed a stage's blocks: in each
stage the first `te` blocks carry TE and the next `fe` blocks carry FE, the rest
stay plain 2D blocks. Explicit block indices are accepted too
(`te=[[0], [0], [0], [0]]`), which also allows TE and FE in the same block.
`placement="table5_row1"` ... `"table5_row5"` names the five rows of Table 5.

TE sits in a block's `after_conv1` slot (after conv1-bn1-relu, as TANet places
TAM). FE replaces the 3x3 conv and its BN: `conv2`/`bn2` in a Bottleneck (U =
conv3), `conv1`/`bn1` in a BasicBlock (U = the second 3x3 conv), so ResNet-18/34
variants keep Eq. 10's U(Conv1 X * Conv2 X) form and the ReLU after the product.
FE is built from the block's 2D conv and BN (Eq. 11), so the 2D ResNet (with its
pretrained weights, loaded before the modules go in) is the starting point.

Models: `tefe_r50` (8 frames; `num_segments=16` for 16), `tefe_r50_16f`,
Table 4's ablations `tefe_te_only_r50` (TE=1,1,1,1, FE=0) and `tefe_fe_only_r50`
(TE=0, FE=0,3,5,2), and tiny variants for tests and the demo. The paper's 8+16
ensemble averages the two models' scores: `ensemble_forward` (`metrics.average_scores`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn as nn

from ..errors import ModelError
from ..metrics import average_scores
from .backbones.resnet import ARCHS, BasicBlock, Bottleneck, ResNet, blocks
from .pretrained import MMA_DENSE_TEST, mmaction2, register_tags
from .registry import ModelInfo, check_kwargs, options_of, register_model
from .temporal.bilinear import FeatureEnhancement
from .temporal.tam import TemporalExtraction
from .tsn import TSN
from .weights import build_resnet, load_state_dict_into, read_state_dict

PAPER = "jiang2022tefe"
STAGES = (2, 3, 4, 5)

# Table 5 of the paper (SSv1, 16 frames, top-1 in the comment): (TE per stage 2-5, FE per stage 2-5).
TABLE5: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "table5_row1": ((3, 4, 6, 3), (0, 0, 0, 0)),  # TE in every block: 46.7
    "table5_row2": ((0, 0, 0, 0), (0, 4, 6, 3)),  # FE in every block of stages 3-5: 46.3
    "table5_row3": ((3, 3, 3, 3), (0, 1, 3, 0)),  # 47.8
    "table5_row4": ((2, 2, 2, 2), (0, 2, 4, 1)),  # 48.7
    "table5_row5": ((1, 1, 1, 1), (0, 3, 5, 2)),  # 50.4, the paper's TEFE
}
DEFAULT_TE = TABLE5["table5_row5"][0]
DEFAULT_FE = TABLE5["table5_row5"][1]

StageSpec = Sequence[int] | Sequence[Sequence[int]]


def resolve_placement(te: StageSpec, fe: StageSpec, stage_sizes: Sequence[int]) -> dict[int, dict[str, list[int]]]:
    """Per stage 2..5: the block indices carrying TE and FE.

    `te`/`fe`: 4 counts (first `te` blocks TE, next `fe` blocks FE) or 4 lists of block indices.
    """
    if len(stage_sizes) != 4:
        raise ModelError(f"TEFE expects a 4-stage ResNet, got stages of {list(stage_sizes)} blocks")
    out: dict[int, dict[str, list[int]]] = {}
    for key, spec in (("te", te), ("fe", fe)):
        if isinstance(spec, (str, bytes)) or len(spec) != 4:
            raise ModelError(f"model.kwargs.{key} must list 4 stages (2-5), got {spec!r}")
    counts = all(isinstance(v, int) for v in list(te) + list(fe))
    for i, stage in enumerate(STAGES):
        size = stage_sizes[i]
        if counts:
            n_te, n_fe = int(te[i]), int(fe[i])  # type: ignore[arg-type]  # counts: ints here (`counts` checked)
            if n_te < 0 or n_fe < 0 or n_te + n_fe > size:
                raise ModelError(f"model.kwargs te/fe: stage {stage} has {size} blocks, cannot hold TE={n_te} + "
                                 f"FE={n_fe} (give block indices to put both in one block)")
            out[stage] = {"te": list(range(n_te)), "fe": list(range(n_te, n_te + n_fe))}
            continue
        entry = {}
        for key, spec in (("te", te), ("fe", fe)):
            idx = spec[i]
            if isinstance(idx, int) or not all(isinstance(j, int) for j in idx):
                raise ModelError(f"model.kwargs.{key}: give 4 counts or 4 lists of block indices, got {spec!r}")
            bad = [j for j in idx if not 0 <= j < size]
            if bad:
                raise ModelError(f"model.kwargs.{key}: stage {stage} has blocks 0..{size - 1}, got index {bad[0]}")
            entry[key] = sorted(set(idx))
        out[stage] = entry
    return out


def insert_tefe(net: ResNet, num_segments: int, te: StageSpec = DEFAULT_TE, fe: StageSpec = DEFAULT_FE,
                te_kernel_size: int = 3, te_reduction: int = 4,
                fe_temporal_kernel_size: int = 3) -> dict[int, dict[str, list[int]]]:
    """Put TE/FE modules into a (pretrained) 2D ResNet in place; returns the resolved placement."""
    sizes = [len(getattr(net, f"layer{i}")) for i in range(1, 5)]
    plan = resolve_placement(te, fe, sizes)
    for blk, loc in blocks(net):
        where = plan[loc.stage]
        if loc.index in where["te"]:
            if not isinstance(blk.after_conv1, nn.Identity):
                raise ModelError(f"{loc.name}.after_conv1 is already filled ({type(blk.after_conv1).__name__})")
            blk.after_conv1 = TemporalExtraction(loc.width, num_segments, te_kernel_size, te_reduction)
        if loc.index in where["fe"]:
            if isinstance(blk, Bottleneck):
                assert isinstance(blk.conv2, nn.Conv2d) and isinstance(blk.bn2, nn.BatchNorm2d)
                blk.conv2 = FeatureEnhancement.from_2d(blk.conv2, blk.bn2, num_segments, fe_temporal_kernel_size)
                blk.bn2 = nn.Identity()
            elif isinstance(blk, BasicBlock):
                assert isinstance(blk.conv1, nn.Conv2d) and isinstance(blk.bn1, nn.BatchNorm2d)
                blk.conv1 = FeatureEnhancement.from_2d(blk.conv1, blk.bn1, num_segments, fe_temporal_kernel_size)
                blk.bn1 = nn.Identity()
            else:  # pragma: no cover - ResNet only builds these two
                raise ModelError(f"FE does not know block type {type(blk).__name__}")
    return plan


class TEFE(TSN):
    """TSN whose ResNet backbone carries TE/FE modules; `placement` says where (stage -> te/fe block indices)."""

    explain_kind = "gradcam"

    def __init__(self, backbone: ResNet, num_classes: int, num_segments: int,
                 placement: dict[int, dict[str, list[int]]], dropout: float = 0.5,
                 consensus: Literal["avg", "max", "weighted"] = "avg", init_std: float = 0.001,
                 partial_bn: bool = False):
        super().__init__(backbone, num_classes, num_segments, dropout, consensus, init_std, partial_bn)
        self.placement = placement

    def frozen_norms(self) -> list[nn.modules.batchnorm._BatchNorm]:
        """Partial BN freezes the pretrained BNs (FE's bn1 is the 2D bn2) but never TE's new, untrained ones."""
        new = {id(m) for te in self.backbone.modules() if isinstance(te, TemporalExtraction) for m in te.modules()}
        return [m for m in super().frozen_norms() if id(m) not in new]


def _is_tefe_checkpoint(state: dict[str, torch.Tensor]) -> bool:
    """A whole TEFE recognizer (TE/FE tensors present) loads after the modules go in; 2D weights before."""
    return any(k.startswith("backbone.") and (".after_conv1." in k or ".conv2.conv2." in k or ".conv1.conv2." in k)
               for k in state)


def build_tefe(num_classes: int, pretrained: str | Mapping[str, Any] | None = None, *, arch: str = "resnet50",
               base_width: int = 64, num_segments: int = 8, te: StageSpec | None = None, fe: StageSpec | None = None,
               placement: str | None = None, te_kernel_size: int = 3, te_reduction: int = 4,
               fe_temporal_kernel_size: int = 3, dropout: float = 0.5,
               consensus: Literal["avg", "max", "weighted"] = "avg", init_std: float = 0.001,
               partial_bn: bool = False) -> TEFE:
    """TEFE on a ResNet. Order matters: 2D weights ('imagenet', a URL, a file, a 2D recognizer checkpoint)
    load into the plain ResNet, then TE/FE go in (FE initialised from those weights, Eq. 11), then a
    whole TEFE checkpoint, if that is what `pretrained` is, loads into the finished model."""
    if placement is not None:
        if placement not in TABLE5:
            raise ModelError(f"model.kwargs.placement: unknown '{placement}', expected one of {sorted(TABLE5)}")
        if te is not None or fe is not None:
            raise ModelError("model.kwargs: give either placement or te/fe, not both")
        te, fe = TABLE5[placement]
    te = DEFAULT_TE if te is None else te
    fe = DEFAULT_FE if fe is None else fe
    if arch not in ARCHS:
        raise ModelError(f"model.kwargs.arch: unknown ResNet '{arch}', expected one of {sorted(ARCHS)}")
    if isinstance(pretrained, str) and pretrained.startswith("imagenet") and base_width != 64:
        raise ModelError(f"ImageNet weights fit base_width 64, not {base_width} (model.kwargs.base_width)")
    state = read_state_dict(pretrained, arch) if pretrained is not None else None
    whole = state is not None and _is_tefe_checkpoint(state)
    label = pretrained if isinstance(pretrained, str) else getattr(pretrained, "source", "<dict>")
    net = build_resnet(arch, base_width, None if whole else state)
    plan = insert_tefe(net, num_segments, te, fe, te_kernel_size, te_reduction, fe_temporal_kernel_size)
    model = TEFE(net, num_classes, num_segments, plan, dropout, consensus, init_std, partial_bn)
    if state is not None and whole:
        model.pretrained_report = load_state_dict_into(model, state, label)
    elif net.pretrained_report is not None:
        net.pretrained_report.source = label
        model.pretrained_report = net.pretrained_report
    return model


_BUILD_KWARGS = options_of(build_tefe, minus=("num_classes", "pretrained"))


def _build(name: str, num_classes: int, pretrained: str | None, defaults: dict[str, Any],
           kwargs: dict[str, Any]) -> TEFE:
    check_kwargs(name, kwargs, _BUILD_KWARGS)
    merged = {**defaults, **kwargs}
    if "placement" in kwargs:  # a named Table 5 row replaces the variant's own te/fe
        merged.pop("te", None)
        merged.pop("fe", None)
    return build_tefe(num_classes, pretrained, **merged)


_NO_TE = (0, 0, 0, 0)
_NO_FE = (0, 0, 0, 0)
# ResNet-18 has 2 blocks a stage: TE in the first, FE in the second of stages 3-5 (the paper's rule, scaled).
_R18_TE, _R18_FE = (1, 1, 1, 1), (0, 1, 1, 1)


def _info(description: str, num_frames: int = 8, input_size: int = 224, weights: str | None = "imagenet",
          **extra: Any) -> ModelInfo:
    return ModelInfo(num_frames=num_frames, input_size=input_size, weights=weights, paper=PAPER,
                     description=description, extra=extra)


# For `actionlab flops`: the paper's Table 1/2 figures and our reading of them (benchmarks/tefe.md explains).
_WHY_PAPER = ("our counter (conv/linear MACs) finds 78.9 G at 8 frames, 157.9 G at 16: TSN-R50's 32.7 G a clip plus "
              "10 FE blocks whose two 3x3x3 convs cost 6x the 3x3 they replace (+46.2 G); TE adds < 0.1 G. "
              "No placement of Table 5 gives 90 (FE in all 13 blocks of stages 3-5 gives 92.8)")
PAPER_FIGURES: list[dict[str, Any]] = [
    {"frames": 8, "size": 224, "gmacs": 90, "source": "TEFE paper Tables 1-2 (TEFE-R50, 8 frames)",
     "why": _WHY_PAPER},
    {"frames": 16, "size": 224, "gmacs": 181, "source": "TEFE paper Tables 1-2 (TEFE-R50, 16 frames)",
     "why": _WHY_PAPER},
    {"frames": 8, "size": 224, "gmacs": 79, "params_m": 64.8, "source": "METHODS.md reading (TE=1,1,1,1 FE=0,3,5,2)",
     "why": "same counting convention; differences are rounding"},
]


@register_model(_info("TEFE-R50 (TE=1,1,1,1; FE=0,3,5,2), 8 frames", paper_figures=PAPER_FIGURES))
def tefe_r50(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_r50", num_classes, pretrained, {}, kwargs)


@register_model(_info("TEFE-R50 (TE=1,1,1,1; FE=0,3,5,2), 16 frames", num_frames=16, paper_figures=PAPER_FIGURES))
def tefe_r50_16f(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_r50_16f", num_classes, pretrained, {"num_segments": 16}, kwargs)


@register_model(_info("Table 4 ablation: only TE (TE=1,1,1,1; no FE), 8 frames"))
def tefe_te_only_r50(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_te_only_r50", num_classes, pretrained, {"te": DEFAULT_TE, "fe": _NO_FE}, kwargs)


@register_model(_info("Table 4 ablation: only FE (no TE; FE=0,3,5,2), 8 frames"))
def tefe_fe_only_r50(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_fe_only_r50", num_classes, pretrained, {"te": _NO_TE, "fe": DEFAULT_FE}, kwargs)


# TANet (Liu et al., ICCV 2021): TAM (= TE) after conv1 of every block, no FE (= Table 5 row 1's placement);
# the architecture of MMAction2's `TANet` backbone, whose Kinetics weights are the tag tanet_r50.k400.
@register_model(ModelInfo(num_frames=8, input_size=224, weights="imagenet", paper="liu2021tanet",
                          description="TANet-R50: TAM (= TEFE's TE) in every block, 8 frames"))
def tanet_r50(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tanet_r50", num_classes, pretrained, {"te": TABLE5["table5_row1"][0], "fe": _NO_FE}, kwargs)


register_tags(  # TANet's released checkpoint, next to the model
    "tanet_r50",
    k400=mmaction2(
        "tanet", "https://download.openmmlab.com/mmaction/v1.0/recognition/tanet/tanet_imagenet-pretrained-r50_8xb8-"
        "dense-1x1x8-100e_kinetics400-rgb/tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb_"
        "20220919-a34346bc.pth",
        "top-1 76.25, top-5 92.41 (8 frames 8 apart); README: '8 clips x 3 crop', the config's test pipeline: 10 "
        "dense clips (DenseSampleFrames) x 3 crops of 256 (ThreeCrop; --protocol release)",
        "TANet (Liu et al., ICCV 2021), MMAction2 tanet_imagenet-pretrained-r50_8xb8-dense-1x1x8-100e_kinetics400-rgb",
        sampler="mmaction_dense", frame_interval=8, **MMA_DENSE_TEST),
)


# Tiny variants (random init) for tests, the demo and `bench accuracy`: same placement rules, small widths.
_TINY_R50 = {"arch": "resnet50", "base_width": 16}  # the width of the baselines' tsn_r50_tiny / tsm_r50_tiny
_TINY_R18 = {"arch": "resnet18", "base_width": 16}


def _tiny_info(description: str) -> ModelInfo:
    return _info(description, input_size=64, weights=None)


@register_model(_tiny_info("tiny TEFE on ResNet-50 blocks, base width 16"))
def tefe_r50_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_r50_tiny", num_classes, pretrained, dict(_TINY_R50), kwargs)


@register_model(_tiny_info("tiny only-TE ablation on ResNet-50 blocks, base width 16"))
def tefe_te_only_r50_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_te_only_r50_tiny", num_classes, pretrained, {**_TINY_R50, "fe": _NO_FE}, kwargs)


@register_model(_tiny_info("tiny only-FE ablation on ResNet-50 blocks, base width 16"))
def tefe_fe_only_r50_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_fe_only_r50_tiny", num_classes, pretrained, {**_TINY_R50, "te": _NO_TE}, kwargs)


@register_model(_tiny_info("tiny TEFE on ResNet-18 (TE=1,1,1,1; FE=0,1,1,1), base width 16"))
def tefe_r18_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_r18_tiny", num_classes, pretrained, {**_TINY_R18, "te": _R18_TE, "fe": _R18_FE}, kwargs)


@register_model(_tiny_info("tiny only-TE ablation on ResNet-18 (TE=1,1,1,1), base width 16"))
def tefe_te_only_r18_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_te_only_r18_tiny", num_classes, pretrained, {**_TINY_R18, "te": _R18_TE, "fe": _NO_FE},
                  kwargs)


@register_model(_tiny_info("tiny only-FE ablation on ResNet-18 (FE=0,1,1,1), base width 16"))
def tefe_fe_only_r18_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> TEFE:
    return _build("tefe_fe_only_r18_tiny", num_classes, pretrained, {**_TINY_R18, "te": _NO_TE, "fe": _R18_FE},
                  kwargs)


# --------------------------------------------------------------------------- 8+16 frame ensemble


@torch.no_grad()
def ensemble_forward(models: Sequence[nn.Module], clips: Sequence[torch.Tensor],
                     average: Literal["prob", "logit"] = "prob", multi_label: bool = False) -> torch.Tensor:
    """Run each model on its own clip of the same videos (e.g. 8 and 16 frames) and average the scores."""
    if len(models) != len(clips):
        raise ModelError(f"ensemble: {len(models)} models but {len(clips)} clips")
    return average_scores([m(c).logits for m, c in zip(models, clips)], average, multi_label)
