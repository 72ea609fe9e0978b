"""Multi-view testing: clips x crops per video, scores averaged, a cap on views per forward pass.

    batch clip uint8 [B, V, C, T, H, W]  (V = clips x crops, from `build_dataset(cfg, split, views)`)
      -> [B*V, C, T, H, W] in chunks of at most `max_views_per_forward`
      -> logits -> softmax (or sigmoid for multi-label) when averaging probabilities
      -> mean over the V views -> video scores [B, K]

Under torchrun each rank scores its share of the videos (no padding) and the
scores are gathered back in dataset order, so the metrics are those of a
single-process run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from ..errors import DataError
from ..fidelity import FidelityMeter
from ..metrics import compute_metrics
from . import distributed
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
                 attention_out: list[torch.Tensor] | None = None,
                 maps_out: list[dict[str, torch.Tensor]] | None = None) -> torch.Tensor:
    """Normalised clips [B, V, C, T, H, W] (or [B, C, T, H, W]) -> averaged scores [B, K] (float32).

    attention_out: when given, the models' temporal attention extras ([B*V, T] in view order) are
    appended to it, chunk by chunk (TFE and the vanilla attention model expose them).
    maps_out: when given, the spatial extras `LocalisationMeter` reads (ART's "regions", ATR's
    "actionness"/"actionness_per_block") of each chunk are appended to it (on the CPU).
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
        if attention_out is not None and "attention" in output.extras:
            attention_out.append(output.extras["attention"].float().cpu())
        if maps_out is not None:
            maps_out.append(_spatial_maps(output.extras))
        if average == "prob":
            logits = logits.sigmoid() if multi_label else logits.softmax(-1)
        outs.append(logits)
    return torch.cat(outs).view(b, v, -1).mean(1)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, mean: Sequence[float],
             std: Sequence[float], *, average: str = "prob", max_views_per_forward: int = 8,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
             multi_label: bool = False, progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Score every video of `loader` (sharded by `EvalSampler` under torchrun) and compute the metrics.

    `progress(batches done, batches)` is called after every batch (the test command's progress line).

    The loader's items follow the dataset contract: "clip" uint8 [V, C, T, H, W], "label", "index".
    """
    was_training = model.training
    model.eval()
    scores, labels, indices = [], [], []
    fidelity = FidelityMeter()  # temporal fidelity, where the data annotate the action frames
    where = LocalisationMeter()  # pointing game / actionness in box, where the data give boxes
    try:
        for done, batch in enumerate(loader, 1):
            if progress is not None:
                progress(done, len(loader))
            if batch is None or len(batch["index"]) == 0:
                continue
            clip = prepare_clip(batch["clip"], device, mean, std)
            attention: list[torch.Tensor] | None = [] if "action_mask" in batch else None
            maps: list[dict[str, torch.Tensor]] | None = [] if "boxes" in batch else None
            scores.append(video_scores(model, clip, average=average, multi_label=multi_label,
                                       max_views_per_forward=max_views_per_forward, autocast=autocast,
                                       attention_out=attention, maps_out=maps).cpu())
            if attention:
                fidelity.update(torch.cat(attention), batch["action_mask"].flatten(0, 1).cpu())
            if maps and maps[0]:
                where.update(_concat_maps(maps), batch["boxes"].flatten(0, 1), tuple(clip.shape[-2:]))
            labels.append(batch["label"].cpu())
            indices.append(torch.as_tensor(batch["index"]).cpu())
    finally:
        model.train(was_training)
    num_classes = _num_classes(model)
    local_scores = torch.cat(scores) if scores else torch.zeros(0, num_classes)
    local_labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
    local_indices = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
    gathered = distributed.gather_by_index(local_indices, {"scores": local_scores, "labels": local_labels})
    total = len(loader.dataset)  # type: ignore[arg-type]
    result = EvalResult(gathered["scores"], gathered["labels"], gathered["indices"],
                        skipped=total - len(gathered["indices"]))
    if len(result.indices) == 0:
        raise DataError("evaluation found no video to score (the dataset is empty or every video was skipped)")
    result.metrics = compute_metrics(result.scores, result.labels)
    result.metrics.update(_gathered_fidelity(fidelity))
    result.metrics.update(_gathered_localisation(where))
    return result


def _gathered_fidelity(meter: FidelityMeter) -> dict[str, float]:
    """The fidelity metrics over every rank's clips; {} when no clip had attention and an action mask."""
    sums = [meter.mass_sum, meter.chance_sum, meter.auc_sum, meter.count, meter.skipped]
    if distributed.current().enabled:
        parts = distributed.all_gather_objects(sums)
        sums = [sum(p[i] for p in parts) for i in range(len(sums))]
    total = FidelityMeter()
    total.mass_sum, total.chance_sum, total.auc_sum, total.count, total.skipped = sums
    return total.compute() if total.count + total.skipped > 0 else {}


class LocalisationMeter:
    """Where a model's spatial maps point, against the data's per-frame boxes of the moving part.

    - ART's tracklet regions ("regions" [N, T, K, h, w]): the pointing game (a frame is a hit when any of
      the K tracklets' peaks falls in the box; its chance is that of K random peaks, see explain.tracklets);
    - ATR's actionness ("actionness_per_block" {name: [N, T, 1, h, w]}): the share of the spatial softmax
      inside the box (`models.atr.actionness_box_mass`), measured on the largest map (the earliest ATR block;
      the last one is 1x1 at the demo's 32 px, where every map scores exactly its chance).
    Maps smaller than MIN_GRID x MIN_GRID cells are reported with `*_too_small` = 1: such a score cannot mean
    anything (a 1x1 map always "points" at the box).
    """

    def __init__(self, criterion: str = "cell"):
        from ..explain.tracklets import PointingAccumulator

        self.pointing = PointingAccumulator(criterion=criterion)
        self.in_box: list[float] = []
        self.in_box_chance: list[float] = []
        self.actionness_grid: tuple[int, int] = (0, 0)
        self.actionness_block = ""

    def update(self, extras: dict, boxes: torch.Tensor, image_size: tuple[int, int]) -> None:
        """extras of one forward pass of clips [N, C, T, H, W]; boxes [N, T, 4] (clip pixels, NaN = unknown)."""
        from ..models.atr import actionness_box_mass, box_area_fraction

        boxes = boxes.float().cpu()
        maps = extras.get("actionness_per_block") or ({"last": extras["actionness"]} if "actionness" in extras
                                                        else {})
        if maps:
            name, actionness = max(maps.items(), key=lambda kv: kv[1].shape[-2] * kv[1].shape[-1])
            actionness = actionness.float().cpu()
            mass = actionness_box_mass(actionness, boxes, image_size)
            chance = box_area_fraction(boxes, tuple(actionness.shape[-2:]), image_size)
            self.in_box += mass.flatten().tolist()
            self.in_box_chance += chance.flatten().tolist()
            self.actionness_grid, self.actionness_block = tuple(actionness.shape[-2:]), name
        if "regions" in extras:
            self.pointing.update(extras["regions"], boxes, image_size)

    def state(self) -> dict:
        """What `merged` needs to combine ranks (plain Python values)."""
        p = self.pointing
        return {"in_box": self.in_box, "in_box_chance": self.in_box_chance, "grid": self.actionness_grid,
                "block": self.actionness_block, "hits": None if p.hits is None else p.hits.tolist(),
                "any_hits": p.any_hits, "chance_sum": p.chance_sum, "chance_any_sum": p.chance_any_sum,
                "frames": p.frames, "pointing_grid": p.grid}

    @classmethod
    def merged(cls, states: list[dict]) -> LocalisationMeter:
        out = cls()
        p = out.pointing
        for st in states:
            out.in_box += st["in_box"]
            out.in_box_chance += st["in_box_chance"]
            if st["in_box"]:
                out.actionness_grid, out.actionness_block = tuple(st["grid"]), st["block"]
            if st["hits"] is not None:
                hits = torch.tensor(st["hits"])
                p.hits = hits if p.hits is None else p.hits + hits
                p.grid = tuple(st["pointing_grid"])
            p.any_hits += st["any_hits"]
            p.chance_sum += st["chance_sum"]
            p.chance_any_sum += st["chance_any_sum"]
            p.frames += st["frames"]
        return out

    def compute(self) -> dict[str, float]:
        import math

        from ..explain.tracklets import MIN_GRID

        def nanmean(values: list[float]) -> float:
            vals = [v for v in values if math.isfinite(v)]
            return sum(vals) / len(vals) if vals else math.nan

        out: dict[str, float] = {}
        if self.in_box:
            out["actionness_in_box"] = nanmean(self.in_box)
            out["actionness_in_box_chance"] = nanmean(self.in_box_chance)
            out["actionness_grid"] = float(min(self.actionness_grid))
            out["actionness_too_small"] = float(min(self.actionness_grid) < MIN_GRID)
        if self.pointing.frames:
            score = self.pointing.result()
            out.update(pointing_any=score.any_tracklet, pointing_chance=score.chance_any,
                       pointing_per_tracklet=sum(score.per_tracklet) / len(score.per_tracklet),
                       pointing_chance_single=score.chance, pointing_grid=float(min(score.grid)),
                       pointing_too_small=float(score.too_small))
        return out


def localisation_notes(metrics: dict[str, float]) -> list[str]:
    """Human-readable lines for `LocalisationMeter` metrics (empty when there are none)."""
    lines = []
    if "pointing_any" in metrics:
        line = (f"pointing game (any of the tracklets): {metrics['pointing_any']:.3f} (chance of the same "
                f"statistic {metrics['pointing_chance']:.3f})")
        if metrics.get("pointing_too_small"):
            line += (f"; the region maps are {int(metrics['pointing_grid'])} cells a side, too small to mean "
                     f"anything (use a larger input or a backbone with a smaller output stride)")
        lines.append(line)
    if "actionness_in_box" in metrics:
        line = (f"actionness in box: {metrics['actionness_in_box']:.3f} (uniform map "
                f"{metrics['actionness_in_box_chance']:.3f})")
        if metrics.get("actionness_too_small"):
            line += (f"; the largest actionness map is {int(metrics['actionness_grid'])} cells a side, too small "
                     f"to mean anything")
        lines.append(line)
    return lines


def _spatial_maps(extras: dict) -> dict[str, torch.Tensor]:
    maps = {k: extras[k].float().cpu() for k in ("regions", "actionness") if k in extras}
    for name, m in (extras.get("actionness_per_block") or {}).items():
        maps[f"block:{name}"] = m.float().cpu()
    return maps


def _concat_maps(chunks: list[dict[str, torch.Tensor]]) -> dict:
    """The chunks' maps joined along the batch, in the shape of the models' extras."""
    joined = {k: torch.cat([c[k] for c in chunks]) for k in chunks[0]}
    extras: dict = {k: v for k, v in joined.items() if not k.startswith("block:")}
    blocks = {k.removeprefix("block:"): v for k, v in joined.items() if k.startswith("block:")}
    if blocks:
        extras["actionness_per_block"] = blocks
    return extras


def _gathered_localisation(meter: LocalisationMeter) -> dict[str, float]:
    """`LocalisationMeter.compute()` over every rank's clips ({} when no clip had maps and boxes)."""
    if distributed.current().enabled:
        parts = distributed.all_gather_objects(meter.state())
        meter = LocalisationMeter.merged(parts)
    return meter.compute()


def _num_classes(model: nn.Module) -> int:
    from .strategies import unwrap

    return int(getattr(unwrap(model), "num_classes", 0))
