"""What a training run skipped, for train.log and metrics.jsonl, and when skipping must stop the run.

Policy (README, "Reliability"): training skips an unreadable video (`data.on_error` auto or
skip), logs its annotation line and path in train.log and counts it per epoch in
metrics.jsonl (`skipped_videos`); when more than `data.max_bad_fraction` of an epoch's videos
fail, the run stops with one line naming the first of them.  At exactly the bound it goes on (29 bad
of 100 with 0.29 trains); the fraction is compared as a quotient, `bad / total > max_bad_fraction`,
because the product `0.29 * 100` is 28.999999999999996 in floating point and would stop it.  Skipped annotation lines
(`data.on_error=skip`) are counted the same way (`skipped_annotation_lines`) and the same
fraction of bad lines stops the run before it starts.

Which videos a batch skipped is worked out in the main process from the sampler's order (a
DataLoader yields batches in sampler order, with or without workers) and the indices the
batch kept, so nothing extra has to travel back from the workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import DataError


def over_bound(bad: int, total: int, max_bad_fraction: float) -> bool:
    """More than `max_bad_fraction` of `total` is bad; exactly the bound is not (see the module docstring)."""
    return total > 0 and bad / total > max_bad_fraction


def _describe(dataset: Any, index: int) -> str:
    records = getattr(dataset, "records", None)
    if records is not None and 0 <= index < len(records):
        r = records[index]
        return f"{r.source} ({r.path})" if getattr(r, "source", "") else str(r.path)
    return f"video {index}"


def annotation_lines(datasets: dict[str, Any], max_bad_fraction: float) -> tuple[list[str], dict[str, int]]:
    """(lines for train.log, metrics columns) about the annotation lists of the run's datasets.

    Raises DataError when more than `max_bad_fraction` of the training list's lines were skipped.
    """
    lines: list[str] = []
    counts: dict[str, int] = {}
    for split, ds in datasets.items():
        if ds is None:
            continue
        errors = list(getattr(ds, "annotation_errors", []))
        for note in getattr(ds, "annotation_notes", []):
            lines.append(f"{split} data: {note}")
        duplicates = list(getattr(ds, "duplicates", []))
        if duplicates:
            lines.append(f"{split} data: {len(duplicates)} videos listed twice with the same label "
                         f"(first: {duplicates[0]})")
        if not errors:
            continue
        prefix = "" if split == "train" else f"{split}_"
        counts[f"{prefix}skipped_annotation_lines"] = len(errors)
        lines.append(f"{split} data: skipped {len(errors)} bad annotation lines (data.on_error=skip):")
        lines += [f"  {m}" for m in errors]
        total = len(errors) + len(ds)
        if split == "train" and over_bound(len(errors), total, max_bad_fraction):
            raise DataError(f"{len(errors)} of {total} lines of the training list are bad (more than "
                            f"data.max_bad_fraction={max_bad_fraction:g}); first: {errors[0]}")
    return lines, counts


class EpochSkips:
    """The videos the batches of one epoch skipped, matched against the sampler's order."""

    def __init__(self, dataset: Any, order: Sequence[int], batch_size: int):
        self.dataset = dataset
        self.order = [int(i) for i in order]
        self.batch_size = batch_size
        self.position = 0
        self.indices: list[int] = []

    def update(self, batch: dict[str, Any] | None) -> int:
        """Call once per batch the loader yields (None for a batch whose every video was skipped); returns
        how many videos this batch skipped."""
        sampled = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        kept = set() if batch is None else {int(i) for i in batch["index"]}
        skipped = [i for i in sampled if i not in kept]
        reported = len(sampled) - len(kept) if batch is None else int(batch.get("skipped", len(skipped)))
        if len(skipped) != reported:  # the order did not match (a custom loader): count what the batch says
            skipped = skipped[:reported] if len(skipped) > reported else skipped + [-1] * (reported - len(skipped))
        self.indices += skipped
        return len(skipped)

    @property
    def count(self) -> int:
        return len(self.indices)

    def paths(self) -> list[str]:
        return [_describe(self.dataset, i) if i >= 0 else "a video" for i in self.indices]

    def check(self, total_skipped: int, epoch_videos: int, max_bad_fraction: float, epoch: int) -> None:
        """Stop the run when more than `max_bad_fraction` of the epoch's videos could not be read."""
        if over_bound(total_skipped, epoch_videos, max_bad_fraction):
            first = self.paths()[:3]
            raise DataError(f"epoch {epoch}: {total_skipped} of {epoch_videos} training videos could not be read "
                            f"(more than data.max_bad_fraction={max_bad_fraction:g}); first: {', '.join(first)}"
                            " (run `actionlab data check` on the config to list them all)")


def log_data_warnings(train_log: Path) -> logging.Handler:
    """Copy the data layer's warnings (a skipped video and why it could not be read) into train.log.

    Attached before the DataLoader forks its workers, so a worker's warnings land there too (each record
    is one appended, flushed line).  Remove it with `logging.getLogger("actionlab.data").removeHandler`."""
    handler = logging.FileHandler(train_log, mode="a", encoding="utf-8")
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("data: %(message)s"))
    logging.getLogger("actionlab.data").addHandler(handler)
    return handler
