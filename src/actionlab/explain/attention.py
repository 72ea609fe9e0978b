"""Temporal attention under the video's frames: the TFE paper's Fig. 4.

    render(model, clip, frames, out_dir, class_names, **opts) -> [PNG path]

Row 1 shows the clip's T frames; below it, one strip per model with its temporal attention
over the T segments (`extras["attention"]` [N, T]), white = high, black = low, each strip
scaled to its own maximum.  With a second model (`compare_model`) both strips are drawn,
the vanilla model's above TFE's as in the paper (models that are not TFE come first).
Annotated action segments (`action_mask`) are framed green, the others red, as the
paper's boxes are, and the temporal fidelity of each strip (attention mass on the action,
ranking AUC; see `actionlab.fidelity`) is printed beside it.

clip: one normalised clip [1, C, T, H, W] (or [C, T, H, W]); frames: uint8 [T, H, W, 3]
for display (None: the clip is rescaled for display).

Options: compare_model (a second recognizer), compare_clip (its own normalised clip when
its normalisation differs), compare_checkpoint (a second training checkpoint instead: its
clip is `frames` normalised with its own mean/std; what `actionlab explain --opt
compare_checkpoint=runs/vanilla/checkpoints/best.pt` uses), labels (row names, default each
model's registered name),
action_mask (bool [T]), label (true class name or index, for the title), prefix
("attention"), dpi (100).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..errors import ModelError
from ..fidelity import per_clip_fidelity
from ..metrics import scores_from_logits
from ..models.recognizer import evaluating, name_of


@dataclass
class AttentionResult:
    attention: np.ndarray  # [T], sums to 1
    class_index: int
    probability: float
    name: str


def _one_clip(clip: torch.Tensor) -> torch.Tensor:
    if clip.dim() == 4:
        clip = clip.unsqueeze(0)
    if clip.dim() != 5 or clip.shape[0] != 1:
        raise ModelError(f"attention explains one clip [1, C, T, H, W], got shape {tuple(clip.shape)}")
    return clip


def _model_name(model: nn.Module) -> str:
    return name_of(model)


def temporal_attention(model: nn.Module, clip: torch.Tensor, name: str | None = None) -> AttentionResult:
    """Run `model` in eval mode on one clip; its temporal attention [T] and top prediction."""
    clip = _one_clip(clip)
    with evaluating(model):
        out = model(clip)
    attention = out.extras.get("attention")
    if attention is None:
        raise ModelError(f"model {_model_name(model)} gives no temporal attention (extras['attention'])")
    att = attention[0].detach().float().cpu().clamp_min(0)
    att = att / att.sum().clamp_min(1e-12)
    logits = out.logits[0].detach().float().cpu()
    probs = scores_from_logits(logits, bool(getattr(model, "multi_label", False)))
    k = int(probs.argmax())
    return AttentionResult(att.numpy(), k, float(probs[k]), name or _model_name(model))


def _display_frames(clip: torch.Tensor, frames: Any) -> np.ndarray:
    """uint8 [T, H, W, 3]: the given frames, else the clip min-max rescaled."""
    if frames is not None:
        arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        if arr.ndim == 4 and arr.shape[0] == 3 and arr.shape[-1] != 3:  # [3, T, H, W]
            arr = arr.transpose(1, 2, 3, 0)
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ModelError(f"explain frames must be [T, H, W, 3], got shape {arr.shape}")
        if arr.dtype != np.uint8:
            arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        return arr
    x = clip[0].detach().float().cpu()  # [C, T, H, W]
    x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return (x.permute(1, 2, 3, 0).numpy() * 255).astype(np.uint8)


def _load_comparison(checkpoint: str, clip: torch.Tensor, frames: Any) -> tuple[nn.Module, torch.Tensor]:
    """A second checkpoint's model and the same frames normalised for it."""
    from ..api import load

    if frames is None:
        raise ModelError("compare_checkpoint needs the display frames (uint8 [T, H, W, 3]) to build its clip")
    predictor = load(checkpoint, device=str(clip.device))
    images = torch.as_tensor(np.asarray(frames.cpu() if isinstance(frames, torch.Tensor) else frames))
    uint8 = images.permute(3, 0, 1, 2).unsqueeze(0).contiguous()  # [1, 3, T, H, W]
    return predictor.model, predictor.preprocess.normalise(uint8.to(clip.device)).float()


def _order(results: list[AttentionResult], is_tfe: list[bool]) -> list[AttentionResult]:
    """The paper's order: the vanilla model's strip above TFE's."""
    return [r for r, tfe in sorted(zip(results, is_tfe), key=lambda pair: pair[1])]


def _class_name(class_names: Sequence[str], k: int) -> str:
    return class_names[k] if 0 <= k < len(class_names) else str(k)


def render(model: nn.Module, clip: torch.Tensor, frames: Any, out_dir: str | Path, class_names: Sequence[str],
           **opts: Any) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from ..models.tfe import TFEModel

    clip = _one_clip(clip)
    if opts.get("compare_checkpoint") and opts.get("compare_model") is None:
        opts["compare_model"], opts["compare_clip"] = _load_comparison(str(opts["compare_checkpoint"]), clip, frames)
    labels = list(opts.get("labels") or [])
    models = [model] + ([opts["compare_model"]] if opts.get("compare_model") is not None else [])
    clips = [clip] + ([_one_clip(opts.get("compare_clip", clip))] if len(models) > 1 else [])
    results = [temporal_attention(m, c, labels[i] if i < len(labels) else None)
               for i, (m, c) in enumerate(zip(models, clips))]
    results = _order(results, [isinstance(m, TFEModel) for m in models])
    images = _display_frames(clip, frames)
    t = images.shape[0]
    if any(r.attention.shape[0] != t for r in results):
        raise ModelError(f"explain got {t} display frames but attention over "
                         f"{[r.attention.shape[0] for r in results]} segments")
    mask = opts.get("action_mask")
    mask = None if mask is None else torch.as_tensor(mask).bool().reshape(-1)
    if mask is not None and mask.numel() != t:
        raise ModelError(f"action_mask has {mask.numel()} entries for {t} segments")

    rows = 1 + len(results)
    height = 1.2 + 0.75 * len(results) + 0.3 + 0.5  # + 0.5 in above the frames: the title, clear of their numbers
    fig = plt.figure(figsize=(max(6.0, 1.1 * t), height))
    grid = fig.add_gridspec(rows, t, height_ratios=[1.6] + [0.75] * len(results), wspace=0.05, hspace=0.55,
                            top=1 - 0.55 / height)
    for i in range(t):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(images[i])
        ax.set_xticks([])
        ax.set_yticks([])
        if mask is not None:  # Fig. 4's boxes: green = annotated action, red = not
            color = "#1a9850" if mask[i] else "#d73027"
            ax.add_patch(Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, lw=3, edgecolor=color))
        ax.set_title(f"{i + 1}", fontsize=7)
    for row, res in enumerate(results, start=1):
        ax = fig.add_subplot(grid[row, :])
        peak = max(float(res.attention.max()), 1e-12)
        ax.imshow(res.attention[None] / peak, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto",
                  extent=(-0.5, t - 0.5, 0.5, -0.5))
        for i, value in enumerate(res.attention):
            ax.text(i, 0, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value / peak > 0.5 else "white")
        ax.set_xticks([])
        ax.set_yticks([])
        text = f"{res.name}: {_class_name(class_names, res.class_index)} ({res.probability:.2f})"
        if mask is not None:
            mass, chance, auc, valid = per_clip_fidelity(torch.as_tensor(res.attention)[None], mask[None])
            if bool(valid[0]):
                text += (f" | attention on action {float(mass[0]):.2f} (uniform {float(chance[0]):.2f}),"
                         f" AUC {float(auc[0]):.2f}")
        ax.set_title(text, fontsize=8, loc="left")
    title = "temporal attention"
    label = opts.get("label")
    if label is not None:
        title += f" | true class: {_class_name(class_names, label) if isinstance(label, int) else label}"
    if mask is not None:
        title += " | frame border: green = annotated action, red = not"
    fig.suptitle(title, fontsize=9, y=1 - 0.08 / height, va="top")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{opts.get('prefix', 'attention')}.png"
    fig.savefig(path, dpi=int(opts.get("dpi", 100)), bbox_inches="tight")
    plt.close(fig)
    return [path]
