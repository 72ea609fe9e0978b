"""Classification metrics as the papers report them.

Every function takes video-level scores [N, K] (probabilities or logits; only
their order matters) and either class indices [N] (single-label datasets) or
multi-hot targets [N, K] (Charades):

- top-k accuracy (top-1 / top-5); for multi-label targets a hit is any positive
  class among the k best (hit@k);
- mean class accuracy: per-class recall averaged over the classes that occur
  (FineGym, Diving48 report it beside top-1);
- mAP, Charades-style: per class, the non-interpolated average precision of the
  videos ranked by score (mean of the precision at each positive), averaged over
  the classes with at least one positive;
- the confusion matrix (rows: true class, columns: predicted class);
- within-pair accuracy for the built-in temporal benchmark: for classes that come
  in pairs differing only in time order, whether the true class outscores its twin;
  `read_class_pairs` finds the pairs a dataset declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch

from .errors import ModelError


def scores_from_logits(logits: torch.Tensor, multi_label: bool = False) -> torch.Tensor:
    """Class scores of logits [..., K] in float32: softmax over the classes, or a sigmoid per class for
    multi-label data (Charades), where every class is a yes/no question of its own."""
    logits = logits.float()
    return logits.sigmoid() if multi_label else logits.softmax(-1)


def _is_multi_label(scores: torch.Tensor, labels: torch.Tensor) -> bool:
    return labels.dim() == 2 and labels.shape == scores.shape


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """{'top1': ..., 'top5': ...} in [0, 1]; k larger than the class count is clipped to it."""
    n, num_classes = scores.shape
    out: dict[str, float] = {}
    if n == 0:
        return {f"top{k}": float("nan") for k in ks}
    ranked = scores.argsort(dim=1, descending=True)
    for k in ks:
        top = ranked[:, : min(k, num_classes)]
        if _is_multi_label(scores, labels):
            hits = labels.gather(1, top).gt(0).any(1)
        else:
            hits = top.eq(labels.view(-1, 1)).any(1)
        out[f"top{k}"] = hits.double().mean().item()
    return out


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """[K, K] int64 counts: entry (i, j) = videos of class i predicted as j."""
    flat = labels.long() * num_classes + predictions.long()
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def mean_class_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Per-class top-1 recall averaged over the classes present in `labels`."""
    cm = confusion_matrix(scores.argmax(1), labels, scores.shape[1]).double()
    counts = cm.sum(1)
    present = counts > 0
    if not present.any():
        return float("nan")
    return (cm.diagonal()[present] / counts[present]).mean().item()


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Non-interpolated AP of one class: mean precision at the rank of each positive.

    Ties are broken by the original order (a stable sort), as the Charades
    evaluation script does.  NaN when there is no positive.
    """
    positives = targets.gt(0)
    num_pos = int(positives.sum())
    if num_pos == 0:
        return float("nan")
    order = torch.sort(scores, descending=True, stable=True).indices
    hits = positives[order].double()
    precision_at_rank = hits.cumsum(0) / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    return (precision_at_rank * hits).sum().item() / num_pos


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Charades mAP: per-class AP averaged over the classes with at least one positive."""
    if targets.dim() == 1:  # single-label: one-hot
        targets = torch.nn.functional.one_hot(targets.long(), scores.shape[1])
    aps = [average_precision(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    valid = [a for a in aps if a == a]
    return sum(valid) / len(valid) if valid else float("nan")


def pair_accuracy(scores: torch.Tensor, labels: torch.Tensor, pairs: Sequence[tuple[int, int]]) -> float:
    """Within-pair accuracy: over the videos whose class belongs to a pair, how often the true
    class scores higher than its twin.  Chance is 0.5 whatever the overall accuracy."""
    twin: dict[int, int] = {}
    for a, b in pairs:
        twin[a], twin[b] = b, a
    rows = [(i, int(y), twin[int(y)]) for i, y in enumerate(labels.tolist()) if int(y) in twin]
    if not rows:
        return float("nan")
    idx = torch.tensor([r[0] for r in rows])
    own = scores[idx, torch.tensor([r[1] for r in rows])]
    other = scores[idx, torch.tensor([r[2] for r in rows])]
    return own.gt(other).double().mean().item()


def compute_metrics(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """The metric set `actionlab test` reports: top-k, mean class accuracy and mAP.

    Mean class accuracy is left out for multi-label targets, where it is not defined.
    """
    scores = scores.detach().double().cpu()
    labels = labels.detach().cpu()
    if labels.dim() == 1:  # unlabelled videos (label -1) have no score to count
        scores, labels = scores[labels >= 0], labels[labels >= 0]
    metrics = topk_accuracy(scores, labels, ks)
    if not _is_multi_label(scores, labels):
        metrics["mean_class_accuracy"] = mean_class_accuracy(scores, labels)
    metrics["mAP"] = mean_average_precision(scores, labels)
    return metrics


def read_class_pairs(data_root: str | Path, class_names: Sequence[str], list_dir: str | Path | None = None
                     ) -> list[tuple[int, int]]:
    """The pairs of classes a dataset declares (e.g. a class and its time reversal), as class indices.

    Looked up in `annotations.json` ("pairs": [[a, b], ...], what the built-in benchmark writes), then
    `data.yaml` (a top-level or `data:` key "pairs"), then `pairs.txt` (one pair a line, two class
    names), in `list_dir` (where the list files are) and `data_root`. A name that is not a class is an
    error naming the file. No file with pairs: [].
    """
    import json

    import yaml

    from .errors import DataError

    index = {n: i for i, n in enumerate(class_names)}
    dirs = list(dict.fromkeys(Path(d) for d in (list_dir, data_root) if d is not None))
    for d in dirs:
        found: list | None = None
        source = None
        ann, cfg_file, txt = d / "annotations.json", d / "data.yaml", d / "pairs.txt"
        if ann.is_file():
            meta = json.loads(ann.read_text(encoding="utf-8"))
            found, source = (meta.get("pairs") if isinstance(meta, dict) else None), ann
        if found is None and cfg_file.is_file():
            meta = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
            found = meta.get("pairs") or (meta.get("data") or {}).get("pairs") if isinstance(meta, dict) else None
            source = cfg_file
        if found is None and txt.is_file():
            found = [line.split() for line in txt.read_text(encoding="utf-8").splitlines() if line.strip()]
            source = txt
        if found is None:
            continue
        pairs = []
        for k, pair in enumerate(found):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise DataError(f"{source}: pair {k + 1} must be two class names, got {pair!r}")
            missing = [n for n in pair if n not in index]
            if missing:
                raise DataError(f"{source}: pair {k + 1} names {missing[0]!r}, which is not a class of the dataset")
            pairs.append((index[pair[0]], index[pair[1]]))
        return pairs
    return []


def average_scores(scores: Sequence[torch.Tensor], average: Literal["prob", "logit"] = "prob",
                   multi_label: bool = False, weights: Sequence[float] | None = None) -> torch.Tensor:
    """Average several models' scores for the same videos (TEFE's 8+16-frame ensemble, `actionlab test`).

    scores: one [N, K] logit tensor per model (same videos, same order). average="prob" averages
    softmax (sigmoid for multi-label) probabilities and returns probabilities; "logit" averages logits.
    """
    if not scores:
        raise ModelError("ensemble needs at least one model's scores")
    shapes = {tuple(s.shape) for s in scores}
    if len(shapes) != 1:
        raise ModelError(f"ensemble members disagree on the score shape: {sorted(shapes)} (same classes and videos?)")
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(scores), dtype=torch.float32)
    if len(w) != len(scores) or (w < 0).any() or w.sum() <= 0:
        raise ModelError(f"ensemble weights must be {len(scores)} non-negative numbers, got {weights}")
    w = w / w.sum()
    if average == "prob":
        scores = [scores_from_logits(s, multi_label) for s in scores]
    elif average != "logit":
        raise ModelError(f"test.average must be 'prob' or 'logit', got {average!r}")
    return sum(wi * s.float() for wi, s in zip(w.tolist(), scores))
