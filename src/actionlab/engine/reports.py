"""Files a test run leaves behind: metrics, per-video predictions, the confusion matrix.

    metrics.json            metrics + what was tested (checkpoint, views, number of videos)
    predictions.json / .csv one row per video: index, video, label, prediction, top-k with scores
    confusion_matrix.csv    rows = true class, columns = predicted class (single-label data)
    confusion_matrix.png    the same as an image, when matplotlib is installed
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import torch

from ..errors import optional
from ..metrics import confusion_matrix


def topk_rows(scores: torch.Tensor, class_names: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per video, the k best (class name, score) pairs."""
    k = min(k, scores.shape[1])
    values, idx = scores.topk(k, dim=1)
    return [[(class_names[int(c)], float(v)) for v, c in zip(vs, cs)] for vs, cs in zip(values, idx)]


def label_names(label: torch.Tensor, class_names: list[str]) -> list[str]:
    if label.dim() == 0:
        return [class_names[int(label)]] if int(label) >= 0 else []
    return [class_names[int(c)] for c in label.nonzero().flatten()]


def prediction_rows(scores: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, class_names: list[str],
                    videos: list[str] | None = None, k: int = 5) -> list[dict[str, Any]]:
    rows = []
    for i, top in enumerate(topk_rows(scores, class_names, k)):
        index = int(indices[i])
        truth = label_names(labels[i], class_names)
        rows.append({
            "index": index,
            "video": videos[index] if videos else "",
            # single-label data: one class name (None when the video has no label); multi-label: a list
            "label": (truth[0] if truth else None) if labels[i].dim() == 0 else truth,
            "prediction": top[0][0],
            "correct": top[0][0] in truth,
            "topk": [{"class": name, "score": round(score, 6)} for name, score in top],
        })
    return rows


def write_test_outputs(out_dir: Path, metrics: dict[str, Any], scores: torch.Tensor, labels: torch.Tensor,
                       indices: torch.Tensor, class_names: list[str], videos: list[str] | None = None,
                       k: int = 5) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "metrics.json"]
    written[0].write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    rows = prediction_rows(scores, labels, indices, class_names, videos, k)
    (out_dir / "predictions.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    with open(out_dir / "predictions.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "video", "label", "prediction", "correct", "topk"])
        for r in rows:
            topk = " ".join(f"{t['class']}:{t['score']:.4f}" for t in r["topk"])
            label = r["label"] if isinstance(r["label"], list) else [r["label"]] if r["label"] else []
            writer.writerow([r["index"], r["video"], "|".join(label), r["prediction"], int(r["correct"]), topk])
    written += [out_dir / "predictions.json", out_dir / "predictions.csv"]
    if labels.dim() == 1:
        keep = labels >= 0  # test sets without labels carry -1
        cm = confusion_matrix(scores[keep].argmax(1), labels[keep], len(class_names))
        with open(out_dir / "confusion_matrix.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *class_names])
            for name, row in zip(class_names, cm.tolist()):
                writer.writerow([name, *row])
        written.append(out_dir / "confusion_matrix.csv")
        png = plot_confusion_matrix(cm, class_names, out_dir / "confusion_matrix.png")
        if png is not None:
            written.append(png)
    return written


def confusion_figure(cm: torch.Tensor, class_names: list[str], title: str | None = None) -> Any:
    """The row-normalised matrix as a matplotlib Figure: a title (videos, top-1), a colorbar, counts in the cells."""
    from matplotlib.figure import Figure  # no pyplot: no global state

    k = len(class_names)
    norm = cm.double() / cm.sum(1, keepdim=True).clamp(min=1)
    total = int(cm.sum())
    top1 = float(cm.diagonal().sum()) / max(1, total)
    size = max(4.5, 0.35 * k + 2.5)
    fig = Figure(figsize=(size + 1.0, size))
    ax = fig.subplots()
    image = ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's videos")
    ax.set_xticks(range(k), class_names, rotation=90, fontsize=7)
    ax.set_yticks(range(k), class_names, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or f"confusion matrix: {total} videos, top-1 {top1:.3f}", fontsize=9)
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: torch.Tensor, class_names: list[str], path: Path, title: str | None = None
                          ) -> Path | None:
    """A PNG of the row-normalised matrix; None with > 60 classes or without matplotlib (the `viz` extra: a logged
    notice says the image is not drawn and what brings it)."""
    if len(class_names) > 60:  # unreadable as an image; the CSV has it
        return None
    if optional("matplotlib", "viz", f"the confusion-matrix image ({path.name}; the CSV has the numbers)") is None:
        return None
    confusion_figure(cm, class_names, title).savefig(path, dpi=100)
    return path


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table: text columns left-aligned, numeric ones right-aligned (format numbers before)."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]

    def numeric(i: int) -> bool:
        try:
            return all(float(row[i].split()[0].rstrip("%")) is not None for row in cells if row[i])
        except ValueError:
            return False

    right = [numeric(i) for i in range(len(columns))]
    line = lambda values: "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])
