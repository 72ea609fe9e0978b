"""What every explanation needs: a checkpoint's model, one clip of a video, the frames it saw.

    inp = load_input("runs/tsm/checkpoints/best.pt", "video.mp4")
    paths = render(resolve_kind(inp.model), inp.model, inp.clip, inp.frames, "out/", inp.class_names)

`render` dispatches to `actionlab.explain.<kind>.render(model, clip, frames, out_dir,
class_names, **opts) -> list[Path]`; the kind is the one asked for, else the model's
`explain_kind` attribute (TEFE: gradcam, ATR: actionness, ART: tracklets, TFE: attention),
else "gradcam".  The clip goes through the checkpoint's own test pipeline (`actionlab.api`),
and `frames` are exactly the uint8 crops the model sees, so overlays line up pixel for pixel.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError
from ..strategy import unwrap

DEFAULT_KIND = "gradcam"
# every explanation kind: the module actionlab/explain/<kind>.py, whose `render` draws it (imported when used)
KINDS: dict[str, str] = {
    "gradcam": "Grad-CAM on the last feature maps (TEFE, and the default for any CNN)",
    "actionness": "ATR's frame-wise actionness maps",
    "tracklets": "ART's region tracklets and its semantic bank",
    "attention": "TFE's temporal attention over segments",
}


@dataclass
class ExplainInput:
    model: nn.Module  # eval mode, weights loaded
    clip: torch.Tensor  # normalised float [1, C, T, S, S]: the model's input
    frames: torch.Tensor  # uint8 [T, S, S, 3]: the same crops, for display
    class_names: list[str]
    video: str


def load_input(checkpoint: str | Path, video: str | Path, device: str = "auto") -> ExplainInput:
    """The checkpoint's model and the first test view (1 clip x centre crop) of `video`."""
    from ..api import load

    predictor = load(checkpoint, device=device)
    views = predictor.clips_from_video(video, "1x1")  # uint8 [V, 3, T, S, S]
    clip = predictor.preprocess.normalise(views[:1]).to(predictor.device)
    frames = views[0].permute(1, 2, 3, 0).contiguous()
    return ExplainInput(predictor.model, clip, frames, predictor.class_names, str(video))


def available_kinds() -> list[str]:
    """The explanation kinds (KINDS)."""
    return sorted(KINDS)


def resolve_kind(model: nn.Module, kind: str | None = None) -> str:
    return kind or str(getattr(unwrap(model), "explain_kind", DEFAULT_KIND))


def render(kind: str, model: nn.Module, clip: torch.Tensor, frames: Any, out_dir: str | Path,
           class_names: list[str], **opts: Any) -> list[Path]:
    """`actionlab.explain.<kind>.render(...)`; a kind that does not exist is a one-line ConfigError."""
    kinds = available_kinds()
    if kind not in kinds:
        raise ConfigError(f"unknown explanation kind '{kind}', expected one of {', '.join(kinds)}")
    module = importlib.import_module(f"actionlab.explain.{kind}")
    return list(module.render(model, clip, frames, Path(out_dir), class_names, **opts))
