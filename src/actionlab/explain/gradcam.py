"""Grad-CAM (Selvaraju et al.) for CNN recognizers; the middle frame by default, as in TEFE's Fig. 11.

    render(model, clip, frames, out_dir, class_names, **opts) -> [PNG paths]

For the class c (the top prediction unless `class_index` is given), with A the
activations of the target layer for one frame and y^c the video's score:

    alpha_k = mean over positions of d y^c / d A_k      (per channel k)
    CAM     = ReLU(sum_k alpha_k A_k)                   upsampled to the frame, scaled to [0, 1]

The target layer is, in order: the `target_layer` option (a module name such as
"backbone.layer3"); the backbone's last stage `backbone.layer4` (TSN, TSM, TEFE,
ATR on ResNets); the "feature_maps" extra a TSN-style model returns. Frame-wise
activations [N*T', D, h, w] and 3D ones [N, D, T', h, w] are both understood;
when T' differs from the clip's T, frame t maps to activation t * T' // T.

Options: class_index (int or class name), frame ("middle", "all" or an index),
target_layer, alpha (overlay opacity, 0.5), cmap ("jet"), label (true class for
the title), prefix ("gradcam"), dpi (100). `render_comparison` draws Fig. 11's
layout: the frame, then one overlay per model (e.g. TSN next to TEFE).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError


@dataclass
class GradCAM:
    """Grad-CAM maps of one video: `maps` [T', h, w] (>= 0, unscaled) for the class `class_index`."""

    maps: torch.Tensor
    class_index: int
    probability: float
    num_frames: int  # T of the clip

    def frame_map(self, t: int, size: tuple[int, int]) -> np.ndarray:
        """The map of clip frame t, bilinearly resized to `size` (H, W) and scaled to [0, 1]."""
        idx = min(t * self.maps.shape[0] // self.num_frames, self.maps.shape[0] - 1)
        cam = F.interpolate(self.maps[idx][None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
        cam = cam.clamp(min=0)
        return (cam / cam.max().clamp(min=1e-12)).numpy()


def _default_target(model: nn.Module) -> nn.Module | None:
    backbone = getattr(model, "backbone", None)
    return getattr(backbone, "layer4", None) if backbone is not None else None


def _as_frames(act: torch.Tensor, n: int) -> torch.Tensor:
    """Activations of one video as [T', D, h, w]."""
    if act.dim() == 5:  # [N, D, T', h, w] (3D CNNs)
        return act[0].transpose(0, 1)
    if act.dim() == 4:  # [N*T', D, h, w] (frame-wise 2D backbones)
        return act.reshape(n, act.shape[0] // n, *act.shape[1:])[0]
    raise ModelError(f"Grad-CAM needs 4D or 5D activations, got shape {tuple(act.shape)}; set target_layer")


def compute_gradcam(model: nn.Module, clip: torch.Tensor, class_index: int | None = None,
                    target_layer: str | None = None) -> GradCAM:
    """Grad-CAM maps for every frame of one normalised clip [1, C, T, H, W] (or [C, T, H, W])."""
    if clip.dim() == 4:
        clip = clip.unsqueeze(0)
    if clip.dim() != 5 or clip.shape[0] != 1:
        raise ModelError(f"Grad-CAM explains one clip [1, C, T, H, W], got shape {tuple(clip.shape)}")
    if target_layer is not None:
        try:
            module: nn.Module | None = model.get_submodule(target_layer)
        except AttributeError:
            raise ModelError(f"explain option target_layer: model has no module '{target_layer}'") from None
    else:
        module = _default_target(model)
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, i, o: captured.append(o)) if module is not None else None
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(clip)
            if module is not None:
                if not captured:
                    raise ModelError(f"Grad-CAM target layer {target_layer or 'backbone.layer4'} did not run")
                act = captured[-1]
            elif isinstance(out.extras.get("feature_maps"), torch.Tensor):
                act = out.extras["feature_maps"]
            else:
                raise ModelError(f"Grad-CAM: {type(model).__name__} has no backbone.layer4 and returns no "
                                 "'feature_maps'; pass the explain option target_layer=<module name>")
            logits = out.logits[0]
            k = int(logits.argmax()) if class_index is None else int(class_index)
            if not 0 <= k < logits.numel():
                raise ModelError(f"explain option class_index {k} is outside 0..{logits.numel() - 1}")
            if not act.requires_grad:
                raise ModelError("Grad-CAM: the target activations do not depend on trainable weights")
            (grad,) = torch.autograd.grad(logits[k], act)
    finally:
        if handle is not None:
            handle.remove()
        model.train(was_training)
    a, g = _as_frames(act.detach().float(), 1), _as_frames(grad.float(), 1)  # [T', D, h, w]
    weights = g.mean((2, 3), keepdim=True)  # alpha_k per frame
    maps = F.relu((weights * a).sum(1))
    prob = float(torch.softmax(logits.detach().float(), -1)[k])
    return GradCAM(maps.cpu(), k, prob, clip.shape[2])


def display_frames(clip: torch.Tensor, frames: Any = None) -> np.ndarray:
    """uint8 [T, H, W, 3] for display: the given frames ([T, H, W, 3] or [3, T, H, W]), else the clip rescaled."""
    if frames is not None:
        arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        while arr.ndim > 4:  # [V, T, H, W, 3]: the first view
            arr = arr[0]
        if arr.ndim == 4 and arr.shape[-1] != 3 and arr.shape[0] == 3:
            arr = arr.transpose(1, 2, 3, 0)
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise ModelError(f"explain frames must be [T, H, W, 3], got shape {arr.shape}")
        if arr.dtype != np.uint8:
            lo, hi = float(arr.min()), float(arr.max())
            arr = ((arr - lo) / max(hi - lo, 1e-8) * 255).astype(np.uint8)
        return arr
    x = (clip[0] if clip.dim() == 5 else clip).detach().float().cpu()  # [C, T, H, W]
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return ((x - lo) / (hi - lo).clamp(min=1e-8) * 255).byte().permute(1, 2, 3, 0).numpy()


def _frame_indices(frame: int | str, num_frames: int) -> list[int]:
    if frame == "middle":
        return [num_frames // 2]
    if frame == "all":
        return list(range(num_frames))
    try:
        t = int(frame)
    except (TypeError, ValueError):
        raise ModelError(f"explain option frame must be 'middle', 'all' or an index, got {frame!r}") from None
    if not -num_frames <= t < num_frames:
        raise ModelError(f"explain option frame {t} is outside the clip's {num_frames} frames")
    return [t % num_frames]


def _class_index(value: int | str | None, class_names: Sequence[str]) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if str(value).isdigit():
        return int(value)
    if value in class_names:
        return list(class_names).index(value)
    raise ModelError(f"explain option class_index: '{value}' is neither an index nor a class name")


def _name(class_names: Sequence[str], k: int) -> str:
    return class_names[k] if 0 <= k < len(class_names) else str(k)


def _overlay(ax: Any, image: np.ndarray, cam: np.ndarray | None, title: str, alpha: float, cmap: str) -> None:
    ax.imshow(image)
    if cam is not None:
        ax.imshow(cam, cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def render(model: nn.Module, clip: torch.Tensor, frames: Any, out_dir: str | Path, class_names: Sequence[str],
           **opts: Any) -> list[Path]:
    """Grad-CAM overlays of the chosen frame(s) (middle by default): one PNG per frame, the frame beside its map."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    unknown = set(opts) - {"class_index", "frame", "target_layer", "alpha", "cmap", "label", "prefix", "dpi"}
    if unknown:
        raise ModelError(f"unknown Grad-CAM option '{sorted(unknown)[0]}'")
    cam = compute_gradcam(model, clip, _class_index(opts.get("class_index"), class_names), opts.get("target_layer"))
    images = display_frames(clip, frames)
    if images.shape[0] != cam.num_frames:
        raise ModelError(f"explain got {images.shape[0]} display frames for a clip of {cam.num_frames}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    alpha, cmap, dpi = float(opts.get("alpha", 0.5)), str(opts.get("cmap", "jet")), int(opts.get("dpi", 100))
    title = f"Grad-CAM: {_name(class_names, cam.class_index)} (p={cam.probability:.2f})"
    if opts.get("label") is not None:
        title += f", true: {opts['label']}"
    paths = []
    for t in _frame_indices(opts.get("frame", "middle"), cam.num_frames):
        image = images[t]
        fig = Figure(figsize=(6.4, 3.4))
        axes = fig.subplots(1, 2)
        _overlay(axes[0], image, None, f"frame {t + 1}/{cam.num_frames}", alpha, cmap)
        _overlay(axes[1], image, cam.frame_map(t, image.shape[:2]), title, alpha, cmap)
        fig.tight_layout()
        path = out / f"{opts.get('prefix', 'gradcam')}_frame{t:02d}.png"
        fig.savefig(path, dpi=dpi)
        paths.append(path)
    return paths


def render_comparison(models: Mapping[str, nn.Module], clip: torch.Tensor, frames: Any, out_path: str | Path,
                      class_names: Sequence[str], class_index: int | str | None = None, frame: int | str = "middle",
                      alpha: float = 0.5, cmap: str = "jet", dpi: int = 100) -> Path:
    """Fig. 11's layout for one clip: the frame, then each model's Grad-CAM of it (e.g. TSN, TEFE)."""
    from matplotlib.figure import Figure

    images = display_frames(clip, frames)
    (t,) = _frame_indices(frame, images.shape[0]) if frame != "all" else (images.shape[0] // 2,)
    fig = Figure(figsize=(3.2 * (len(models) + 1), 3.4))
    axes = fig.subplots(1, len(models) + 1)
    _overlay(axes[0], images[t], None, f"input, frame {t + 1}/{images.shape[0]}", alpha, cmap)
    k = _class_index(class_index, class_names)
    for ax, (name, model) in zip(axes[1:], models.items()):
        cam = compute_gradcam(model, clip, k)
        _overlay(ax, images[t], cam.frame_map(t, images.shape[1:3]),
                 f"{name}: {_name(class_names, cam.class_index)} ({cam.probability:.2f})", alpha, cmap)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out
