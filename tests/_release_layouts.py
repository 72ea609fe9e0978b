"""Files in the official releases' key layouts, written from our own (random) weights.

An independent reading of the releases' code, not convert.py's rules:
  TSM release (mit-han-lab/temporal-shift-module): DataParallel's `module.`, the TSN wrapper's
    `base_model.`, the shift wrapping each block's conv1 (`conv1.net.`; a TSN trained with that code
    has no wrapper) and the classifier `new_fc`, inside {"state_dict": ...}.
  MMAction2 1.x: `backbone.` ConvModules (`conv1.conv`, `conv1.bn`), `cls_head.fc_cls`; TSM's shift
    inside the block's conv (`conv1.conv.net.`), TANet's `block.` / `tam.G` / `tam.L`, SlowOnly's
    3D kernels.
"""

from __future__ import annotations

import re

import torch


def randomise(model):
    """Random BN statistics and affine parameters, so that a BN mapped to the wrong place shows."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        model.fc.weight.normal_(0, 0.5, generator=g)
    return model.eval()


def to_tsm_release(sd, shift: bool = True):
    """Our names -> mit-han-lab/temporal-shift-module's (DataParallel, base_model, conv1.net, new_fc);
    shift=False: a TSN trained with the same code (no shift wrapper)."""
    out = {}
    for k, v in sd.items():
        if k.startswith("fc."):
            k = "new_fc." + k[3:]
        else:
            k = "base_model." + k[len("backbone."):]
            if shift:
                k = re.sub(r"^(base_model\.layer\d\.\d+)\.conv1\.", r"\1.conv1.net.", k)
        out["module." + k] = v
    return {"epoch": 50, "arch": "resnet50", "state_dict": out, "best_prec1": 71.2}


def to_mmaction2(sd, kind):
    """Our names -> MMAction2's ConvModule names (+ TSM's conv.net, TANet's block/tam, SlowOnly's 3D kernels)."""
    out = {}
    for k, v in sd.items():
        if k.startswith("fc."):
            out["cls_head.fc_cls." + k[3:]] = v
            continue
        k = k[len("backbone."):]
        if kind == "slowonly" and k.endswith("weight") and v.dim() == 4 and "bn" not in k and "downsample.1" not in k:
            v = v.unsqueeze(2)  # every 2D conv of ResNet3dSlowOnly is a 1 x kh x kw 3D conv
        m = re.match(r"^(layer\d\.\d+)\.(.+)$", k)
        if m is None:  # stem
            k = {"conv1.weight": "conv1.conv.weight"}.get(k, re.sub(r"^bn1\.", "conv1.bn.", k))
        else:
            blk, rest = m.groups()
            if rest.startswith("after_conv1."):
                rest = rest.replace("after_conv1.long_term.", "tam.G.").replace("after_conv1.short_term.", "tam.L.")
                out[f"backbone.{blk}.{rest}"] = v
                continue
            rest = re.sub(r"^conv(\d)\.", r"conv\1.conv.", rest)
            rest = re.sub(r"^bn(\d)\.", r"conv\1.bn.", rest)
            rest = rest.replace("downsample.0.", "downsample.conv.").replace("downsample.1.", "downsample.bn.")
            if kind == "tsm":
                rest = rest.replace("conv1.conv.", "conv1.conv.net.")
            k = f"{blk}.block.{rest}" if kind == "tanet" else f"{blk}.{rest}"
        out["backbone." + k] = v
    return {"meta": {"mmaction_version": "1.0.0"}, "state_dict": out}


def official(tag, sd):
    """`sd` (our names) as the file `tag`'s release publishes."""
    if tag.layout == "tsm":
        return to_tsm_release(sd)
    return to_mmaction2(sd, tag.model.split("_")[0])
