"""The training loop, top to bottom.

    train(cfg, resume="auto")
      1. processes and devices: torchrun group, device, seeds, determinism
      2. data: train / val datasets and loaders (seeded per sample, sharded per rank)
      3. model, training strategy, optimizers, lr schedules, grad scaler
      4. run directory (new, or the one being resumed) and the config saved into it
      5. resume: weights, optimizer and schedule states, epoch / batch position, RNG states
      6. DDP / torch.compile wrappers
      7. epochs -> batches -> strategy.train_step -> schedules, logs, step checkpoints
         -> validation, metrics row, last / best checkpoints
      NaN/inf loss: stop, keep the last good checkpoint.  Ctrl-C / SIGTERM: finish the step, save, exit.

How a method trains differently lives in its `TrainStrategy` (actionlab/strategy.py), never in here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import Dataset

from ..config import Config, check_ranges, save_config
from ..errors import ActionlabError, ConfigError, DataError, ModelError
from ..models.recognizer import Recognizer
from ..strategy import NonFiniteLossError, StepContext, TrainStrategy, unwrap
from ..threads import describe as describe_threads
from . import distributed
from .build import build_model, build_strategy, model_name_of
from .checkpoint import (
    FORMAT,
    capture_rng_state,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
)
from .evaluate import evaluate
from .loader import eval_loader, num_items, train_loader
from .logs import RunLogger, Throughput, format_duration
from .optim import Schedule, build_optimizer, describe_lr_groups, scaled_lr
from .rundir import last_checkpoint, open_run, resume_command
from .runlock import RunLock
from .runtime import (
    autocast_factory,
    model_mean_std,
    prepare_clip,
    seed_everything,
    select_device,
    to_channels_last,
    wants_cuda,
)
from .skips import EpochSkips, annotation_lines, log_data_warnings
from .workers import WorkerDiedError, worker_died


@dataclass
class TrainState:
    """Where the run is; saved in every checkpoint."""

    epoch: int = 0  # epoch being trained (0-based)
    batch_in_epoch: int = 0  # micro-batches of this epoch consumed
    step: int = 0  # optimizer steps in total
    best: float | None = None  # best validation metric
    best_epoch: int = 0
    epoch_sums: dict[str, float | torch.Tensor] = field(default_factory=dict)  # this epoch's summed logs so far


@dataclass
class TrainResult:
    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    val_metrics: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    state: TrainState = field(default_factory=TrainState)
    best_metric: str = "top1"  # the validation metric best.pt is chosen by (mAP for multi-label data)

    def summary(self) -> str:
        """What the run left and what to run next (printed by `actionlab train`)."""
        lines = [f"run directory: {self.run_dir}"]
        if self.best_checkpoint is not None and self.state.best is not None:
            lines.append(f"best.pt: best validation {self.best_metric} {self.state.best:.4f} at epoch "
                         f"{self.state.best_epoch} -> {self.best_checkpoint}")
        else:
            lines.append("best.pt: not written (no validation set, or validation did not run)")
        if self.last_checkpoint is not None:
            lines.append(f"last.pt: the state after epoch {self.state.epoch} (resumable) -> {self.last_checkpoint}")
        ckpt = self.best_checkpoint or self.last_checkpoint
        if ckpt is not None:
            lines.append(f"next: actionlab test --checkpoint {ckpt}   (the config is read from the checkpoint)")
        return "\n".join(lines)


StepHook = Callable[[TrainState, dict[str, float]], None]


# --------------------------------------------------------------------------- pieces of the loop


def split_views(clip: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Training clips [B, V, C, T, H, W] -> [B*V, C, T, H, W], each view with its video's target."""
    if clip.dim() == 6:
        v = clip.shape[1]
        clip = clip.flatten(0, 1)
        target = target.repeat_interleave(v, dim=0)
    return clip, target


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM stopped the run after saving last.pt; the message names the command that resumes it."""


class InterruptFlag:
    """Ctrl-C (SIGINT) or SIGTERM (a scheduler's pre-emption, torchrun stopping its workers) asks the loop
    to save and stop after the current step; a second Ctrl-C aborts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptFlag:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)


def checkpoint_payload(cfg: Config, model: nn.Module, class_names: list[str], multi_label: bool,
                       strategy: TrainStrategy, optimizers: dict[str, torch.optim.Optimizer],
                       schedules: dict[str, Schedule], scaler: Any, state: TrainState,
                       metrics: dict[str, float]) -> dict[str, Any]:
    inner = unwrap(model)
    return {
        "format": FORMAT,
        "model_name": model_name_of(inner, cfg),
        "num_classes": int(getattr(inner, "num_classes", len(class_names))),
        "class_names": list(class_names),
        "multi_label": multi_label,
        "config": cfg.to_dict(),
        "model": inner.state_dict(),
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in schedules.items()},
        "scaler": scaler.state_dict() if scaler is not None else None,
        "strategy": strategy.state_dict(),
        "epoch": state.epoch,
        "batch_in_epoch": state.batch_in_epoch,
        "step": state.step,
        "best": state.best,
        "best_epoch": state.best_epoch,
        "epoch_sums": {k: float(v) for k, v in state.epoch_sums.items()},
        "metrics": dict(metrics),
        "rng": distributed.all_gather_objects(capture_rng_state()),  # one state per rank
    }


# --------------------------------------------------------------------------- the loop


def train(cfg: Config, resume: str | None = None, *, run_dir: str | Path | None = None,
          model: nn.Module | None = None, train_set: Dataset | None = None, val_set: Dataset | None = None,
          checkpoint_every_steps: int | None = None, on_step: StepHook | None = None) -> TrainResult:
    """Train `cfg` and return where the results are.

    resume: None, a checkpoint path, or "auto" (the last checkpoint of this config's run, if any).
    run_dir: the run directory (default: train.work_dir/name, name-2, ... for new runs).
    model / train_set / val_set: use these instead of building them from the config (tests, the demo).
    checkpoint_every_steps: also save last.pt every N optimizer steps (default: train.checkpoint_every_steps;
    0: only at epoch ends).
    on_step: called after every optimizer step with the state and that step's logs.
    """
    run = TrainingRun(cfg, checkpoint_every_steps=checkpoint_every_steps, on_step=on_step)
    run.setup_processes()
    run.setup_data(train_set, val_set)
    run.setup_model(model)
    run.open_run_dir(resume, Path(run_dir) if run_dir is not None else None)
    run.resume()
    run.wrap_model()
    return run.fit()


class TrainingRun:
    """One call of `train`, in the order the module docstring lists; each method is one step of it.

    The attributes are set by the step that builds them (`setup_data` sets the loaders, `setup_model` the
    model, optimizers and schedules, ...), and `fit` runs the epochs.  To change one step, change its method.
    """

    def __init__(self, cfg: Config, *, checkpoint_every_steps: int | None = None,
                 on_step: StepHook | None = None) -> None:
        check_ranges(cfg)  # a Config built in code skips the check that loading one does
        self.cfg = cfg
        self.on_step = on_step
        self.every_steps = (cfg.train.checkpoint_every_steps if checkpoint_every_steps is None
                            else checkpoint_every_steps)
        self.accumulate = max(1, cfg.train.accumulate)
        self.state = TrainState()
        self.metrics: dict[str, float] = {}
        self.last_saved: Path | None = None  # the newest intact last.pt (the resumed one until a save)

    # 1. processes, device, seeds ----------------------------------------------------------------

    def setup_processes(self) -> None:
        cfg = self.cfg
        self.dist = distributed.init_distributed(wants_cuda(cfg.train.device))
        self.device = select_device(cfg.train.device, self.dist.local_rank)
        seed_everything(cfg.train.seed, cfg.train.deterministic, self.device)
        self.autocast, self.needs_scaler = autocast_factory(cfg.train.amp, self.device)

    # 2. data -------------------------------------------------------------------------------------

    def setup_data(self, train_set: Dataset | None, val_set: Dataset | None) -> None:
        cfg, dist = self.cfg, self.dist
        if train_set is None:
            from ..data import build_dataset

            train_set = build_dataset(cfg, "train")
            if val_set is None and cfg.data.val_list and cfg.train.eval_every > 0:
                val_set = build_dataset(cfg, "val", views="1x1")
        if num_items(train_set) == 0:
            raise DataError(f"the training set is empty ({cfg.data.train_list or 'no data.train_list'})")
        self.train_set = train_set
        self.data_log, self.data_counts = annotation_lines({"train": train_set, "val": val_set},
                                                           cfg.data.max_bad_fraction)
        self._set_classes(train_set)
        self.batch_size = cfg.data.batch_size
        self.loader, self.sampler, self.seeded_train = train_loader(
            train_set, self.batch_size, cfg.data.num_workers, cfg.train.seed, dist.rank, dist.world_size)
        self.batches_per_epoch = len(self.loader)
        if self.batches_per_epoch == 0:
            raise DataError("the training set gives no batch")
        self.steps_per_epoch = math.ceil(self.batches_per_epoch / self.accumulate)
        self.val_loader = None
        if val_set is not None and num_items(val_set) > 0:
            self.val_loader = eval_loader(val_set, cfg.test.batch_size, cfg.data.num_workers, cfg.train.seed,
                                          dist.rank, dist.world_size)

    def _set_classes(self, train_set: Dataset) -> None:
        cfg = self.cfg
        class_names = list(getattr(train_set, "class_names", []))
        self.num_classes = cfg.model.num_classes or len(class_names)
        if class_names and cfg.model.num_classes and cfg.model.num_classes != len(class_names):
            raise ConfigError(f"config key 'model.num_classes' is {cfg.model.num_classes} but the dataset has "
                              f"{len(class_names)} classes")
        self.dataset_class_names = list(class_names)  # real names only: ART builds its text bank from them
        self.class_names = class_names or [str(i) for i in range(self.num_classes)]
        self.multi_label = bool(getattr(train_set, "multi_label", False))
        self.best_metric = "mAP" if self.multi_label else "top1"

    # 3. model, strategy, optimizers, schedules, scaler ------------------------------------------

    def setup_model(self, model: nn.Module | None) -> None:
        cfg = self.cfg
        if model is None:
            model = build_model(cfg, self.num_classes, class_names=self.dataset_class_names or None)
        if cfg.train.partial_bn:  # TSN's partial BN: the model knows which of its norms to freeze
            if not isinstance(model, Recognizer):
                raise ConfigError(f"config key 'train.partial_bn': model '{cfg.model.name}' has no partial BN")
            model.set_partial_bn(True)  # a recognizer without one refuses
        model.to(self.device)
        if cfg.train.channels_last:
            to_channels_last(model)
        self.model = model
        self.mean, self.std = model_mean_std(model)
        self.strategy = build_strategy(cfg.train.strategy, **cfg.train.strategy_kwargs)
        base_lr = scaled_lr(cfg.optim, self.batch_size * self.dist.world_size * self.accumulate)

        def make_optimizer(module: nn.Module, **overrides: Any) -> torch.optim.Optimizer:
            return build_optimizer(module, cfg.optim, **{"lr": base_lr, **overrides})

        self.optimizers = self.strategy.build_optimizers(model, make_optimizer)
        self.lr_lines = describe_lr_groups(self.optimizers, cfg.optim)  # refuses optim.lr_mult keys naming nothing
        self.schedules = {k: Schedule(o, cfg.optim, self.steps_per_epoch, cfg.train.epochs)
                          for k, o in self.optimizers.items()}
        self.scaler = torch.amp.GradScaler(self.device.type) if self.needs_scaler else None

    # 4. run directory --------------------------------------------------------------------------

    def open_run_dir(self, resume: str | None, run_dir: Path | None) -> None:
        """Rank 0 picks (or makes) the run directory and locks it; every rank gets the same answer."""
        resolved: Any = None
        self.run_lock: RunLock | None = None
        if self.dist.is_main:
            try:
                resolved = open_run(self.cfg, resume, run_dir)
                self.run_lock = RunLock.acquire(resolved[0])  # a second run into this directory fails, naming this
            except ActionlabError as e:
                resolved = e
        resolved = distributed.broadcast_object(resolved)
        if isinstance(resolved, ActionlabError):
            raise resolved
        self.run_path, self.resume_path = resolved
        self.last_saved = self.resume_path
        self.last_path = last_checkpoint(self.run_path)
        self.best_path = self.last_path.with_name("best.pt")
        self.log = RunLogger(self.run_path, enabled=self.dist.is_main, loggers=list(self.cfg.train.loggers))
        if self.dist.is_main:
            save_config(self.cfg, self.run_path / "config.yaml")
        self.log.info(f"run directory: {self.run_path}")
        for line in self.data_log + self.lr_lines:  # class counts inferred, duplicates, skipped lines; lr per group
            self.log.info(line)

    # 5. resume ---------------------------------------------------------------------------------

    def resume(self) -> None:
        """Weights, optimizer / schedule / scaler / strategy states and the position of `resume_path`."""
        self.rng_state = None
        path = self.resume_path
        if path is None:
            return
        ckpt = load_checkpoint(path)
        saved_names = ckpt.get("class_names")
        names = self.class_names
        if saved_names and list(saved_names) != list(names):
            raise ModelError(f"checkpoint {path} was trained on {len(saved_names)} classes "
                             f"({', '.join(saved_names[:3])}, ...); the dataset has {len(names)} "
                             f"({', '.join(names[:3])}, ...): resume only with the data it was trained on")
        load_model_state(unwrap(self.model), ckpt, path, expected_model=model_name_of(unwrap(self.model), self.cfg))
        if set(ckpt.get("optimizers", {})) != set(self.optimizers):
            raise ConfigError(f"checkpoint {path} has optimizers {sorted(ckpt.get('optimizers', {}))}, "
                              f"train.strategy '{self.cfg.train.strategy}' builds {sorted(self.optimizers)}")
        for k, o in self.optimizers.items():
            o.load_state_dict(ckpt["optimizers"][k])
        for k, s in self.schedules.items():
            s.load_state_dict(ckpt["schedulers"][k])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.strategy.load_state_dict(ckpt.get("strategy", {}))
        self.state = TrainState(ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"], ckpt.get("best"),
                                ckpt.get("best_epoch", 0), dict(ckpt.get("epoch_sums", {})))
        self.metrics = dict(ckpt.get("metrics", {}))
        self.rng_state = ckpt.get("rng")  # restored last of all, in `fit`
        self.log.info(f"resumed from {path}: epoch {self.state.epoch + 1}, batch {self.state.batch_in_epoch}, "
                      f"step {self.state.step}")

    # 6. wrappers -------------------------------------------------------------------------------

    def wrap_model(self) -> None:
        """SyncBatchNorm, DDP (with its no_sync for accumulation windows), torch.compile."""
        sync_note = distributed.convert_sync_bn(self.model, self.cfg.train.sync_bn, self.device)
        if sync_note:
            self.log.info(sync_note)
        self.train_model: nn.Module = self.model
        self.no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
        if self.dist.enabled:
            ddp_kwargs: dict[str, Any] = {"find_unused_parameters": self.strategy.ddp_find_unused_parameters}
            if self.device.type == "cuda":
                ddp_kwargs["device_ids"] = [self.device.index]
            self.train_model = ddp = nn.parallel.DistributedDataParallel(self.model, **ddp_kwargs)
            self.no_sync = ddp.no_sync  # accumulation: all-reduce only on the window's last micro-batch
        if self.cfg.train.compile:
            self.train_model = torch.compile(self.train_model)  # type: ignore[assignment]  # an OptimizedModule

    def save(self, path: Path) -> Path:
        payload = checkpoint_payload(self.cfg, self.model, self.class_names, self.multi_label, self.strategy,
                                     self.optimizers, self.schedules, self.scaler, self.state,
                                     self.metrics)  # on every rank: it gathers their RNG states
        if self.dist.is_main:
            save_checkpoint(payload, path)
        distributed.barrier()
        if path == self.last_path:
            self.last_saved = path
        return path

    # 7. epochs ---------------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Every epoch from the current state on; the failure arms name what was kept and how to go on."""
        cfg, dist = self.cfg, self.dist
        self.log.info(f"training {model_name_of(unwrap(self.model), cfg)} on {num_items(self.train_set)} videos "
                      f"({self.num_classes} classes), {cfg.train.epochs} epochs x {self.batches_per_epoch} batches "
                      f"of {self.batch_size}{f' x {dist.world_size} processes' if dist.enabled else ''}, "
                      f"device {self.device}" + (f", {describe_threads(torch.get_num_threads())}"
                                                 if self.device.type == "cpu" else ""))
        if self.rng_state is not None:  # last, so nothing above draws from the restored generators
            rng = self.rng_state
            restore_rng_state(rng[dist.rank] if len(rng) == dist.world_size else rng[0])
        elif dist.enabled:  # same init on every rank (above); now different dropout per rank
            seed_everything(cfg.train.seed + 7919 * dist.rank + 1, cfg.train.deterministic, self.device)
        run_start = time.perf_counter()
        steps_at_start = self.state.step
        data_warnings = log_data_warnings(self.run_path / "train.log") if dist.is_main else None  # why a video failed
        if self.state.epoch >= cfg.train.epochs:  # resumed a finished run: say so rather than "0 steps"
            self.log.info(f"{self.run_path} is complete: {self.state.epoch} of {cfg.train.epochs} epochs trained; "
                          "nothing to train (a larger train.epochs trains it longer)")
        with InterruptFlag() as self.interrupt:
            try:
                for epoch in range(self.state.epoch, cfg.train.epochs):
                    self.train_epoch(epoch)
                elapsed = time.perf_counter() - run_start
                self.log.info(f"finished {self.state.step - steps_at_start} steps in {format_duration(elapsed)}; "
                              f"results in {self.run_path}")
            except DataError as e:  # too many unreadable videos, or a bad one with data.on_error=raise
                self.log.info(f"stopped: {e}")
                raise
            except RuntimeError as e:
                died = worker_died(e, [self.loader, self.val_loader])
                if died is None:
                    raise
                raise self._worker_died(died) from None
            except NonFiniteLossError as e:
                raise self._non_finite(e) from None
            finally:
                self._close(data_warnings)
        jsonl = self.run_path / "metrics.jsonl"
        history = ([json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
                   if jsonl.is_file() else [])
        return TrainResult(self.run_path, self.last_saved, self.best_path if self.best_path.is_file() else None,
                           self.metrics, history, self.state, self.best_metric)

    def train_epoch(self, epoch: int) -> None:
        """The epoch's batches from where the state stands, then `end_epoch`."""
        cfg, state = self.cfg, self.state
        state.epoch = epoch
        self.sampler.set_epoch(epoch, start=state.batch_in_epoch * self.batch_size)
        self.seeded_train.set_epoch(epoch)
        generator = self.loader.generator
        assert generator is not None  # train_loader always gives its loader one (seeded per epoch)
        generator.manual_seed(cfg.train.seed * 1000 + epoch)
        self.train_model.train()
        meter = Throughput()
        skips = EpochSkips(self.train_set, list(self.sampler), self.batch_size)  # which videos each batch skipped
        epoch_videos = min(len(self.sampler), self.batches_per_epoch * self.batch_size) * self.dist.world_size
        for batch in self.loader:
            if skips.update(batch) and not self.dist.enabled:  # over the limit already: stop now
                skips.check(skips.count, epoch_videos, cfg.data.max_bad_fraction, epoch + 1)
            if batch is None:  # every video of the batch was unreadable (data.on_error=skip)
                state.batch_in_epoch += 1
                continue
            self.train_batch(batch, epoch, meter)
        self.end_epoch(epoch, meter, skips, epoch_videos)

    def train_batch(self, batch: dict[str, Any], epoch: int, meter: Throughput) -> None:
        """One micro-batch through the strategy; at an accumulation window's end, `after_step`."""
        device, state = self.device, self.state
        b = state.batch_in_epoch
        should_step = (b + 1) % self.accumulate == 0 or b + 1 == self.batches_per_epoch
        clip = prepare_clip(batch["clip"], device, self.mean, self.std)
        target = batch["label"].to(device, non_blocking=True)
        clip, target = split_views(clip, target)
        extras = {k: v.to(device, non_blocking=True) for k, v in batch.items() if k in ("action_mask", "boxes")}
        ctx = StepContext(self.train_model, self.optimizers, self.autocast, self.scaler, self.accumulate,
                          should_step, self.cfg.optim.clip_grad, state.step,
                          batch={**batch, **extras, "label": target})
        with contextlib.nullcontext() if should_step else self.no_sync():
            logs = self.strategy.train_step(ctx, clip, target)
        state.batch_in_epoch += 1
        meter.update(clip.shape[0] * self.dist.world_size)
        sums = state.epoch_sums
        for k, v in logs.items():  # 0-dim tensors stay on the device: no sync per step
            sums[k] = sums.get(k, 0.0) + v
        if should_step:
            self.after_step(logs, epoch, meter)

    def after_step(self, logs: dict[str, Any], epoch: int, meter: Throughput) -> None:
        """Schedules, the strategy's hook, logs, `on_step`; then Ctrl-C and step checkpoints."""
        cfg, state = self.cfg, self.state
        lr = next(iter(self.schedules.values())).get_last_lr()[0]
        for s in self.schedules.values():
            s.step()
        self.strategy.after_optimizer_step(unwrap(self.train_model))
        state.step += 1
        self.log.step_metrics(state.step, logs, lr)
        done = state.batch_in_epoch
        if done % max(1, cfg.train.log_every) == 0 or done == self.batches_per_epoch or self.log.live:
            remaining = (cfg.train.epochs * self.steps_per_epoch - state.step) * self.accumulate
            avg = {k: float(v) / done for k, v in state.epoch_sums.items()}
            self.log.progress(epoch, cfg.train.epochs, done, self.batches_per_epoch, avg, lr,
                              meter.clips_per_s(), meter.eta(remaining), final=done == self.batches_per_epoch)
        if self.on_step is not None:
            self.on_step(state, {k: float(v) for k, v in logs.items()})
        requested = self.interrupt.requested
        if distributed.any_true(requested) if self.dist.enabled else requested:
            self.save(self.last_path)
            message = (f"saved {self.last_path} at epoch {epoch + 1}, batch {done}; resume this run with: "
                       f"{resume_command(self.run_path, self.last_path)}")
            self.log.info(f"interrupted: {message}")
            raise TrainingInterrupted(message)
        mid_epoch = done < self.batches_per_epoch
        if self.every_steps and mid_epoch and state.step % self.every_steps == 0:
            self.save(self.last_path)

    def end_epoch(self, epoch: int, meter: Throughput, skips: EpochSkips, epoch_videos: int) -> None:
        """The epoch's metrics row (train means, skips, validation), best.pt and last.pt."""
        cfg, state = self.cfg, self.state
        sums = state.epoch_sums
        state.epoch, state.batch_in_epoch, state.epoch_sums = epoch + 1, 0, {}
        row: dict[str, Any] = {"epoch": epoch + 1, "step": state.step}
        row.update({f"train_{k}": v / self.batches_per_epoch
                    for k, v in distributed.all_reduce_mean({k: float(v) for k, v in sums.items()}).items()})
        row["lr"] = next(iter(self.schedules.values())).get_last_lr()[0]
        row["clips_per_s"] = meter.clips_per_s()
        row.update(self._skipped_videos(epoch, skips, epoch_videos))
        row.update(self.data_counts)
        last_epoch = epoch + 1 == cfg.train.epochs
        if self.val_loader is not None and (last_epoch or (cfg.train.eval_every > 0
                                                           and (epoch + 1) % cfg.train.eval_every == 0)):
            row.update(self.validate(epoch))
        self.log.epoch_metrics(row)
        summary = " ".join(f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float))
        self.log.info(f"epoch {epoch + 1}/{cfg.train.epochs} done: {summary}")
        if last_epoch or (epoch + 1) % max(1, cfg.train.checkpoint_every) == 0:
            self.save(self.last_path)

    def _skipped_videos(self, epoch: int, skips: EpochSkips, epoch_videos: int) -> dict[str, Any]:
        """Log the videos this epoch skipped as unreadable (stop above data.max_bad_fraction); their count."""
        for path in skips.paths():
            self.log.info(f"epoch {epoch + 1}: skipped unreadable video {path}")
        skipped = int(distributed.all_reduce_mean({"n": float(skips.count)}).get("n", 0)
                      * self.dist.world_size + 0.5)
        if skipped:
            data = self.cfg.data
            self.log.info(f"epoch {epoch + 1}: skipped {skipped} of {epoch_videos} videos as unreadable "
                          f"(data.on_error={data.on_error}; the run stops above "
                          f"data.max_bad_fraction={data.max_bad_fraction:g})")
            skips.check(skipped, epoch_videos, data.max_bad_fraction, epoch + 1)
        return {"skipped_videos": skipped}  # every epoch, 0 included: a column that is there when it matters

    def validate(self, epoch: int) -> dict[str, Any]:
        """Validation metrics (as `val_*` columns); best.pt when the best metric improved."""
        cfg, state = self.cfg, self.state
        distributed.broadcast_buffers(self.model)
        assert self.val_loader is not None  # validate() runs only with a validation set
        result = evaluate(self.model, self.val_loader, self.device, self.mean, self.std,
                          average=cfg.test.average, max_views_per_forward=cfg.test.max_views_per_forward,
                          autocast=self.autocast, multi_label=self.multi_label)
        self.metrics = result.metrics
        row: dict[str, Any] = {f"val_{k}": v for k, v in self.metrics.items()}
        if result.skipped:
            row["val_skipped_videos"] = result.skipped
            self.log.info(f"epoch {epoch + 1}: validation over {len(result.indices)} of "
                          f"{len(result.indices) + result.skipped} videos ({result.skipped} unreadable)")
        value = self.metrics.get(self.best_metric, float("nan"))
        if state.best is None or value > state.best:
            state.best, state.best_epoch = value, epoch + 1
            self.save(self.best_path)
        return row

    # failures ------------------------------------------------------------------------------------

    def _kept(self) -> str:
        if self.last_saved:
            return (f"the last checkpoint {self.last_saved} is intact; resume with: "
                    f"{resume_command(self.run_path, self.last_saved)}")
        return f"no checkpoint was saved yet; start again with: actionlab train {self.run_path / 'config.yaml'}"

    def _worker_died(self, died: str) -> WorkerDiedError:
        kept = self._kept()
        self.log.info(f"stopped: {died}; {kept}")
        return WorkerDiedError(f"{died}; {kept}")

    def _non_finite(self, e: NonFiniteLossError) -> NonFiniteLossError:
        state = self.state
        where = f"epoch {state.epoch + 1}, batch {state.batch_in_epoch + 1} (step {state.step + 1})"
        kept = f"last good checkpoint: {self.last_saved}" if self.last_saved else "no checkpoint was saved yet"
        self.log.info(f"stopped: {e} at {where}; {kept}")
        return NonFiniteLossError(f"{e} at {where}; training stopped, {kept}")

    def _close(self, data_warnings: logging.Handler | None) -> None:
        self.log.close()
        if self.run_lock is not None:
            self.run_lock.release()
        if data_warnings is not None:
            logging.getLogger("actionlab.data").removeHandler(data_warnings)
            data_warnings.close()
