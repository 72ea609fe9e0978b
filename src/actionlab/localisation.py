"""Where a model's spatial maps point, against the data's per-frame boxes of the moving part.

Two measures, each against its chance level (what a map that knows nothing scores):

- the pointing game of ART's tracklet region responses (extras "regions" [N, T, K, h, w]):
  `pointing_game(regions, boxes, image_size, criterion)` says how often each tracklet's response peak
  falls inside the annotated box (boxes [N, T, 4] in clip pixels, NaN = unknown, as the data contract gives
  them), beside the chance rate of a peak placed uniformly at random over the grid cells; "any of the K
  tracklets" is compared with the chance of the same statistic, 1 - (1 - p)^K per frame (K peaks placed
  independently at random), not with single-peak chance.  criterion "centre": the peak cell's centre is in
  the box; "cell": the peak cell overlaps the box (for coarse token grids, e.g. a CNN's 1/32 map, whose
  cells can be larger than the box of a small moving part);
- the actionness in the box of ATR's maps (extras "actionness" [N, T, 1, h, w], or one map per block in
  "actionness_per_block"): `actionness_box_mass` is the share of each frame's spatial softmax (the weights
  of ATR's Eq. 5) inside the box; a uniform map scores the box's area fraction (`box_area_fraction`).

A grid smaller than `MIN_GRID` (4x4) cells cannot point anywhere meaningful: on a 1x1 map every peak "hits"
and the score equals its chance; the scores carry a `too_small` flag that says so.

`PointingMeter` and `ActionnessInBoxMeter` are the evaluator's meters for the two (`eval_metrics.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ModelError

MIN_GRID = 4  # a map needs at least 4x4 cells to point somewhere (see the module docstring)


def too_small_note(grid: tuple[int, int]) -> str:
    """'' for a map of at least MIN_GRID x MIN_GRID cells, else a sentence saying it cannot mean anything."""
    if min(grid) >= MIN_GRID:
        return ""
    return (f"the map is {grid[0]}x{grid[1]} cells, too small to mean anything (under {MIN_GRID}x{MIN_GRID}; "
            f"use a larger input or a backbone with a smaller output stride)")


# ---------------------------------------------------------------------------- pointing game (ART)


def peak_points(regions: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Peak of every response map, in clip pixels: regions [..., h, w] -> [..., 2] (x, y) cell centres."""
    h, w = regions.shape[-2:]
    flat = regions.flatten(-2).argmax(-1)
    rows, cols = flat // w, flat % w
    height, width = image_size
    return torch.stack([(cols.float() + 0.5) * width / w, (rows.float() + 0.5) * height / h], -1)


def _peak_hits(regions: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int], criterion: str,
               tolerance: float) -> torch.Tensor:
    """regions [..., h, w], boxes [..., 4] (broadcast) -> bool [...]: the peak "falls inside" the box.

    criterion "centre": the peak cell's centre lies in the box (grown by `tolerance` pixels);
    "cell": the peak cell's rectangle overlaps the box - fairer when cells are larger than the box.
    """
    h, w = regions.shape[-2:]
    height, width = image_size
    flat = regions.flatten(-2).argmax(-1)
    rows, cols = (flat // w).float(), (flat % w).float()
    x1, y1 = boxes[..., 0] - tolerance, boxes[..., 1] - tolerance
    x2, y2 = boxes[..., 2] + tolerance, boxes[..., 3] + tolerance
    if criterion == "centre":
        x, y = (cols + 0.5) * width / w, (rows + 0.5) * height / h
        return (x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)
    if criterion == "cell":
        cx1, cx2 = cols * width / w, (cols + 1) * width / w
        cy1, cy2 = rows * height / h, (rows + 1) * height / h
        return (cx1 < x2) & (cx2 > x1) & (cy1 < y2) & (cy2 > y1)
    raise ModelError(f"pointing game criterion must be 'centre' or 'cell', got {criterion!r}")


@dataclass
class PointingScore:
    per_tracklet: list[float]  # hit rate of each tracklet's peak
    any_tracklet: float  # a frame counts as hit when some tracklet's peak is inside
    chance: float  # hit rate of a peak placed uniformly at random over the grid cells (per-tracklet chance)
    frames: int  # frames with a known box
    criterion: str = "centre"
    chance_any: float = float("nan")  # chance of `any_tracklet`: 1 - (1 - p)^K, K random peaks per frame
    grid: tuple[int, int] = (0, 0)  # (h, w) of the region maps

    @property
    def too_small(self) -> bool:
        """True when the maps have fewer than MIN_GRID cells a side: the score cannot mean anything."""
        return min(self.grid) < MIN_GRID

    def as_dict(self) -> dict[str, Any]:
        return {"per_tracklet": self.per_tracklet, "any_tracklet": self.any_tracklet, "chance": self.chance,
                "chance_any": self.chance_any, "frames": self.frames, "criterion": self.criterion,
                "grid": list(self.grid), "too_small": self.too_small}


class PointingAccumulator:
    """Sums pointing-game hits over batches (regions [N, T, K, h, w], boxes [N, T, 4])."""

    def __init__(self, criterion: str = "centre", tolerance: float = 0.0):
        self.criterion, self.tolerance = criterion, tolerance
        self.hits: torch.Tensor | None = None
        self.any_hits = 0.0
        self.chance_sum = 0.0
        self.chance_any_sum = 0.0
        self.frames = 0
        self.grid: tuple[int, int] = (0, 0)

    def update(self, regions: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int]) -> None:
        regions, boxes = regions.detach().float().cpu(), torch.as_tensor(boxes).float().cpu()
        n, t, k, h, w = regions.shape
        boxes = boxes.reshape(n, t, 4)
        known = ~torch.isnan(boxes).any(-1)  # [N, T]
        if not known.any():
            return
        hit = _peak_hits(regions, boxes[:, :, None], image_size, self.criterion, self.tolerance)  # [N, T, K]
        hit = hit & known[..., None]
        self.hits = hit.sum((0, 1)).float() + (self.hits if self.hits is not None else 0)
        self.any_hits += float(hit.any(-1).sum())
        cells = torch.eye(h * w).view(h * w, h, w)  # a peak at every cell in turn
        chance = _peak_hits(cells, boxes[:, :, None], image_size, self.criterion, self.tolerance).float().mean(-1)
        self.chance_sum += float(chance[known].sum())
        self.chance_any_sum += float((1 - (1 - chance[known]) ** k).sum())
        self.frames += int(known.sum())
        self.grid = (h, w)

    def result(self) -> PointingScore:
        if not self.frames or self.hits is None:
            raise ModelError("pointing game: no frame with a known box of the moving part")
        return PointingScore([float(v) / self.frames for v in self.hits], self.any_hits / self.frames,
                             self.chance_sum / self.frames, self.frames, self.criterion,
                             self.chance_any_sum / self.frames, self.grid)


def pointing_game(regions: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int],
                  criterion: str = "centre", tolerance: float = 0.0) -> PointingScore:
    """Pointing game of one batch: regions [N, T, K, h, w], boxes [N, T, 4] (x1, y1, x2, y2 clip pixels)."""
    acc = PointingAccumulator(criterion, tolerance)
    acc.update(regions, boxes, image_size)
    return acc.result()


# ---------------------------------------------------------------------------- actionness inside boxes (ATR)


def box_cell_coverage(boxes: torch.Tensor, grid: tuple[int, int], frame_size: tuple[int, int]) -> torch.Tensor:
    """Fraction of each cell of an h x w grid over the frame that lies inside the box.

    boxes [..., 4] (x1, y1, x2, y2 in frame pixels, NaN if unknown) -> [..., h, w] in [0, 1]
    (NaN where the box is unknown). Cells tile the frame evenly, as a feature map does.
    """
    (h, w), (height, width) = grid, frame_size

    def overlap(lo: torch.Tensor, hi: torch.Tensor, cells: int, size: int) -> torch.Tensor:
        edges = torch.linspace(0, size, cells + 1, dtype=boxes.dtype, device=boxes.device)
        inside = torch.minimum(hi[..., None], edges[1:]) - torch.maximum(lo[..., None], edges[:-1])
        return inside.clamp(min=0) / (size / cells)

    ox = overlap(boxes[..., 0], boxes[..., 2], w, width)  # [..., w]
    oy = overlap(boxes[..., 1], boxes[..., 3], h, height)  # [..., h]
    coverage = oy[..., :, None] * ox[..., None, :]
    unknown = boxes.isnan().any(-1)
    return coverage.masked_fill(unknown[..., None, None], float("nan"))


def actionness_box_mass(actionness: torch.Tensor, boxes: torch.Tensor, frame_size: tuple[int, int]) -> torch.Tensor:
    """Share of each frame's actionness (spatial softmax, the weights of ATR's Eq. 5) inside the box.

    actionness [N, T, 1, h, w]; boxes [N, T, 4] from the dataset contract (output-clip pixels,
    NaN if unknown); frame_size (H, W) of the clip. Returns [N, T] in [0, 1], NaN where the box
    is unknown. A uniform map scores the box's area fraction: `box_area_fraction` gives that chance level.
    """
    if actionness.dim() != 5 or actionness.shape[2] != 1:
        raise ModelError(f"actionness must be [N, T, 1, h, w], got {list(actionness.shape)}")
    n, t, _, h, w = actionness.shape
    if boxes.shape != (n, t, 4):
        raise ModelError(f"boxes must be [N, T, 4] = [{n}, {t}, 4] to match the actionness, got {list(boxes.shape)}")
    weights = actionness.detach().float().flatten(2).softmax(-1).view(n, t, h, w)
    coverage = box_cell_coverage(boxes.to(weights), (h, w), frame_size)
    return (weights * coverage).sum((-2, -1))


def box_area_fraction(boxes: torch.Tensor, grid: tuple[int, int], frame_size: tuple[int, int]) -> torch.Tensor:
    """The mass a uniform map puts inside each box (the chance level of `actionness_box_mass`), [N, T]."""
    return box_cell_coverage(boxes.float(), grid, frame_size).mean((-2, -1))


# ---------------------------------------------------------------------------- the evaluator's meters


def _nanmean(values: list[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else math.nan


def _accumulator_state(a: PointingAccumulator) -> dict[str, Any]:
    return {"hits": None if a.hits is None else a.hits.tolist(), "any_hits": a.any_hits, "chance_sum": a.chance_sum,
            "chance_any_sum": a.chance_any_sum, "frames": a.frames, "grid": a.grid}


def _add_state(a: PointingAccumulator, st: dict[str, Any]) -> None:
    if st["hits"] is not None:
        hits = torch.tensor(st["hits"])
        a.hits = hits if a.hits is None else a.hits + hits
        a.grid = tuple(st["grid"])
    a.any_hits += st["any_hits"]
    a.chance_sum += st["chance_sum"]
    a.chance_any_sum += st["chance_any_sum"]
    a.frames += st["frames"]


class PointingMeter:
    """The pointing game of ART's "regions" over an evaluation (see `eval_metrics.py` for the protocol): under
    the "cell" criterion (pointing_*), and under the stricter "centre" one (pointing_centre_*)."""

    batch_key = "boxes"
    extras_keys = ("regions",)

    def __init__(self) -> None:
        self.acc = PointingAccumulator(criterion="cell")
        self.centre = PointingAccumulator(criterion="centre")

    @property
    def observed(self) -> int:
        return self.acc.frames

    def observe(self, extras: dict[str, Any], boxes: torch.Tensor, image_size: tuple[int, int]) -> None:
        if "regions" in extras:
            for acc in (self.acc, self.centre):
                acc.update(extras["regions"], boxes.float().cpu(), image_size)

    def state(self) -> dict[str, Any]:
        return {"cell": _accumulator_state(self.acc), "centre": _accumulator_state(self.centre)}

    @classmethod
    def merged(cls, states: list[dict[str, Any]]) -> PointingMeter:
        out = cls()
        for st in states:
            _add_state(out.acc, st["cell"])
            _add_state(out.centre, st["centre"])
        return out

    def compute(self) -> dict[str, float]:
        score, centre = self.acc.result(), self.centre.result()
        return {"pointing_any": score.any_tracklet, "pointing_chance": score.chance_any,
                "pointing_per_tracklet": sum(score.per_tracklet) / len(score.per_tracklet),
                "pointing_chance_single": score.chance, "pointing_grid": float(min(score.grid)),
                "pointing_too_small": float(score.too_small),
                "pointing_centre_any": centre.any_tracklet, "pointing_centre_chance": centre.chance_any}


class ActionnessInBoxMeter:
    """ATR's actionness inside the box, measured on the largest map (the earliest ATR block; the last one is
    1x1 at the demo's 32 px, where every map scores exactly its chance)."""

    batch_key = "boxes"
    extras_keys = ("actionness", "actionness_per_block")

    def __init__(self) -> None:
        self.in_box: list[float] = []
        self.in_box_chance: list[float] = []
        self.grid: tuple[int, int] = (0, 0)
        self.block = ""
        self.per_block: dict[str, list[float]] = {}  # every block's [mass sum, chance sum, frames]

    @property
    def observed(self) -> int:
        return len(self.in_box)

    def observe(self, extras: dict[str, Any], boxes: torch.Tensor, image_size: tuple[int, int]) -> None:
        maps = extras.get("actionness_per_block") or ({"last": extras["actionness"]} if "actionness" in extras
                                                        else {})
        if not maps:
            return
        boxes = boxes.float().cpu()
        largest = max(maps, key=lambda k: maps[k].shape[-2] * maps[k].shape[-1])
        for name, actionness in maps.items():
            actionness = actionness.float().cpu()
            mass = actionness_box_mass(actionness, boxes, image_size).flatten()
            chance = box_area_fraction(boxes, tuple(actionness.shape[-2:]), image_size).flatten()
            known = torch.isfinite(mass) & torch.isfinite(chance)
            sums = self.per_block.setdefault(name, [0.0, 0.0, 0.0])
            sums[0] += float(mass[known].sum())
            sums[1] += float(chance[known].sum())
            sums[2] += float(known.sum())
            if name == largest:
                self.in_box += mass.tolist()
                self.in_box_chance += chance.tolist()
                self.grid, self.block = tuple(actionness.shape[-2:]), name

    def state(self) -> dict[str, Any]:
        return {"in_box": self.in_box, "in_box_chance": self.in_box_chance, "grid": self.grid, "block": self.block,
                "per_block": self.per_block}

    @classmethod
    def merged(cls, states: list[dict[str, Any]]) -> ActionnessInBoxMeter:
        out = cls()
        for st in states:
            out.in_box += st["in_box"]
            out.in_box_chance += st["in_box_chance"]
            if st["in_box"]:
                out.grid, out.block = tuple(st["grid"]), st["block"]
            for name, sums in st["per_block"].items():
                mine = out.per_block.setdefault(name, [0.0, 0.0, 0.0])
                out.per_block[name] = [a + b for a, b in zip(mine, sums)]
        return out

    def compute(self) -> dict[str, float]:
        out = {"actionness_in_box": _nanmean(self.in_box), "actionness_in_box_chance": _nanmean(self.in_box_chance),
               "actionness_grid": float(min(self.grid)), "actionness_too_small": float(min(self.grid) < MIN_GRID)}
        for name, (mass, chance, frames) in self.per_block.items():  # every ATR block, network order
            if len(self.per_block) > 1 and frames:
                out[f"actionness_in_box[{name}]"] = mass / frames
                out[f"actionness_in_box_chance[{name}]"] = chance / frames
        return out


def localisation_notes(metrics: dict[str, float]) -> list[str]:
    """Human-readable lines for the pointing / actionness metrics (empty when there are none)."""
    lines = []
    if "pointing_any" in metrics:
        line = (f"pointing game (any of the tracklets): {metrics['pointing_any']:.3f} (chance of the same "
                f"statistic {metrics['pointing_chance']:.3f})")
        if "pointing_centre_any" in metrics:
            line += (f"; peak cell centre in the box: {metrics['pointing_centre_any']:.3f} (chance "
                     f"{metrics['pointing_centre_chance']:.3f})")
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
        blocks = [k[len("actionness_in_box["):-1] for k in metrics if k.startswith("actionness_in_box[")]
        if blocks:
            line += "; per block " + ", ".join(
                f"{b} {metrics[f'actionness_in_box[{b}]']:.3f} ({metrics[f'actionness_in_box_chance[{b}]']:.3f})"
                for b in blocks)
        lines.append(line)
    return lines
