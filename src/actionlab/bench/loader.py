"""actionlab bench loader CONFIG: would the model wait on data?  And what does the engine cost?

  1. loader alone: clips/s of the configured training split through `engine.loader.train_loader`
     (the loader `actionlab train` uses) at 0, 1, 2 and N workers, with the configured
     `data.cache` and, for comparison, with `data.cache=none` at 0 workers.
  2. model step alone: a plain PyTorch loop (normalise, forward, cross-entropy, backward, the
     configured gradient clipping, SGD/AdamW step) on batches already decoded into memory, on the
     configured device (`train.device`), clips/s.
  3. the ratio loader / step per worker count (below 1: the model waits on data), and a
     recommendation for data.num_workers, data.cache and torch threads.
  --scan-cost: only what the per-file scans cost an epoch (0 workers, no frame cache, whole epochs,
     interleaved repeats): every item scanning its file (a dataset larger than the per-process
     scan cache, before the on-disk scan store), every item reading its scan from the store, and
     every scan in memory; CPU ms per clip, and the share of the epoch the scans take.
  --train R: `actionlab train` side by side with the plain loop, R interleaved repeats of
     [loader alone, plain loop, `trainer.train` (what `actionlab train` runs, in this process,
     `--epochs` epochs)], so that a load that changes during the run affects all three alike.
     Prints medians, train/plain as a ratio, the start-up of `train` (its wall time minus its
     epochs), and the engine overhead per clip = train time - plain-loop time - the loader's
     time when it runs in the training process (num_workers 0: in series with the step).

Clips/s of `train` are the per-epoch figures it writes to metrics.jsonl (what its log prints).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import tempfile
import time
from typing import TYPE_CHECKING, Any

from ..commands._common import add_config_arguments, config_from_args

if TYPE_CHECKING:
    import torch

    from ..config import Config


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--workers", type=int, nargs="+", default=None,
                   help="worker counts for the loader alone (default: 0 1 2 and the number of cores)")
    p.add_argument("--batches", type=int, default=0, help="batches per measurement (default: one epoch, at most 64)")
    p.add_argument("--train", type=int, default=0, metavar="R",
                   help="also run `actionlab train` side by side with the plain loop, R interleaved repeats")
    p.add_argument("--epochs", type=int, default=2, help="epochs of `actionlab train` per repeat (with --train)")
    p.add_argument("--scan-cost", action="store_true",
                   help="only measure what scanning each video costs an epoch, with and without the on-disk scan store")
    p.add_argument("--repeats", type=int, default=3, help="interleaved repeats of the --scan-cost epochs (default 3)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads of the training process for every measurement (0: torch's default)")


def _cfg(cfg: Config, **data: Any) -> Config:
    from ..config import from_dict

    out = from_dict(cfg.to_dict())
    for k, v in data.items():
        setattr(out.data, k, v)
    return out


def loader_rate(cfg: Config, workers: int, batches: int) -> tuple[float, str]:
    """(clips/s of the training loader alone over `batches` batches after a first one, cache status)."""
    rate, _, status = loader_rates(cfg, workers, batches)
    return rate, status


def loader_rates(cfg: Config, workers: int, batches: int) -> tuple[float, float, str]:
    """(clips per wall second, clips per CPU second of this process, cache status) of the loader alone."""
    from ..data import build_dataset
    from ..engine.loader import train_loader

    dataset = build_dataset(cfg, "train")
    loader, sampler, seeded = train_loader(dataset, cfg.data.batch_size, workers, cfg.train.seed)
    it = iter(loader)
    next(it)  # worker start-up and the first batch are not timed
    clips, start, cpu = 0, time.perf_counter(), time.process_time()
    for _ in range(batches):
        try:
            batch = next(it)
        except StopIteration:  # a new epoch (persistent workers stay up)
            it = iter(loader)
            batch = next(it)
        clips += 0 if batch is None else batch["clip"].shape[0]
    rate, cpu_rate = clips / (time.perf_counter() - start), clips / max(1e-9, time.process_time() - cpu)
    del it, loader
    return rate, cpu_rate, getattr(dataset, "cache_status", "")


def decoded_batches(cfg: Config, batches: int) -> list[dict[str, torch.Tensor]]:
    """`batches` training batches (uint8 clips, labels) decoded into memory."""
    from ..data import build_dataset
    from ..engine.loader import train_loader

    dataset = build_dataset(cfg, "train")
    loader, _, _ = train_loader(dataset, cfg.data.batch_size, 0, cfg.train.seed)
    out: list[Any] = []
    while len(out) < batches:
        for batch in loader:
            if batch is not None:
                out.append({"clip": batch["clip"], "label": batch["label"]})
            if len(out) == batches:
                break
    return out


class PlainLoop:
    """The model step alone: what a hand-written PyTorch loop does per batch, nothing else."""

    def __init__(self, cfg: Config, num_classes: int):
        import torch

        from ..engine.build import build_model
        from ..engine.runtime import model_mean_std, select_device

        self.device = select_device(cfg.train.device)
        torch.manual_seed(cfg.train.seed)
        self.model = build_model(cfg, num_classes, load_pretrained=False).to(self.device).train()
        mean, std = model_mean_std(self.model)
        shape = (1, 3, 1, 1, 1)
        self.scale = (1 / (255 * torch.tensor(std))).view(shape).to(self.device)
        self.shift = (-torch.tensor(mean) / torch.tensor(std)).view(shape).to(self.device)
        o = cfg.optim
        params = [p for p in self.model.parameters() if p.requires_grad]
        if o.name == "adamw":
            betas = (float(o.betas[0]), float(o.betas[1]))
            self.opt: torch.optim.Optimizer = torch.optim.AdamW(params, lr=o.lr, betas=betas,
                                                                weight_decay=o.weight_decay)
        else:
            self.opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        self.params = params
        self.clip_grad = o.clip_grad
        self.multi_label = False

    def step(self, batch: dict[str, torch.Tensor]) -> None:
        import torch
        import torch.nn.functional as F

        clip = batch["clip"].to(self.device, non_blocking=True)
        y = batch["label"].to(self.device, non_blocking=True)
        if clip.dim() == 6:
            clip = clip.flatten(0, 1)
        x = torch.addcmul(self.shift, clip.float(), self.scale)
        out = self.model(x)
        logits = out.logits if hasattr(out, "logits") else out
        loss = F.cross_entropy(logits, y)
        loss.backward()
        if self.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.params, self.clip_grad)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def rate(self, batches: list[dict[str, torch.Tensor]]) -> float:
        return self.rates(batches)[0]

    def rates(self, batches: list[dict[str, torch.Tensor]]) -> tuple[float, float]:
        """(clips per wall second, clips per CPU second of this process)."""
        import torch

        self.step(batches[0])  # warm-up (lazy initialisation)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start, cpu = time.perf_counter(), time.process_time()
        for b in batches:
            self.step(b)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        clips = sum(b["clip"].shape[0] for b in batches)
        return clips / (time.perf_counter() - start), clips / max(1e-9, time.process_time() - cpu)


def train_rate(cfg: Config, epochs: int) -> tuple[float, float, float]:
    """(median per-epoch clips/s that `actionlab train` reports, its start-up seconds, clips per CPU second of
    this process from its first to its last optimizer step: epoch ends and checkpoints included)."""
    from ..config import from_dict
    from ..engine.trainer import train

    run = from_dict(cfg.to_dict())
    run.train.epochs, run.train.eval_every = epochs, 0
    scratch = tempfile.mkdtemp(prefix="actionlab-bench-loader-")
    try:
        stamps: list[float] = []
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            result = train(run, run_dir=scratch, on_step=lambda state, logs: stamps.append(time.process_time()))
        wall = time.perf_counter() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rates = [r["clips_per_s"] for r in result.history]
    clips_per_epoch = len(result.history) and result.state.step * cfg.data.batch_size / len(result.history)
    in_epochs = sum(clips_per_epoch / r for r in rates)
    cpu_rate = (len(stamps) - 1) * cfg.data.batch_size / max(1e-9, stamps[-1] - stamps[0])
    return statistics.median(rates), wall - in_epochs, cpu_rate


def recommend(cfg: Config, step: float, rates: dict[int, float], cores: int) -> list[str]:
    """What to set, from the measured figures."""
    lines = []
    fast = [w for w, r in sorted(rates.items()) if r >= step]
    best = max(rates, key=lambda w: rates[w])
    if fast:
        w = fast[0]
        lines.append(f"data.num_workers: {w} (the fewest workers whose loader alone outruns the step: "
                     f"{rates[w]:.0f} vs {step:.0f} clips/s)")
    else:
        lines.append(f"data.num_workers: {best} (the fastest measured, {rates[best]:.0f} clips/s) - the step "
                     f"({step:.0f} clips/s) will still wait on data: more cores, a smaller read size "
                     "(data.scale_size), or a cache")
    if cfg.data.cache == "none":
        lines.append("data.cache: auto (decodes each training video once when the split fits the memory budget)")
    w = fast[0] if fast else best
    if w > 0:
        lines.append(f"threads: torch.set_num_threads({max(1, cores - w)}) in the training process leaves a core "
                     "to each worker (OMP_NUM_THREADS for the CLI)")
    return lines


def run(args: argparse.Namespace) -> int:
    import torch

    cfg = config_from_args(args)
    from ..data import build_dataset

    if args.threads > 0:
        torch.set_num_threads(args.threads)

    train_set = build_dataset(cfg, "train")
    cores = os.cpu_count() or 1
    workers = args.workers if args.workers is not None else sorted({0, 1, 2, cores})
    per_epoch = len(train_set) // cfg.data.batch_size
    batches = args.batches or max(1, min(64, per_epoch))
    device = torch.device("cuda") if cfg.train.device == "auto" and torch.cuda.is_available() else None
    print(f"config {args.config}: {cfg.model.name}, {cfg.data.num_segments} x {cfg.data.input_size} px, "
          f"batch {cfg.data.batch_size}, {len(train_set)} training videos ({per_epoch} batches an epoch); "
          f"{batches} batches per measurement; {cores} cores, torch threads {torch.get_num_threads()}, "
          f"device {device or cfg.train.device}; load average {_load()}")
    del train_set
    if args.scan_cost:
        scan_cost(cfg, args.repeats)
        return 0

    # 1. the loader alone ------------------------------------------------------------------------
    rates: dict[int, float] = {}
    print("\n## loader alone (training split, clips/s)\n")
    print(f"{'workers':>7}  {'data.cache':<10}  {'clips/s':>8}  status")
    status = ""
    for w in workers:
        rates[w], status = loader_rate(cfg, w, batches)
        print(f"{w:>7}  {cfg.data.cache:<10}  {rates[w]:>8.1f}  {status}")
    uncached = None
    if cfg.data.cache != "none":
        uncached, _ = loader_rate(_cfg(cfg, cache="none"), 0, batches)
        print(f"{0:>7}  {'none':<10}  {uncached:>8.1f}  read from the files")

    # 2. the model step alone --------------------------------------------------------------------
    decoded = decoded_batches(cfg, batches)
    plain = PlainLoop(cfg, train_set_classes(cfg))
    step = plain.rate(decoded)
    print(f"\n## model step alone (plain PyTorch loop on decoded batches, {plain.device})\n")
    print(f"{step:.1f} clips/s")

    # 3. ratios and a recommendation -------------------------------------------------------------
    print("\n## loader / step (below 1.00: the step waits on data)\n")
    for w, r in rates.items():
        print(f"workers {w}: {r / step:.2f}")
    if uncached is not None:
        print(f"workers 0, no cache: {uncached / step:.2f}")
    print("\nrecommendation:")
    for line in recommend(cfg, step, rates, cores):
        print(f"  {line}")

    if args.train:
        side_by_side(cfg, args.train, args.epochs, batches, decoded)
    return 0


def _epoch_cpu(cfg: Config, disk: bool) -> tuple[float, float, int]:
    """(CPU s of one whole epoch of the loader alone at 0 workers, CPU s spent scanning, clips); `disk`: the
    on-disk scan store is used.  The per-process scan cache is as the caller left it."""
    from ..data import build_dataset, readers
    from ..data.video_index import INDEX_CACHE
    from ..engine.loader import train_loader

    saved = INDEX_CACHE.disk, readers.scan
    spent = [0.0]

    def timed_scan(*a: Any, **k: Any) -> Any:
        c = time.process_time()
        try:
            return saved[1](*a, **k)
        finally:
            spent[0] += time.process_time() - c

    INDEX_CACHE.disk, readers.scan = disk, timed_scan
    try:
        dataset = build_dataset(cfg, "train")
        loader, _, _ = train_loader(dataset, cfg.data.batch_size, 0, cfg.train.seed)
        cpu = time.process_time()
        clips = sum(0 if b is None else b["clip"].shape[0] for b in loader)
        return time.process_time() - cpu, spent[0], clips
    finally:
        INDEX_CACHE.disk, readers.scan = saved


def scan_cost(cfg: Config, repeats: int) -> None:
    """Per-epoch scan cost, before and after the on-disk scan store (see the module docstring)."""
    from ..data.video_index import INDEX_CACHE

    cfg = _cfg(cfg, cache="none")
    limits = INDEX_CACHE.entries, INDEX_CACHE.packet_bytes
    settings = {  # name: (per-process scan cache holds the split, on-disk store)
        "scan every file (before: split > per-process scan cache)": (False, False),
        "scans read from the on-disk store (after)": (False, True),
        "every scan and its packets in memory (lower bound)": (True, True),
    }
    got: dict[str, list[tuple[float, float, int]]] = {name: [] for name in settings}
    try:
        INDEX_CACHE.entries, INDEX_CACHE.packet_bytes = 1 << 30, 1 << 40
        INDEX_CACHE.clear()
        _epoch_cpu(cfg, True)  # a first epoch: fills the store and the memory cache
        held = (INDEX_CACHE._data.copy(), INDEX_CACHE._bytes)
        for _ in range(repeats):
            for name, (in_memory, disk) in settings.items():
                INDEX_CACHE.clear()
                if in_memory:
                    INDEX_CACHE._data, INDEX_CACHE._bytes = held[0].copy(), held[1]
                INDEX_CACHE.entries = 1 << 30 if in_memory else 0  # 0: a miss for every item, as when the split
                got[name].append(_epoch_cpu(cfg, disk))  # is larger than the cache
    finally:
        INDEX_CACHE.entries, INDEX_CACHE.packet_bytes = limits
        INDEX_CACHE.clear()
    print(f"\n## per-epoch scan cost (loader alone, 0 workers, data.cache=none, whole epochs, median of {repeats}, "
          f"interleaved)\n")
    print(f"{'setting':<56} {'CPU ms/clip':>11} {'scanning':>9} {'vs before':>9}")
    base = None
    for name, runs in got.items():
        cpu = statistics.median(r[0] / r[2] for r in runs)
        scanning = statistics.median(r[1] / r[0] for r in runs)
        base = base or cpu
        print(f"{name:<56} {1e3 * cpu:>11.2f} {100 * scanning:>8.1f}% {base / cpu:>8.2f}x")
    print(f"(scanning: the share of the epoch's CPU time spent in the scans; the per-process scan cache holds "
          f"{limits[0]} files per worker)")


def train_set_classes(cfg: Config) -> int:
    from ..data import build_dataset

    return cfg.model.num_classes or build_dataset(cfg, "train").num_classes


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def side_by_side(cfg: Config, repeats: int, epochs: int, batches: int, decoded: list[dict[str, Any]]) -> None:
    """R interleaved repeats of loader alone, plain loop, `actionlab train`; medians and ratios."""
    w = cfg.data.num_workers
    num_classes = train_set_classes(cfg)
    rows: list[tuple[float, float, float, float]] = []
    cpu_rows: list[tuple[float, float, float]] = []
    print(f"\n## `actionlab train` vs a plain PyTorch loop ({repeats} interleaved repeats; data.num_workers {w}, "
          f"data.cache {cfg.data.cache}, train {epochs} epochs a repeat)\n")
    print("clips per wall second (train: per epoch, as its log prints); in brackets clips per CPU second of this "
          "process\n")
    print(f"{'repeat':>6}  {'loader':>14}  {'plain':>14}  {'train':>14}  {'train/plain':>13}  {'start-up s':>10}  load")
    for r in range(repeats):
        loader, loader_cpu, _ = loader_rates(cfg, w, batches)
        plain, plain_cpu = PlainLoop(cfg, num_classes).rates(decoded)
        trained, startup, train_cpu = train_rate(cfg, epochs)
        rows.append((loader, plain, trained, startup))
        cpu_rows.append((loader_cpu, plain_cpu, train_cpu))
        print(f"{r + 1:>6}  {loader:>6.1f} ({loader_cpu:>5.1f})  {plain:>6.1f} ({plain_cpu:>5.1f})  "
              f"{trained:>6.1f} ({train_cpu:>5.1f})  {trained / plain:>5.2f} ({train_cpu / plain_cpu:>4.2f})  "
              f"{startup:>10.1f}  {_load()}")
    loader, plain, trained, startup = (statistics.median(c) for c in zip(*rows))
    loader_cpu, plain_cpu, train_cpu = (statistics.median(c) for c in zip(*cpu_rows))
    ratio = statistics.median(t / p for _, p, t, _ in rows)
    cpu_ratio = statistics.median(t / p for _, p, t in cpu_rows)
    print(f"{'median':>6}  {loader:>6.1f} ({loader_cpu:>5.1f})  {plain:>6.1f} ({plain_cpu:>5.1f})  "
          f"{trained:>6.1f} ({train_cpu:>5.1f})  {ratio:>5.2f} ({cpu_ratio:>4.2f})  {startup:>10.1f}")
    ms = 1000.0
    per_train, per_plain, per_loader = ms / trained, ms / plain, ms / loader
    serial = per_loader if w == 0 else 0.0
    print(f"\nper clip: train {per_train:.2f} ms = plain step {per_plain:.2f} ms"
          f"{f' + loader {per_loader:.2f} ms (in series, num_workers 0)' if w == 0 else ''}"
          f" + engine overhead {per_train - per_plain - serial:+.2f} ms"
          f"{'' if w == 0 else ' (includes any wait on the workers)'}")
    c_train, c_plain, c_loader = ms / train_cpu, ms / plain_cpu, ms / loader_cpu
    c_serial = c_loader if w == 0 else 0.0
    print(f"per clip, CPU time of this process: train {c_train:.2f} ms = plain step {c_plain:.2f} ms"
          f"{f' + loader {c_loader:.2f} ms' if w == 0 else ''} + engine overhead {c_train - c_plain - c_serial:+.2f} ms"
          f"{'' if w == 0 else ' (the workers CPU time is not counted)'}")
    print(f"train / plain loop (median of the per-repeat ratios): {ratio:.2f}x wall clock, {cpu_ratio:.2f}x CPU time")
