"""What a run writes while it trains: a progress line, a log file, per-epoch metrics.

Run directory layout (see `trainer.train`):

    config.yaml        the resolved config
    train.log          every line printed (without the live progress bar)
    metrics.jsonl      one JSON object per epoch (train loss, lr, clips/s, validation metrics)
    metrics.csv        the same as a table, rewritten each epoch so new columns line up
    tensorboard/       event files when the `tensorboard` package is installed
    checkpoints/       last.pt, best.pt

Only rank 0 writes; other ranks get a logger that stays silent.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=int(seconds)))


class RunLogger:
    def __init__(self, run_dir: Path | None, enabled: bool = True, stream: TextIO | None = None):
        self.run_dir = run_dir
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.live = enabled and self.stream.isatty()
        self._live_shown = False
        self._file = open(run_dir / "train.log", "a", encoding="utf-8") if enabled and run_dir else None
        self._rows: list[dict[str, Any]] = []
        self._tb = None
        if enabled and run_dir:
            jsonl = run_dir / "metrics.jsonl"
            if jsonl.is_file():  # a resumed run appends to the rows it had
                self._rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self._tb = None

    def info(self, message: str) -> None:
        if not self.enabled:
            return
        if self._live_shown:
            self.stream.write("\n")
            self._live_shown = False
        print(message, file=self.stream, flush=True)
        if self._file:
            self._file.write(message + "\n")
            self._file.flush()

    def progress(self, epoch: int, epochs: int, batch: int, batches: int, logs: dict[str, float], lr: float,
                 clips_per_s: float, eta_s: float, final: bool = False) -> None:
        """One status line: live-updated on a terminal, otherwise printed when the caller asks (every log_every)."""
        if not self.enabled:
            return
        width = 20
        filled = int(width * batch / max(1, batches))
        bar = "#" * filled + "." * (width - filled)
        terms = " ".join(f"{k} {v:.4f}" for k, v in logs.items())
        line = (f"epoch {epoch + 1}/{epochs} [{bar}] {batch}/{batches} {terms} lr {lr:.3g} "
                f"{clips_per_s:.1f} clips/s ETA {format_duration(eta_s)}")
        if self.live and not final:
            self.stream.write("\r" + line.ljust(120)[:160])
            self.stream.flush()
            self._live_shown = True
        else:
            self.info(line)

    def epoch_metrics(self, row: dict[str, Any]) -> None:
        """Append one epoch's row to metrics.jsonl / metrics.csv / TensorBoard."""
        if not self.enabled or self.run_dir is None:
            return
        self._rows = [r for r in self._rows if r.get("epoch") != row.get("epoch")] + [row]
        with open(self.run_dir / "metrics.jsonl", "w", encoding="utf-8") as f:
            for r in self._rows:
                f.write(json.dumps(r) + "\n")
        columns: list[str] = []
        for r in self._rows:
            columns += [k for k in r if k not in columns]
        with open(self.run_dir / "metrics.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self._rows)
        if self._tb is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self._tb.add_scalar(k, v, row.get("epoch", 0))
            self._tb.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


class Throughput:
    """Clips per second over the current epoch, and the ETA of the remaining batches."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.clips = 0
        self.batches = 0

    def update(self, clips: int) -> None:
        self.clips += clips
        self.batches += 1

    def clips_per_s(self) -> float:
        return self.clips / max(1e-9, time.perf_counter() - self.start)

    def eta(self, remaining_batches: int) -> float:
        if self.batches == 0:
            return float("inf")
        return (time.perf_counter() - self.start) / self.batches * remaining_batches
