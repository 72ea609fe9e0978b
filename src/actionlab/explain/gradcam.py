"""Grad-CAM (Selvaraju et al.) for CNN recognizers: the frame with the strongest map, large, and every frame.

    render(model, clip, frames, out_dir, class_names, **opts) -> [PNG paths]

For the class c (the top prediction unless `class_index` is given), with A the
activations of the target layer for one frame and y^c the video's score:

    alpha_k = mean over positions of d y^c / d A_k      (per channel k)
    CAM     = ReLU(sum_k alpha_k A_k)                   upsampled to the frame, scaled to [0, 1]

The target layer is, in order: the `target_layer` option (a module name such as
"backbone.layer3"); the deepest ResNet stage `backbone.layer4 .. layer1` whose map is at
least MIN_MAP x MIN_MAP (TSN, TSM, TEFE, ATR; at 32 px layer4 is 1x1 and its "map" a uniform
tint, so layer2 is taken); the "feature_maps" extra a TSN-style model returns. A map
smaller than MIN_MAP x MIN_MAP is used only when nothing larger exists, with a warning. Frame-wise
activations [N*T', D, h, w] and 3D ones [N, D, T', h, w] are both understood;
when T' differs from the clip's T, frame t maps to activation t * T' // T.

Options: class_index (int or class name), frame ("strongest" - the frame whose map peaks highest,
the default -, "middle", "all" or a frame number 1..T, counted as in the titles and file names),
target_layer, alpha (overlay opacity, 0.5), cmap ("jet"), label (true class for
the title), prefix ("gradcam"), dpi (100).  Each PNG (<prefix>_frame<NN>.png, NN the frame number of
its title) shows the chosen frame and its map (with a colorbar), and under them the strip of the clip's
frames with each frame's map, all on one scale (the video's largest value = 1), as the TFE attention
figure does for time.
`render_comparison` draws Fig. 11's layout: the frame, then one overlay per model (e.g. TSN
next to TEFE).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ModelError
from ..models.recognizer import evaluating

MIN_MAP = 4  # smallest map side (cells) that still shows *where*: 1x1 or 2x2 can only tint the frame


@dataclass
class GradCAM:
    """Grad-CAM maps of one video: `maps` [T', h, w] (>= 0, unscaled) for the class `class_index`."""

    maps: torch.Tensor
    class_index: int
    probability: float
    num_frames: int  # T of the clip
    layer: str = ""  # the module the maps come from
    note: str = ""  # a warning about the maps (too coarse to localise), shown in the figure

    def _index(self, t: int) -> int:
        return min(t * self.maps.shape[0] // self.num_frames, self.maps.shape[0] - 1)

    def strongest_frame(self) -> int:
        """The clip frame (0-based) whose map peaks highest: where the model's evidence for the class is."""
        peaks = [float(self.maps[self._index(t)].max()) for t in range(self.num_frames)]
        return int(np.argmax(peaks))

    def video_map(self, t: int, size: tuple[int, int]) -> np.ndarray:
        """The map of clip frame t resized to `size`, on the video's scale (its largest value over all frames = 1)."""
        cam = F.interpolate(self.maps[self._index(t)][None, None], size=size, mode="bilinear",
                            align_corners=False)[0, 0].clamp(min=0)
        return (cam / self.maps.max().clamp(min=1e-12)).clamp(max=1).numpy()

    def frame_map(self, t: int, size: tuple[int, int]) -> np.ndarray:
        """The map of clip frame t, bilinearly resized to `size` (H, W) and scaled to [0, 1]."""
        idx = self._index(t)
        cam = F.interpolate(self.maps[idx][None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
        cam = cam.clamp(min=0)
        return (cam / cam.max().clamp(min=1e-12)).numpy()


def _candidate_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The ResNet stages of `model.backbone`, deepest first (empty for other backbones)."""
    backbone = getattr(model, "backbone", None)
    if backbone is None:
        return []
    return [(f"backbone.layer{i}", getattr(backbone, f"layer{i}")) for i in (4, 3, 2, 1)
            if isinstance(getattr(backbone, f"layer{i}", None), nn.Module)]


def _map_size(act: torch.Tensor) -> tuple[int, int]:
    return int(act.shape[-2]), int(act.shape[-1])


def _pick(captured: dict[str, torch.Tensor]) -> tuple[str, str]:
    """(layer, note): the deepest captured layer with a map >= MIN_MAP on both sides, else the largest one."""
    for name, act in captured.items():  # deepest first
        if min(_map_size(act)) >= MIN_MAP:
            return name, ""
    name = max(captured, key=lambda n: _map_size(captured[n])[0] * _map_size(captured[n])[1])
    h, w = _map_size(captured[name])
    return name, (f"the largest map ({name}) is {h}x{w}, under {MIN_MAP}x{MIN_MAP}: too coarse to say where; "
                  "use larger input frames")


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
            layers = [(target_layer, model.get_submodule(target_layer))]
        except AttributeError:
            raise ModelError(f"explain option target_layer: model has no module '{target_layer}'") from None
    else:
        layers = _candidate_layers(model)
    captured: dict[str, torch.Tensor] = {}
    handles = [module.register_forward_hook(lambda m, i, o, name=name: captured.__setitem__(name, o))
               for name, module in layers]
    try:
        with evaluating(model, grad=True):
            out = model(clip)
            if layers:
                if not captured:
                    raise ModelError(f"Grad-CAM target layer {layers[0][0]} did not run")
                layer, note = (target_layer, "") if target_layer is not None else _pick(
                    {n: captured[n] for n, _ in layers if n in captured})
                act = captured[layer]
                h, w = _map_size(act)
                if target_layer is not None and min(h, w) < MIN_MAP:
                    note = f"the map of {layer} is {h}x{w}, under {MIN_MAP}x{MIN_MAP}: too coarse to say where"
            elif isinstance(out.extras.get("feature_maps"), torch.Tensor):
                act, layer = out.extras["feature_maps"], "feature_maps"
                h, w = _map_size(act)
                note = (f"the feature maps are {h}x{w}, under {MIN_MAP}x{MIN_MAP}: too coarse to say where"
                        if min(h, w) < MIN_MAP else "")
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
        for handle in handles:
            handle.remove()
    if note:
        warnings.warn(f"Grad-CAM: {note}", stacklevel=2)
    a, g = _as_frames(act.detach().float(), 1), _as_frames(grad.float(), 1)  # [T', D, h, w]
    weights = g.mean((2, 3), keepdim=True)  # alpha_k per frame
    maps = F.relu((weights * a).sum(1))
    prob = float(torch.softmax(logits.detach().float(), -1)[k])
    return GradCAM(maps.cpu(), k, prob, clip.shape[2], layer, note)


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
    low, high = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return ((x - low) / (high - low).clamp(min=1e-8) * 255).byte().permute(1, 2, 3, 0).numpy()


def _frame_indices(frame: int | str, num_frames: int, cam: GradCAM | None = None) -> list[int]:
    """0-based clip frames for the `frame` option ("strongest", "middle", "all", or a frame number 1..T)."""
    if frame == "strongest" and cam is not None:
        return [cam.strongest_frame()]
    if frame in ("middle", "strongest"):
        return [num_frames // 2]
    if frame == "all":
        return list(range(num_frames))
    try:
        t = int(frame)
    except (TypeError, ValueError):
        raise ModelError(f"explain option frame must be 'strongest', 'middle', 'all' or a frame number, got "
                         f"{frame!r}") from None
    if not 1 <= t <= num_frames:
        raise ModelError(f"explain option frame {t} is outside the clip's frames 1..{num_frames}")
    return [t - 1]


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
    """Grad-CAM of the chosen frame(s) (middle by default): one PNG per frame (see `gradcam_figure`)."""
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
    for t in _frame_indices(opts.get("frame", "strongest"), cam.num_frames, cam):
        fig = gradcam_figure(cam, images, t, title, alpha, cmap)
        path = out / f"{opts.get('prefix', 'gradcam')}_frame{t + 1:02d}.png"  # the number its title shows
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


def gradcam_figure(cam: GradCAM, images: np.ndarray, t: int, title: str, alpha: float = 0.5, cmap: str = "jet"
                   ) -> Any:
    """Frame t and its Grad-CAM (with a colorbar) on top; under them the clip's frames, each with its map
    and below it the plain frame, every map on the video's scale so that frames compare."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    n = images.shape[0]
    size = images.shape[1:3]
    width = max(6.4, 0.9 * n)
    strip = width / n  # square frames in the strip
    fig = Figure(figsize=(width, width / 2 + 2 * strip + 0.8))
    grid = fig.add_gridspec(3, 2 * n, height_ratios=[width / 2, strip, strip], hspace=0.3, wspace=0.08)
    half = n  # the top row: two panels of n columns each
    ax = fig.add_subplot(grid[0, :half])
    strongest = " (the strongest map)" if t == cam.strongest_frame() else ""
    _overlay(ax, images[t], None, f"frame {t + 1}/{cam.num_frames}{strongest}", alpha, cmap)
    ax = fig.add_subplot(grid[0, half:])
    _overlay(ax, images[t], cam.video_map(t, size), f"Grad-CAM of {cam.layer}", alpha, cmap)
    bar = fig.colorbar(ax.images[-1], ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("Grad-CAM / video max", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    for i in range(n):
        top = fig.add_subplot(grid[1, 2 * i:2 * i + 2])
        _overlay(top, images[i], cam.video_map(i, size), f"{i + 1}", alpha, cmap)
        bottom = fig.add_subplot(grid[2, 2 * i:2 * i + 2])
        _overlay(bottom, images[i], None, "", alpha, cmap)
        if i == t:  # the frame shown large above
            for a in (top, bottom):
                for spine in a.spines.values():
                    spine.set_visible(True)
                    spine.set_edgecolor("#d62728")
                    spine.set_linewidth(2)
                a.axis("on")
                a.set_xticks([])
                a.set_yticks([])
    fig.suptitle(title + (f"\nwarning: {cam.note}" if cam.note else ""), fontsize=9,
                 color="#b2182b" if cam.note else "black")
    return fig


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
