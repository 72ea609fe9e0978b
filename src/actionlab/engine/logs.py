"""What a run writes while it trains: a progress line, a log file, per-epoch metrics.

Run directory layout (see `trainer.train`):

    config.yaml        the resolved config
    train.log          every line printed (without the live progress bar)
    metrics.jsonl      one JSON object per epoch (train loss, lr, clips/s, validation metrics)
    metrics.csv        the same as a table, rewritten each epoch so new columns line up
    tensorboard/       TensorBoard event files, with `train.loggers: [tensorboard]`: per optimizer step
                       train/<loss term> and train/lr, per epoch epoch/<metric> (val_top1, ...)
    checkpoints/       last.pt (the latest state, resumable), best.pt (best validation metric)

On a terminal the progress line is rewritten in place; piped to a file or another program it is
one line per update (`Progress` does the same for test, predict, explain, flops, data check).
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

from ..errors import require


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    return str(datetime.timedelta(seconds=int(seconds)))


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def tensorboard_writer(log_dir: Path) -> Any:
    """A TensorBoard SummaryWriter on `log_dir`; a one-line error when the package is missing."""
    tensorboard = require("torch.utils.tensorboard", "tensorboard", "config key 'train.loggers: [tensorboard]'",
                          package="tensorboard")
    return tensorboard.SummaryWriter(str(log_dir))


class Progress:
    """A progress line for any long step: `label done/total [extra]`.

    On a terminal it is rewritten in place; otherwise (a log file, a pipe) every update that moves the
    count by at least `every` (a fraction of the total) or comes `quiet_s` seconds after the last printed one,
    and the last one, is printed as a line of its own (never silent for long, never a line per item).
    """

    quiet_s = 10.0

    def __init__(self, label: str, total: int | None, stream: TextIO | None = None, every: float = 0.1,
                 enabled: bool = True):
        self.label, self.total, self.every, self.enabled = label, total, every, enabled
        self.stream = stream or sys.stderr
        self.live = _is_tty(self.stream)
        self._last: float | None = None  # the count last printed (not on a terminal)
        self._last_time = time.perf_counter()
        self._open = False
        self.start = time.perf_counter()

    def update(self, done: int, extra: str = "") -> None:
        if not self.enabled:
            return
        total = self.total or 0
        end = total > 0 and done >= total
        elapsed = time.perf_counter() - self.start
        eta = f" ETA {format_duration(elapsed / done * (total - done))}" if total and 0 < done < total else ""
        line = f"{self.label} {done}/{total if total else '?'}{f' {extra}' if extra else ''}{eta}"
        if self.live:
            self.stream.write("\r" + line.ljust(79) + ("\n" if end else ""))
            self._open = not end
        elif (end or total <= 0 or self._last is None or done - self._last >= max(1.0, self.every * total)
              or (done != self._last and time.perf_counter() - self._last_time >= self.quiet_s)):
            self.stream.write(line + "\n")
            self._last, self._last_time = done, time.perf_counter()
        self.stream.flush()

    def close(self) -> None:
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


class RunLogger:
    def __init__(self, run_dir: Path | None, enabled: bool = True, stream: TextIO | None = None,
                 loggers: list[str] | tuple[str, ...] = ()):
        self.run_dir = run_dir
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.live = enabled and _is_tty(self.stream)
        self._live_shown = False
        self._file = open(run_dir / "train.log", "a", encoding="utf-8") if enabled and run_dir else None
        self._rows: list[dict[str, Any]] = []
        self._tb = None
        if enabled and run_dir:
            jsonl = run_dir / "metrics.jsonl"
            if jsonl.is_file():  # a resumed run appends to the rows it had
                self._rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
            if "tensorboard" in loggers:
                self._tb = tensorboard_writer(run_dir / "tensorboard")
                self.info(f"TensorBoard events: {run_dir / 'tensorboard'}  (view: tensorboard --logdir "
                          f"{run_dir / 'tensorboard'})")

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

    def step_metrics(self, step: int, logs: dict[str, float], lr: float) -> None:
        """Per optimizer step: each loss term as train/<name> and the learning rate as train/lr (TensorBoard)."""
        if self._tb is None:
            return
        for k, v in logs.items():
            self._tb.add_scalar(f"train/{k}", v, step)
        self._tb.add_scalar("train/lr", lr, step)

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
        if self._tb is not None:  # the epoch is the x axis, not a curve of its own; "step" likewise
            for k, v in row.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("epoch", "step"):
                    self._tb.add_scalar(f"epoch/{k}", v, row.get("epoch", 0))
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
