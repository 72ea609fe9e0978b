"""Actionness overlays for ATR nets (the paper's Fig. 5): `actionlab explain` on a model with ARL.

    render(model, clip, frames, out_dir, class_names, block="auto", value="sigmoid") -> [PNG paths]

One PNG per chosen block: the frames on top, the frames under the block's
actionness map below (bilinearly upsampled to the frame size), titled with the
model's top prediction. `value` picks what is drawn:
  "sigmoid"  sigmoid(M), the gate of the adding/scaling distribution (Eqs. 10-11), on a
             fixed 0..1 scale, so a frame where the action is over shows a weak response,
             as in Fig. 5 (default);
  "softmax"  softmax of M over each frame's positions, the aggregation weights (Eq. 5),
             scaled by the clip's maximum;
  "raw"      M itself, min-max scaled over the whole clip.
`block`: "auto" (the default: the deepest ATR block whose map is at least 4x4 cells, as Grad-CAM picks its
layer - a deeper 1x1 or 2x2 map can only tint the frame; the largest map, with a warning, when none is),
"last" (the deepest block), "all" (one PNG each), "mean" (every block's map resized to the frame and
averaged), or a block name such as "layer3.5".
`boxes` [T, 4] (optional, frame pixels, NaN if unknown) draws the annotated box; `cmap`
("jet"), `alpha` (0.5, overlay opacity) and `dpi` (80) style the figure. Unknown options
are an error (a typo in `--opt` should not pass silently).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError, ModelError, require
from ..localisation import MIN_GRID, too_small_note
from ..metrics import scores_from_logits
from ..models.recognizer import evaluating

log = logging.getLogger(__name__)


def _display_frames(clip: torch.Tensor, frames: Any) -> np.ndarray:
    """uint8 [T, H, W, 3] for display: the given frames, else the clip min-max scaled."""
    if frames is not None:
        arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        while arr.ndim > 4:  # [V, T, H, W, 3] or [1, T, H, W, 3]: the first view
            arr = arr[0]
        if arr.ndim == 4 and arr.shape[-1] != 3 and arr.shape[0] == 3:  # [C, T, H, W]
            arr = arr.transpose(1, 2, 3, 0)
        if arr.dtype != np.uint8:
            lo, hi = float(arr.min()), float(arr.max())
            arr = ((arr - lo) / max(hi - lo, 1e-8) * 255).astype(np.uint8)
        return arr
    x = clip[0].detach().float().cpu()  # [C, T, H, W]
    low, high = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return ((x - low) / (high - low).clamp(min=1e-8) * 255).byte().permute(1, 2, 3, 0).numpy()


def actionness_values(actionness: torch.Tensor, value: str = "sigmoid") -> torch.Tensor:
    """[T, 1, h, w] maps of one video -> values in [0, 1] for display (see the module doc)."""
    m = actionness.detach().float()
    if value == "sigmoid":
        return torch.sigmoid(m)
    if value == "softmax":
        p = m.flatten(1).softmax(-1).view_as(m)
        return p / p.max().clamp(min=1e-12)
    if value == "raw":
        return (m - m.min()) / (m.max() - m.min()).clamp(min=1e-8)
    raise ModelError(f"explain option value must be sigmoid, softmax or raw, got {value!r}")


def deepest_readable_block(per_block: dict[str, torch.Tensor]) -> str:
    """The deepest block (the dict's order is the network's) whose map is >= MIN_GRID cells a side, else the
    deepest block with the largest map."""
    for name in reversed(per_block):
        if min(per_block[name].shape[-2:]) >= MIN_GRID:
            return name
    return max(reversed(per_block), key=lambda n: per_block[n].shape[-2] * per_block[n].shape[-1])


def select_maps(extras: dict[str, Any], block: str, size: tuple[int, int],
                value: str = "sigmoid") -> dict[str, torch.Tensor]:
    """{label: [T, H, W] in [0, 1]} for the first video, resized to the frame size."""
    per_block: dict[str, torch.Tensor] = extras.get("actionness_per_block") or {}
    if not per_block and isinstance(extras.get("actionness"), torch.Tensor):
        per_block = {"last": extras["actionness"]}
    if not per_block:
        raise ModelError("this model reports no actionness maps (an ATR net with ARL does; ATR_sim has none)")

    def resized(maps: torch.Tensor) -> torch.Tensor:
        vals = actionness_values(maps[0], value)  # [T, 1, h, w]
        return F.interpolate(vals, size=size, mode="bilinear", align_corners=False)[:, 0]

    if block == "auto":
        name = deepest_readable_block(per_block)
        return {name: resized(per_block[name])}
    if block == "last":
        name = next(reversed(per_block))
        return {name: resized(per_block[name])}
    if block == "all":
        return {name: resized(maps) for name, maps in per_block.items()}
    if block == "mean":
        return {"mean": torch.stack([resized(maps) for maps in per_block.values()]).mean(0)}
    if block not in per_block:
        raise ModelError(f"explain option block={block!r}: expected auto, last, all, mean or one of "
                         f"{list(per_block)}")
    return {block: resized(per_block[block])}


def render(model: torch.nn.Module, clip: torch.Tensor, frames: Any, out_dir: str | Path,
           class_names: list[str] | None = None, *, block: str = "auto", value: str = "sigmoid",
           boxes: Any = None, cmap: str = "jet", alpha: float = 0.5, dpi: int = 80, **unknown: Any) -> list[Path]:
    """Overlay the actionness maps of `model` on `frames` and save PNGs in `out_dir`.

    clip: the normalised model input [1, C, T, H, W] (or [C, T, H, W]); frames: the same
    frames for display, uint8 [T, H, W, 3] (None: the clip, min-max scaled).
    """
    if unknown:
        raise ConfigError(f"unknown actionness option(s) {sorted(unknown)}: expected block, value, boxes, cmap, "
                          "alpha, dpi")
    require("matplotlib", "viz", "actionness overlays")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if clip.dim() == 4:
        clip = clip.unsqueeze(0)
    with evaluating(model):
        out = model(clip)
    images = _display_frames(clip, frames)
    t, height, width = images.shape[:3]
    maps = select_maps(out.extras, block, (height, width), value)
    probs = scores_from_logits(out.logits[0])
    top = int(probs.argmax())
    label = class_names[top] if class_names and top < len(class_names) else f"class {top}"
    box_arr = None if boxes is None else np.asarray(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, t, 4)[0])

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    grids = {n: tuple(m.shape[-2:]) for n, m in (out.extras.get("actionness_per_block") or {}).items()}
    for name, heat in maps.items():
        grid = grids.get(name) or min(grids.values(), key=min, default=(0, 0))
        note = too_small_note(grid)
        if note:
            log.warning("actionness of %s: %s", name, note)
        fig = Figure(figsize=(1.8 * t, 3.9))
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, t, squeeze=False)
        for i in range(t):
            axes[0, i].imshow(images[i])
            axes[0, i].set_title(f"frame {i + 1}", fontsize=8)
            axes[1, i].imshow(images[i])
            shown = axes[1, i].imshow(heat[i].numpy(), cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
            if box_arr is not None and not np.isnan(box_arr[i]).any():
                x1, y1, x2, y2 = box_arr[i]
                axes[1, i].add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="white", lw=1.2))
            for ax in axes[:, i]:
                ax.axis("off")
        fig.colorbar(shown, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01)
        fig.suptitle(f"actionness ({value}) of {name}: predicted '{label}' ({float(probs[top]):.2f})"
                     + (f"\n{note}" if note else ""), fontsize=9)
        path = out_dir / f"actionness_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths
