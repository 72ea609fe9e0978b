"""Key converters: official video-model checkpoints -> actionlab's parameter names.

Layouts (read from the releases' code, never copied):

  tsm        mit-han-lab/temporal-shift-module (`ops/models.py`, `ops/temporal_shift.py`):
             a DataParallel-wrapped TSN with a torchvision ResNet as `base_model`, the residual
             shift wrapping each block's conv1 (`layerX.Y.conv1.net.weight`), the ImageNet fc
             replaced by dropout and the classifier called `new_fc`:
                 module.base_model.layer1.0.conv1.net.weight -> backbone.layer1.0.conv1.weight
                 module.new_fc.weight                        -> fc.weight
  mmaction2  open-mmlab/mmaction2 v1.x recognizers (`backbone.*`, `cls_head.fc_cls.*`) whose
             ResNets are built from ConvModules (`conv1.conv` + `conv1.bn`, `downsample.conv` /
             `downsample.bn`):
                 backbone.conv1.conv.weight                 -> backbone.conv1.weight
                 backbone.conv1.bn.running_mean             -> backbone.bn1.running_mean
                 backbone.layer1.0.conv2.bn.weight          -> backbone.layer1.0.bn2.weight
                 backbone.layer1.0.downsample.bn.weight     -> backbone.layer1.0.downsample.1.weight
                 cls_head.fc_cls.weight                     -> fc.weight
             TSM (`ResNetTSM`, blockres): the shift wraps the conv inside conv1:
                 backbone.layer1.0.conv1.conv.net.weight    -> backbone.layer1.0.conv1.weight
             TANet (`TABlock`): every block wrapped as `.block`, its TAM as `.tam` with the global
             branch `G` (Linear, BN1d, ReLU, Linear) and the local branch `L` (Conv1d, BN1d, ReLU,
             Conv1d) = our TE's `long_term` and `short_term` (same layer order, same shapes):
                 backbone.layer1.0.block.conv1.conv.weight  -> backbone.layer1.0.conv1.weight
                 backbone.layer1.0.tam.G.0.weight           -> backbone.layer1.0.after_conv1.long_term.0.weight
                 backbone.layer1.0.tam.L.3.weight           -> backbone.layer1.0.after_conv1.short_term.3.weight
             SlowOnly (`ResNet3dSlowOnly`): 3D kernels; those with one time tap ([o, i, 1, kh, kw],
             all but the 3x1x1 conv1 of stages 4-5) are squeezed to our 2D ones.

Keys no rule covers (`data_preprocessor.*`, a non-local block) pass through unchanged, so the
load report lists them as unused.  `to_actionlab` returns a plain {name: tensor} dict.

Identity (`file_identity`): TSN and TSM have the same tensors (the shift has no parameters), so
a file's key names are the only record of which network it was trained as.  The releases wrap
the shifted conv (`conv1.net.` / `conv1.conv.net.`), TANet's blocks (`block.`, `tam.`), and
SlowOnly's convs are 3D; a file without these marks is a TSN.  A pretrained tag accepts only a
file of its own release layout and architecture (`pretrained.check_identity`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch

LAYOUTS = ("actionlab", "tsm", "mmaction2")

_TSM_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^base_model\."), "backbone."),
    (re.compile(r"\.conv1\.net\."), ".conv1."),
    (re.compile(r"^new_fc\."), "fc."),
]

_BLOCK = r"(layer\d+\.\d+)"
_MMA_BACKBONE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"^{_BLOCK}\.block\."), r"\1."),  # TANet's TABlock wrapper
    (re.compile(rf"^{_BLOCK}\.tam\.G\."), r"\1.after_conv1.long_term."),
    (re.compile(rf"^{_BLOCK}\.tam\.L\."), r"\1.after_conv1.short_term."),
    (re.compile(r"^conv1\.conv\."), "conv1."),
    (re.compile(r"^conv1\.bn\."), "bn1."),
    (re.compile(rf"^{_BLOCK}\.conv(\d)\.conv\.(net\.)?"), r"\1.conv\2."),  # net.: TSM's shift wrapper
    (re.compile(rf"^{_BLOCK}\.conv(\d)\.bn\."), r"\1.bn\2."),
    (re.compile(rf"^{_BLOCK}\.downsample\.conv\."), r"\1.downsample.0."),
    (re.compile(rf"^{_BLOCK}\.downsample\.bn\."), r"\1.downsample.1."),
]


def strip_module(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """DataParallel / DistributedDataParallel's `module.` prefix off every key (only when all have it)."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def detect_layout(sd: dict[str, torch.Tensor]) -> str:
    """'tsm', 'mmaction2' or 'actionlab' (also torchvision / timm 2D nets, which need no renaming here)."""
    keys = strip_module(sd).keys()
    if any(k.startswith("base_model.") for k in keys):
        return "tsm"
    if any(k.startswith("cls_head.") for k in keys) or any(
            re.match(rf"^backbone\.(conv1\.conv\.weight$|{_BLOCK}\.(block|tam)\.)", k) for k in keys):
        return "mmaction2"
    return "actionlab"


ARCH_NAMES = {"tsn": "TSN (2D ResNet, no temporal module)", "tsm": "TSM (temporal shift)",
              "tanet": "TANet (TAM in every block)", "slowonly": "SlowOnly (3D ResNet)"}
LAYOUT_NAMES = {"tsm": "the TSM release's layout (module.base_model.*, new_fc)",
                "mmaction2": "MMAction2's layout (backbone.*, cls_head.fc_cls)",
                "actionlab": "actionlab's own layout (backbone.*, fc): a training checkpoint or export, not a release "
                             "(load it with --checkpoint FILE, actionlab.load(FILE) in Python)",
                "plain": "a plain 2D network's layout (conv1.*, layer1.*: torchvision / timm names, e.g. an ImageNet "
                         "file)"}
# the key that shows each (layout, architecture), as the release writes it
EVIDENCE = {("tsm", "tsm"): "module.base_model.layer1.0.conv1.net.weight",
            ("tsm", "tsn"): "module.base_model.layer1.0.conv1.weight",
            ("mmaction2", "tsm"): "backbone.layer1.0.conv1.conv.net.weight",
            ("mmaction2", "tsn"): "backbone.layer1.0.conv1.conv.weight",
            ("mmaction2", "tanet"): "backbone.layer1.0.block.conv1.conv.weight",
            ("mmaction2", "slowonly"): "backbone.layer3.0.conv1.conv.weight [o, i, 3, 1, 1]"}


def file_identity(sd: dict[str, torch.Tensor]) -> tuple[str, str | None]:
    """(layout, architecture) a state dict was written as: ('tsm', 'tsn') for a TSN in the TSM release's
    layout; architecture None where the names cannot tell (actionlab's own layout, a bare backbone)."""
    layout = detect_layout(sd)
    keys = list(strip_module(sd))
    if layout == "tsm":
        shifted = any(re.search(r"^base_model\.layer\d+\.\d+\.(conv1\.)?net\.", k) for k in keys)
        return layout, "tsm" if shifted else "tsn"
    if layout == "mmaction2":
        if any(re.match(rf"^backbone\.{_BLOCK}\.(block|tam)\.", k) for k in keys):
            return layout, "tanet"
        if any(re.match(rf"^backbone\.{_BLOCK}\.conv\d\.conv\.net\.", k) for k in keys):
            return layout, "tsm"
        if any(k.startswith("backbone.") and v.dim() == 5 and v.shape[2] > 1 for k, v in strip_module(sd).items()):
            return layout, "slowonly"
        return layout, "tsn"
    if not any(k.startswith("backbone.") for k in keys):
        return "plain", None
    return layout, None


def _rename(key: str, rules: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, repl in rules:
        key = pattern.sub(repl, key)
    return key


def from_tsm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """mit-han-lab/temporal-shift-module checkpoint -> our names (see the module docstring)."""
    return {_rename(k, _TSM_RULES): v for k, v in strip_module(sd).items()}


def from_mmaction2(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMAction2 TSN / TSM / TANet / SlowOnly recognizer -> our names; 1-tap 3D kernels -> 2D."""
    out: dict[str, torch.Tensor] = {}
    for key, value in strip_module(sd).items():
        if key.startswith("backbone."):
            rest = _rename(key[len("backbone."):], _MMA_BACKBONE_RULES)
            if value.dim() == 5 and value.shape[2] == 1 and rest.endswith("weight"):
                value = value.squeeze(2)  # SlowOnly: a [o, i, 1, kh, kw] kernel is a 2D conv per frame
            key = "backbone." + rest
        elif key.startswith("cls_head.fc_cls."):
            key = "fc." + key[len("cls_head.fc_cls."):]
        out[key] = value
    return out


CONVERTERS: dict[str, Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]] = {
    "tsm": from_tsm,
    "mmaction2": from_mmaction2,
    "actionlab": strip_module,
}


def to_actionlab(sd: dict[str, torch.Tensor], layout: str = "auto") -> dict[str, torch.Tensor]:
    """Rename a state dict of `layout` ('auto' detects it) into actionlab's names."""
    layout = detect_layout(sd) if layout == "auto" else layout
    if layout not in CONVERTERS:
        raise ValueError(f"unknown checkpoint layout '{layout}', expected one of {LAYOUTS}")
    return CONVERTERS[layout](sd)
