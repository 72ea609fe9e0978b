"""Tracklet figures for ART (paper Figs. 6-8), the pointing game, and a small t-SNE.

    render(model, clip, frames, out_dir, class_names, boxes=None, tsne=True) -> [PNG paths]

- `tracklets.png` (Figs. 7-8): the frames on top, then one row per tracklet k with its region
  response r_tk (softmax over the frame's positions, upsampled to the frame) over every frame; a
  cross marks each response's peak; the annotated box of the moving part is drawn when `boxes`
  [T, 4] is given. Row titles name the text semantic that seeded the query and the frame's
  temporal saliency (Eq. 9 weight).
- `bank_tsne.png` (Fig. 6): the semantic bank's prompt embeddings before tuning (S0) and after (S),
  in 2D, coloured by class, with the mean inter-class cosine of each in the title.

`evaluate_pointing(model, batches)`: the pointing game (`actionlab.localisation`) of an ART model over a
loader of data-contract batches with boxes.

t-SNE: an exact O(n^2) implementation in numpy below (perplexity calibration by binary search,
early exaggeration, momentum with gains), since scikit-learn is not a dependency of actionlab;
`method="pca"` gives a deterministic linear projection instead. Fine for banks of a few thousand
prompt vectors (e.g. 18 templates x 288 classes).

CLI for the t-SNE of a trained checkpoint:
    python -m actionlab.explain.tracklets CHECKPOINT --out bank_tsne.png [--method pca]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ModelError
from ..localisation import PointingAccumulator, PointingScore, peak_points, too_small_note
from ..metrics import scores_from_logits
from ..models.recognizer import evaluating

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- pointing game over a loader


def evaluate_pointing(model: torch.nn.Module, batches: Any, device: torch.device | str = "cpu",
                      mean: tuple[float, ...] | None = None, std: tuple[float, ...] | None = None,
                      criterion: str = "centre", tolerance: float = 0.0, max_batches: int | None = None
                      ) -> PointingScore:
    """Pointing game over a loader of data-contract batches ({"clip": uint8 [N, V, C, T, H, W] or float,
    "boxes": [N, V, T, 4]}); uint8 clips are normalised with `mean`/`std` (default: the model's)."""
    from ..data.transforms import normalize
    from ..engine.runtime import model_mean_std

    model_mean, model_std = model_mean_std(model)
    acc = PointingAccumulator(criterion, tolerance)
    with evaluating(model):
        for i, batch in enumerate(batches):
            if max_batches is not None and i >= max_batches:
                break
            if "boxes" not in batch:
                raise ModelError("pointing game: the dataset gives no 'boxes' (use a benchmark variant with boxes)")
            clip, boxes = batch["clip"], batch["boxes"]
            if clip.dim() == 6:  # [N, V, C, T, H, W]: the first view
                clip, boxes = clip[:, 0], boxes[:, 0]
            clip = clip.to(device)
            clip = normalize(clip, mean or model_mean, std or model_std) if clip.dtype == torch.uint8 else clip.float()
            out = model(clip)
            acc.update(out.extras["regions"], boxes, tuple(clip.shape[-2:]))
    return acc.result()


# ---------------------------------------------------------------------------- t-SNE / PCA


def _conditional_probabilities(dist: np.ndarray, perplexity: float, tol: float = 1e-5, steps: int = 60
                               ) -> np.ndarray:
    """Row-wise Gaussian affinities whose entropy matches log(perplexity) (binary search on the precision)."""
    n = dist.shape[0]
    target = np.log(perplexity)
    p = np.zeros((n, n))
    for i in range(n):
        d = np.delete(dist[i], i)
        beta, lo, hi = 1.0, 0.0, np.inf
        for _ in range(steps):
            e = np.exp(-(d - d.min()) * beta)
            total = e.sum()
            entropy = np.log(total) + beta * np.sum((d - d.min()) * e) / total
            if abs(entropy - target) < tol:
                break
            if entropy > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = e / total
    return p


def tsne(x: np.ndarray, perplexity: float = 30.0, iterations: int = 750, learning_rate: float = 200.0,
         seed: int = 0) -> np.ndarray:
    """Exact t-SNE (van der Maaten & Hinton 2008) of x [n, c] -> [n, 2]."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 4:
        return pca_2d(x)
    perplexity = min(perplexity, (n - 1) / 3.0)
    sq = np.sum(x * x, 1)
    dist = np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0.0)
    p = _conditional_probabilities(dist, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 1e-4, (n, 2))
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    exaggeration_steps = min(250, iterations // 3)
    for it in range(iterations):
        exaggeration = 12.0 if it < exaggeration_steps else 1.0
        momentum = 0.5 if it < exaggeration_steps else 0.8
        sy = np.sum(y * y, 1)
        num = 1.0 / (1.0 + np.maximum(sy[:, None] + sy[None] - 2 * y @ y.T, 0.0))
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        pq = (exaggeration * p - q) * num
        grad = 4.0 * (np.diag(pq.sum(1)) - pq) @ y
        gains = np.where(np.sign(grad) != np.sign(velocity), gains + 0.2, gains * 0.8).clip(0.01)
        velocity = momentum * velocity - learning_rate * gains * grad
        y = y + velocity
        y = y - y.mean(0)
    return y


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The first two principal components of x [n, c] (deterministic signs)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:2]
    comps = comps * np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])[:, None]
    out = x @ comps.T
    return np.pad(out, ((0, 0), (0, 2 - out.shape[1]))) if out.shape[1] < 2 else out


def embed_2d(vectors: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    if method == "tsne":
        return tsne(vectors, seed=seed)
    if method == "pca":
        return pca_2d(vectors)
    raise ModelError(f"explain option tsne_method must be 'tsne' or 'pca', got {method!r}")


def mean_interclass_cosine(bank: torch.Tensor) -> float:
    """Mean cosine between different classes' prompt-mean directions of a bank [P, K, C] (lower = more spread)."""
    classes = F.normalize(F.normalize(bank.float(), dim=-1).mean(0), dim=-1)
    k = classes.shape[0]
    if k < 2:
        return float("nan")
    gram = classes @ classes.T
    return float((gram.sum() - gram.diagonal().sum()) / (k * (k - 1)))


def _art_bank(model: torch.nn.Module):
    head = getattr(model, "head", None)
    bank = getattr(head, "bank", None)
    if bank is None or not hasattr(bank, "initial"):
        raise ModelError(f"{type(model).__name__} has no ART semantic bank (model.head.bank)")
    return bank


def render_bank_tsne(model: torch.nn.Module, out_path: str | Path, class_names: list[str] | None = None,
                     method: str = "tsne", seed: int = 0) -> Path:
    """Fig. 6 (`bank_tsne_figure`) saved to `out_path`."""
    fig = bank_tsne_figure(model, class_names, method, seed)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    return out_path


def bank_tsne_figure(model: torch.nn.Module, class_names: list[str] | None = None, method: str = "tsne",
                     seed: int = 0) -> Any:
    """Fig. 6: S0 (before tuning) and S (after) in 2D side by side, one colour per class, named in a legend."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    bank = _art_bank(model)
    p, k, _ = bank.bank.shape
    legend = k <= 20  # one colour per class, named in a legend (labels on the points would overprint)
    fig = Figure(figsize=(10 + (2.4 if legend else 0), 4.8))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    colours = matplotlib.colormaps["tab20" if k > 10 else "tab10"]
    for ax, (title, tensor) in zip(axes, (("before tuning (S0)", bank.initial), ("after tuning (S)", bank.bank))):
        vectors = F.normalize(tensor.detach().float().cpu(), dim=-1).reshape(p * k, -1).numpy()
        points = embed_2d(vectors, method, seed)
        labels = np.tile(np.arange(k), p)
        for c in range(k):  # one scatter per class: the legend's entries
            mine = points[labels == c]
            ax.scatter(mine[:, 0], mine[:, 1], s=16, color=colours(c % colours.N) if legend else None,
                       label=(class_names[c] if class_names and c < len(class_names) else f"class {c}"),
                       edgecolors="white", linewidths=0.3)
        ax.set_title(f"{title}: mean inter-class cos {mean_interclass_cosine(tensor):.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if legend:
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, title="class (each point: one "
                       "prompt)", title_fontsize=7, frameon=False)
    fig.suptitle(f"semantic bank ({p} prompts x {k} classes), {method.upper()}"
                 + ("" if legend else f"; {k} classes: too many to name"), fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------- tracklet figure


def _display_frames(clip: torch.Tensor, frames: Any) -> np.ndarray:
    """uint8 [T, H, W, 3]: the given frames (first view if several), else the clip min-max scaled."""
    if frames is not None:
        arr = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
        while arr.ndim > 4:
            arr = arr[0]
        if arr.shape[-1] != 3 and arr.shape[0] == 3:  # [C, T, H, W]
            arr = arr.transpose(1, 2, 3, 0)
        if arr.dtype != np.uint8:
            lo, hi = float(arr.min()), float(arr.max())
            arr = ((arr - lo) / max(hi - lo, 1e-8) * 255).astype(np.uint8)
        return arr
    x = clip[0].detach().float().cpu()
    low, high = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    return ((x - low) / (high - low).clamp(min=1e-8) * 255).byte().permute(1, 2, 3, 0).numpy()


def _tracklet_figure(images: np.ndarray, heat: torch.Tensor, peaks: torch.Tensor, boxes: np.ndarray | None,
                     saliency: Any, cmap: str, alpha: float, row_labels: list[str]) -> Any:
    """The frames on top; one row per tracklet with its response over each frame, its peak ("+") and the
    annotated box; a label column on the left, a colour bar and a legend for the marks."""
    from matplotlib.artist import Artist
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    t, k = images.shape[0], heat.shape[1]
    fig = Figure(figsize=(1.3 + 1.6 * t + 0.8, 1.75 * (k + 1) + 0.9))
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(k + 1, t + 2, width_ratios=[1.3] + [1.6] * t + [0.12], wspace=0.06, hspace=0.25)
    shown = None
    for i in range(t):
        ax = fig.add_subplot(grid[0, i + 1])
        ax.imshow(images[i])
        ax.set_title(f"frame {i + 1}", fontsize=9)
        ax.axis("off")
        for j in range(k):
            ax = fig.add_subplot(grid[j + 1, i + 1])
            ax.imshow(images[i])
            shown = ax.imshow(heat[i, j].numpy(), cmap=cmap, alpha=alpha, vmin=0.0, vmax=1.0)
            ax.plot([float(peaks[i, j, 0])], [float(peaks[i, j, 1])], marker="+", color="white", markersize=10,
                    mew=2)
            if boxes is not None and not np.isnan(boxes[i]).any():
                x1, y1, x2, y2 = boxes[i]
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor="white", lw=1.0,
                                       linestyle="--"))
            ax.set_xlim(-0.5, images.shape[2] - 0.5)  # a box past the frame's edge must not widen the panel
            ax.set_ylim(images.shape[1] - 0.5, -0.5)
            if saliency is not None:
                ax.set_title(f"S={float(saliency[0, i, j]):.2f}", fontsize=8)
            ax.axis("off")
    for j, label in enumerate(row_labels):  # horizontal labels in their own column
        ax = fig.add_subplot(grid[j + 1, 0])
        ax.axis("off")
        ax.text(0.95, 0.5, label, ha="right", va="center", fontsize=9, transform=ax.transAxes)
    assert shown is not None  # t >= 1 frames and k >= 1 tracklets were drawn
    bar = fig.colorbar(shown, cax=fig.add_subplot(grid[1:, t + 1]))
    bar.set_label("response / the tracklet's clip maximum", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    marks: list[Artist] = [Line2D([], [], marker="+", color="black", linestyle="none", markersize=10, mew=2,
                    label="peak of the tracklet's response (white on the frames)")]
    if boxes is not None:
        marks.append(Patch(fill=False, edgecolor="black", linestyle="--", label="annotated moving part (box)"))
    if saliency is not None:
        marks.append(Patch(color="none", label="S = the tracklet's saliency on that frame"))
    fig.legend(handles=marks, loc="lower center", ncol=len(marks), fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    return fig


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() not in ("0", "false", "no", "off", "")


def render(model: torch.nn.Module, clip: torch.Tensor, frames: Any, out_dir: str | Path,
           class_names: list[str] | None = None, *, boxes: Any = None, tsne: Any = True,
           tsne_method: str = "tsne", cmap: str = "jet", alpha: float = 0.5, **_: Any) -> list[Path]:
    """Draw every tracklet's region responses over the clip (and the bank t-SNE); return the PNG paths.

    clip: the normalised input [1, C, T, H, W] (or [C, T, H, W]); frames: uint8 [T, H, W, 3] for
    display (None: the clip min-max scaled); boxes: [T, 4] clip pixels of the moving part (optional).
    """

    if clip.dim() == 4:
        clip = clip.unsqueeze(0)
    with evaluating(model):
        out = model(clip[:1])
    if "regions" not in out.extras:
        raise ModelError(f"{type(model).__name__} reports no region responses (extras['regions']); not an ART model")
    images = _display_frames(clip, frames)
    t, height, width = images.shape[:3]
    regions = out.extras["regions"][0].float().cpu()  # [T, K, h, w]
    k = regions.shape[1]
    note = too_small_note(tuple(regions.shape[-2:]))
    if note:
        log.warning("ART region responses: %s", note)
    heat = F.interpolate(regions, size=(height, width), mode="bilinear", align_corners=False)  # [T, K, H, W]
    heat = heat / heat.amax((0, 2, 3), keepdim=True).clamp_min(1e-12)  # per tracklet, over the clip
    peaks = peak_points(regions, (height, width))  # [T, K, 2]
    saliency = out.extras.get("saliency")
    topk = out.extras.get("topk_classes")
    probs = scores_from_logits(out.logits[0])
    top = int(probs.argmax())

    def name_of(c: int) -> str:
        return class_names[c] if class_names and c < len(class_names) else f"class {c}"

    box_arr = None if boxes is None else np.asarray(torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, t, 4)[0])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig = _tracklet_figure(images, heat, peaks, box_arr, saliency, cmap, alpha,
                           [f"tracklet {j + 1}" + (f"\nseeded by\n'{name_of(int(topk[0, j]))}'" if topk is not None
                                                  else "") for j in range(k)])
    fig.suptitle(f"ART region responses: predicted '{name_of(top)}' ({float(probs[top]):.2f})"
                 + (f"\n{note}" if note else ""), fontsize=10)
    path = out_dir / "tracklets.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    paths = [path]
    if _flag(tsne):
        paths.append(render_bank_tsne(model, out_dir / "bank_tsne.png", class_names, tsne_method))
    return paths


# ---------------------------------------------------------------------------- CLI (t-SNE of a checkpoint)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actionlab.explain.tracklets",
                                     description="t-SNE of an ART checkpoint's semantic bank before/after tuning")
    parser.add_argument("checkpoint")
    parser.add_argument("--out", default="bank_tsne.png")
    parser.add_argument("--method", choices=["tsne", "pca"], default="tsne")
    args = parser.parse_args(argv)
    from ..engine.build import load_for_inference

    loaded = load_for_inference(args.checkpoint)
    print(render_bank_tsne(loaded.model, args.out, loaded.class_names, args.method))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
