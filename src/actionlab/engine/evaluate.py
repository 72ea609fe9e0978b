"""Multi-view testing: clips x crops per video, scores averaged, a cap on views per forward pass.

    batch clip uint8 [B, V, C, T, H, W]  (V = clips x crops, from `build_dataset(cfg, split, views)`)
      -> [B*V, C, T, H, W] in chunks of at most `max_views_per_forward`
      -> logits -> softmax (or sigmoid for multi-label) when averaging probabilities
      -> mean over the V views -> video scores [B, K]

Besides accuracy, the metrics the model declares in `eval_metrics` (temporal fidelity, pointing game,
actionness in box: `actionlab/eval_metrics.py`) are measured on the batches that carry their annotation.
Under torchrun each rank scores its share of the videos (no padding) and the scores are gathered back in
dataset order, so the metrics are those of a single-process run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from .. import eval_metrics
from ..errors import DataError
from ..metrics import compute_metrics, scores_from_logits
from ..models.recognizer import evaluating
from ..strategy import unwrap
from . import distributed
from .loader import num_items
from .runtime import prepare_clip


@dataclass
class EvalResult:
    scores: torch.Tensor  # [N, K] video scores (averaged probabilities or logits)
    labels: torch.Tensor  # [N] class indices or [N, K] multi-hot
    indices: torch.Tensor  # [N] dataset indices, sorted
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: int = 0  # videos the dataset skipped (data.on_error=skip)


def video_scores(model: nn.Module, clip: torch.Tensor, *, average: str = "prob", multi_label: bool = False,
                 max_views_per_forward: int = 8,
                 autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 extras_out: list[dict[str, Any]] | None = None, keep: Collection[str] = ()) -> torch.Tensor:
    """Normalised clips [B, V, C, T, H, W] (or [B, C, T, H, W]) -> averaged scores [B, K] (float32).

    extras_out: when given, the model's extras named in `keep` (tensors, or dicts of tensors such as ATR's
    "actionness_per_block") of each chunk are appended to it, on the CPU, in view order.
    """
    if clip.dim() == 5:
        clip = clip.unsqueeze(1)
    b, v = clip.shape[:2]
    flat = clip.flatten(0, 1)
    chunk = max(1, max_views_per_forward)
    outs = []
    for part in flat.split(chunk):
        with autocast():
            output = model(part)
        logits = output.logits.float()
        if extras_out is not None:
            extras_out.append({k: _to_cpu(output.extras[k]) for k in keep if k in output.extras})
        outs.append(scores_from_logits(logits, multi_label) if average == "prob" else logits)
    return torch.cat(outs).view(b, v, -1).mean(1)


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, mean: Sequence[float],
             std: Sequence[float], *, average: str = "prob", max_views_per_forward: int = 8,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
             multi_label: bool = False, progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score every video of `loader` (sharded by `EvalSampler` under torchrun) and compute the metrics.

    `progress(batches done, batches)` is called after every batch (the test command's progress line).

    The loader's items follow the dataset contract: "clip" uint8 [V, C, T, H, W], "label", "index".
    """
    scores, labels, indices = [], [], []
    meters = eval_metrics.declared_meters(unwrap(model))  # the model's own metrics (fidelity, pointing, ...)
    with evaluating(model):
        for done, batch in enumerate(loader, 1):
            if progress is not None:
                progress(done, len(loader))
            if batch is None or len(batch["index"]) == 0:
                continue
            clip = prepare_clip(batch["clip"], device, mean, std)
            keep = eval_metrics.extras_wanted(meters, batch)
            extras: list[dict[str, Any]] = []
            scores.append(video_scores(model, clip, average=average, multi_label=multi_label,
                                       max_views_per_forward=max_views_per_forward, autocast=autocast,
                                       extras_out=extras, keep=keep).cpu())
            if keep:
                _observe(meters, _concat(extras), batch, (clip.shape[-2], clip.shape[-1]))
            labels.append(batch["label"].cpu())
            indices.append(torch.as_tensor(batch["index"]).cpu())
    num_classes = int(getattr(unwrap(model), "num_classes", 0))
    local_scores = torch.cat(scores) if scores else torch.zeros(0, num_classes)
    local_labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    local_indices = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
    gathered = distributed.gather_by_index(local_indices, {"scores": local_scores, "labels": local_labels})
    total = num_items(loader.dataset)
    result = EvalResult(gathered["scores"], gathered["labels"], gathered["indices"],
                        skipped=total - len(gathered["indices"]))
    if len(result.indices) == 0:
        raise DataError("evaluation found no video to score (the dataset is empty or every video was skipped)")
    result.metrics = compute_metrics(result.scores, result.labels)
    result.metrics.update(eval_metrics.results(_gathered(meters)))
    return result


def _observe(meters: dict[str, eval_metrics.Meter], extras: dict[str, Any], batch: dict[str, Any],
             image_size: tuple[int, int]) -> None:
    """Each meter whose batch entry is present sees the batch's extras (views flattened like the clips)."""
    for meter in meters.values():
        if meter.batch_key in batch and any(k in extras for k in meter.extras_keys):
            meter.observe(extras, batch[meter.batch_key].flatten(0, 1).cpu(), image_size)


def _gathered(meters: dict[str, eval_metrics.Meter]) -> dict[str, eval_metrics.Meter]:
    """The meters over every rank's clips (as they are in a single process)."""
    if not distributed.current().enabled:
        return meters
    return {name: eval_metrics.merged(name, distributed.all_gather_objects(m.state())) for name, m in meters.items()}


def _to_cpu(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value.detach().float().cpu()


def _concat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunks' extras joined along the batch (dicts of tensors key by key)."""
    out: dict[str, Any] = {}
    for key in chunks[0] if chunks else ():
        parts = [c[key] for c in chunks]
        out[key] = ({k: torch.cat([p[k] for p in parts]) for k in parts[0]} if isinstance(parts[0], dict)
                    else torch.cat(parts))
    return out
