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

How a method trains differently lives in its `TrainStrategy` (strategies.py), never in here.
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
from . import distributed
from .build import build_model, model_name_of
from .checkpoint import (
    FORMAT,
    capture_rng_state,
    load_checkpoint,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
)
from .evaluate import evaluate
from .loader import eval_loader, train_loader
from .logs import RunLogger, Throughput, format_duration
from .optim import Schedule, build_optimizer, describe_lr_groups, scaled_lr
from .runlock import RunLock
from .runtime import autocast_factory, model_mean_std, prepare_clip, seed_everything, select_device, to_channels_last
from .skips import EpochSkips, annotation_lines, log_data_warnings
from .strategies import NonFiniteLossError, StepContext, TrainStrategy, build_strategy, unwrap
from .workers import WorkerDiedError, worker_died


@dataclass
class TrainState:
    """Where the run is; saved in every checkpoint."""

    epoch: int = 0  # epoch being trained (0-based)
    batch_in_epoch: int = 0  # micro-batches of this epoch consumed
    step: int = 0  # optimizer steps in total
    best: float | None = None  # best validation metric
    best_epoch: int = 0
    epoch_sums: dict[str, float] = field(default_factory=dict)  # this epoch's summed logs so far


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


# --------------------------------------------------------------------------- run directory


def _candidate_run_dirs(cfg: Config) -> list[Path]:
    root = Path(cfg.train.work_dir)
    name = cfg.name or "run"
    return [root / name] + sorted(root.glob(f"{name}-[0-9]*"))


def find_resume_checkpoint(cfg: Config, run_dir: Path | None = None) -> Path | None:
    """`--resume auto`: the most recent checkpoints/last.pt of this config's run directories."""
    dirs = [run_dir] if run_dir is not None else _candidate_run_dirs(cfg)
    found = [d / "checkpoints" / "last.pt" for d in dirs if (d / "checkpoints" / "last.pt").is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def new_run_dir(cfg: Config) -> Path:
    """work_dir/name, or name-2, name-3 ... when it is taken (a finished run is never overwritten)."""
    root = Path(cfg.train.work_dir)
    name = cfg.name or "run"
    path, n = root / name, 1
    while path.exists() and any(path.iterdir()):
        n += 1
        path = root / f"{name}-{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resolve_run(cfg: Config, resume: str | None, run_dir: Path | None) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume from or None)."""
    if resume == "auto":
        ckpt = find_resume_checkpoint(cfg, run_dir)
    elif resume:
        ckpt = Path(resume)
        if not ckpt.is_file():
            raise ConfigError(f"--resume: checkpoint not found: {ckpt}")
    else:
        ckpt = None
    if ckpt is not None:
        return (ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent), ckpt
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir, None
    return new_run_dir(cfg), None


# --------------------------------------------------------------------------- pieces of the loop


def split_views(clip: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Training clips [B, V, C, T, H, W] -> [B*V, C, T, H, W], each view with its video's target."""
    if clip.dim() == 6:
        v = clip.shape[1]
        clip = clip.flatten(0, 1)
        target = target.repeat_interleave(v, dim=0)
    return clip, target


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
    checkpoint_every_steps: also save last.pt every N optimizer steps (0: only at epoch ends).
    on_step: called after every optimizer step with the state and that step's logs.
    """
    # 1. processes, device, seeds ---------------------------------------------------------------
    check_ranges(cfg)  # a Config built in code skips the check that loading one does
    want_cuda = cfg.train.device.startswith("cuda") or (cfg.train.device == "auto" and torch.cuda.is_available())
    dist_info = distributed.init_distributed(want_cuda)
    device = select_device(cfg.train.device, dist_info.local_rank)
    seed_everything(cfg.train.seed, cfg.train.deterministic, device)
    autocast, needs_scaler = autocast_factory(cfg.train.amp, device)
    accumulate = max(1, cfg.train.accumulate)
    if checkpoint_every_steps is None:  # a config field for it is requested from the lead; until then, the CLI flag
        checkpoint_every_steps = int(getattr(cfg.train, "checkpoint_every_steps", 0) or 0)

    # 2. data -------------------------------------------------------------------------------------
    if train_set is None:
        from ..data import build_dataset

        train_set = build_dataset(cfg, "train")
        if val_set is None and cfg.data.val_list and cfg.train.eval_every > 0:
            val_set = build_dataset(cfg, "val", views="1x1")
    if len(train_set) == 0:  # type: ignore[arg-type]
        raise DataError(f"the training set is empty ({cfg.data.train_list or 'no data.train_list'})")
    data_log, data_counts = annotation_lines({"train": train_set, "val": val_set}, cfg.data.max_bad_fraction)
    class_names = list(getattr(train_set, "class_names", []))
    num_classes = cfg.model.num_classes or len(class_names)
    if class_names and cfg.model.num_classes and cfg.model.num_classes != len(class_names):
        raise ConfigError(f"config key 'model.num_classes' is {cfg.model.num_classes} but the dataset has "
                          f"{len(class_names)} classes")
    dataset_class_names = list(class_names)  # real names only: ART builds its text bank from them
    class_names = class_names or [str(i) for i in range(num_classes)]
    multi_label = bool(getattr(train_set, "multi_label", False))
    batch_size = cfg.data.batch_size
    loader, sampler, seeded_train = train_loader(train_set, batch_size, cfg.data.num_workers, cfg.train.seed,
                                                 dist_info.rank, dist_info.world_size)
    batches_per_epoch = len(loader)
    if batches_per_epoch == 0:
        raise DataError("the training set gives no batch")
    steps_per_epoch = math.ceil(batches_per_epoch / accumulate)
    val_loader = None
    if val_set is not None and len(val_set) > 0:  # type: ignore[arg-type]
        val_loader = eval_loader(val_set, cfg.test.batch_size, cfg.data.num_workers, cfg.train.seed,
                                 dist_info.rank, dist_info.world_size)

    # 3. model, strategy, optimizers, schedules, scaler ----------------------------------------
    if model is None:
        model = build_model(cfg, num_classes, class_names=dataset_class_names or None)
    if cfg.train.partial_bn:  # TSN's partial BN: the model knows which of its norms to freeze
        if not hasattr(model, "set_partial_bn"):
            raise ConfigError(f"config key 'train.partial_bn': model '{cfg.model.name}' has no partial BN")
        model.set_partial_bn(True)
    model.to(device)
    if cfg.train.channels_last:
        to_channels_last(model)
    mean, std = model_mean_std(model)
    strategy = build_strategy(cfg.train.strategy, **cfg.train.strategy_kwargs)
    base_lr = scaled_lr(cfg.optim, batch_size * dist_info.world_size * accumulate)

    def make_optimizer(module: nn.Module, **overrides: Any) -> torch.optim.Optimizer:
        return build_optimizer(module, cfg.optim, **{"lr": base_lr, **overrides})

    optimizers = strategy.build_optimizers(model, make_optimizer)
    lr_lines = describe_lr_groups(optimizers, cfg.optim)  # refuses optim.lr_mult keys that name nothing
    schedules = {k: Schedule(o, cfg.optim, steps_per_epoch, cfg.train.epochs) for k, o in optimizers.items()}
    scaler = torch.amp.GradScaler(device.type) if needs_scaler else None
    state = TrainState()
    metrics: dict[str, float] = {}
    best_metric = "mAP" if multi_label else "top1"

    # 4. run directory --------------------------------------------------------------------------
    resolved: Any = None
    run_lock: RunLock | None = None
    if dist_info.is_main:
        try:
            resolved = resolve_run(cfg, resume, Path(run_dir) if run_dir is not None else None)
            run_lock = RunLock.acquire(resolved[0])  # a second run into this directory fails, naming this one
        except ActionlabError as e:
            resolved = e
    resolved = distributed.broadcast_object(resolved)
    if isinstance(resolved, ActionlabError):
        raise resolved
    run_path, resume_path = resolved
    log = RunLogger(run_path, enabled=dist_info.is_main, loggers=cfg.train.loggers)
    if dist_info.is_main:
        save_config(cfg, run_path / "config.yaml")
    log.info(f"run directory: {run_path}")
    for line in data_log + lr_lines:  # class counts inferred, duplicates, skipped lines; lr of each group
        log.info(line)

    # 5. resume ---------------------------------------------------------------------------------
    rng_state = None
    if resume_path is not None:
        ckpt = load_checkpoint(resume_path)
        saved_names = ckpt.get("class_names")
        if saved_names and list(saved_names) != list(class_names):
            raise ModelError(f"checkpoint {resume_path} was trained on {len(saved_names)} classes "
                             f"({', '.join(saved_names[:3])}, ...); the dataset has {len(class_names)} "
                             f"({', '.join(class_names[:3])}, ...): resume only with the data it was trained on")
        load_model_state(unwrap(model), ckpt, resume_path, expected_model=model_name_of(unwrap(model), cfg))
        if set(ckpt.get("optimizers", {})) != set(optimizers):
            raise ConfigError(f"checkpoint {resume_path} has optimizers {sorted(ckpt.get('optimizers', {}))}, "
                              f"train.strategy '{cfg.train.strategy}' builds {sorted(optimizers)}")
        for k, o in optimizers.items():
            o.load_state_dict(ckpt["optimizers"][k])
        for k, s in schedules.items():
            s.load_state_dict(ckpt["schedulers"][k])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        strategy.load_state_dict(ckpt.get("strategy", {}))
        state = TrainState(ckpt["epoch"], ckpt["batch_in_epoch"], ckpt["step"], ckpt.get("best"),
                           ckpt.get("best_epoch", 0), dict(ckpt.get("epoch_sums", {})))
        metrics = dict(ckpt.get("metrics", {}))
        rng_state = ckpt.get("rng")
        log.info(f"resumed from {resume_path}: epoch {state.epoch + 1}, batch {state.batch_in_epoch}, "
                 f"step {state.step}")

    # 6. wrappers -------------------------------------------------------------------------------
    sync_note = distributed.convert_sync_bn(model, cfg.train.sync_bn, device)
    if sync_note:
        log.info(sync_note)
    train_model: nn.Module = model
    no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    if dist_info.enabled:
        ddp_kwargs: dict[str, Any] = {"find_unused_parameters": strategy.ddp_find_unused_parameters}
        if device.type == "cuda":
            ddp_kwargs["device_ids"] = [device.index]
        train_model = ddp = nn.parallel.DistributedDataParallel(model, **ddp_kwargs)
        no_sync = ddp.no_sync  # accumulation: all-reduce only on the window's last micro-batch
    if cfg.train.compile:
        train_model = torch.compile(train_model)  # type: ignore[assignment]

    checkpoint_dir = run_path / "checkpoints"
    last_path, best_path = checkpoint_dir / "last.pt", checkpoint_dir / "best.pt"
    last_saved: Path | None = resume_path

    def save(path: Path) -> Path:
        nonlocal last_saved
        payload = checkpoint_payload(cfg, model, class_names, multi_label, strategy, optimizers, schedules, scaler,
                                     state, metrics)  # on every rank: it gathers their RNG states
        if dist_info.is_main:
            save_checkpoint(payload, path)
        distributed.barrier()
        if path == last_path:
            last_saved = path
        return path

    # 7. epochs ---------------------------------------------------------------------------------
    log.info(f"training {model_name_of(unwrap(model), cfg)} on {len(train_set)} videos "  # type: ignore[arg-type]
             f"({num_classes} classes), {cfg.train.epochs} epochs x {batches_per_epoch} batches of {batch_size}"
             f"{f' x {dist_info.world_size} processes' if dist_info.enabled else ''}, device {device}")
    if rng_state is not None:  # last, so nothing above draws from the restored generators
        restore_rng_state(rng_state[dist_info.rank] if len(rng_state) == dist_info.world_size else rng_state[0])
    elif dist_info.enabled:  # same init on every rank (above); now different dropout per rank
        seed_everything(cfg.train.seed + 7919 * dist_info.rank + 1, cfg.train.deterministic, device)
    run_start = time.perf_counter()
    total_steps = cfg.train.epochs * steps_per_epoch
    steps_at_start = state.step
    data_warnings = log_data_warnings(run_path / "train.log") if dist_info.is_main else None  # why a video failed
    with InterruptFlag() as interrupt:
        try:
            for epoch in range(state.epoch, cfg.train.epochs):
                state.epoch = epoch
                start_batch = state.batch_in_epoch
                sampler.set_epoch(epoch, start=start_batch * batch_size)
                seeded_train.set_epoch(epoch)
                loader.generator.manual_seed(cfg.train.seed * 1000 + epoch)  # type: ignore[union-attr]
                train_model.train()
                meter = Throughput()
                sums = state.epoch_sums
                skips = EpochSkips(train_set, list(sampler), batch_size)  # which videos each batch skipped
                epoch_videos = min(len(sampler), batches_per_epoch * batch_size) * dist_info.world_size
                for batch in loader:
                    if skips.update(batch) and not dist_info.enabled:  # over the limit already: stop now
                        skips.check(skips.count, epoch_videos, cfg.data.max_bad_fraction, epoch + 1)
                    if batch is None:  # every video of the batch was unreadable (data.on_error=skip)
                        state.batch_in_epoch += 1
                        continue
                    b = state.batch_in_epoch
                    should_step = (b + 1) % accumulate == 0 or b + 1 == batches_per_epoch
                    clip = prepare_clip(batch["clip"], device, mean, std)
                    target = batch["label"].to(device, non_blocking=True)
                    clip, target = split_views(clip, target)
                    extras = {k: v.to(device, non_blocking=True) for k, v in batch.items()
                              if k in ("action_mask", "boxes")}
                    ctx = StepContext(train_model, optimizers, autocast, scaler, accumulate, should_step,
                                      cfg.optim.clip_grad, state.step, batch={**batch, **extras, "label": target})
                    with contextlib.nullcontext() if should_step else no_sync():
                        logs = strategy.train_step(ctx, clip, target)
                    state.batch_in_epoch += 1
                    meter.update(clip.shape[0] * dist_info.world_size)
                    for k, v in logs.items():  # 0-dim tensors stay on the device: no sync per step (issue 19)
                        sums[k] = sums.get(k, 0.0) + v
                    if not should_step:
                        continue
                    lr = next(iter(schedules.values())).get_last_lr()[0]
                    for s in schedules.values():
                        s.step()
                    strategy.after_optimizer_step(unwrap(train_model))
                    state.step += 1
                    log.step_metrics(state.step, logs, lr)
                    done = state.batch_in_epoch
                    if done % max(1, cfg.train.log_every) == 0 or done == batches_per_epoch or log.live:
                        remaining = (total_steps - state.step) * accumulate
                        avg = {k: float(v) / done for k, v in sums.items()}
                        log.progress(epoch, cfg.train.epochs, done, batches_per_epoch, avg, lr,
                                     meter.clips_per_s(), meter.eta(remaining), final=done == batches_per_epoch)
                    if on_step is not None:
                        on_step(state, {k: float(v) for k, v in logs.items()})
                    mid_epoch = done < batches_per_epoch
                    stop = distributed.any_true(interrupt.requested) if dist_info.enabled else interrupt.requested
                    if stop:
                        save(last_path)
                        log.info(f"interrupted: saved {last_path} at epoch {epoch + 1}, batch {done}; "
                                 "continue with --resume auto")
                        raise KeyboardInterrupt
                    if checkpoint_every_steps and mid_epoch and state.step % checkpoint_every_steps == 0:
                        save(last_path)

                # end of epoch: validation, metrics, checkpoints
                state.epoch, state.batch_in_epoch, state.epoch_sums = epoch + 1, 0, {}
                row: dict[str, Any] = {"epoch": epoch + 1, "step": state.step}
                row.update({f"train_{k}": v / batches_per_epoch
                            for k, v in distributed.all_reduce_mean({k: float(v) for k, v in sums.items()}).items()})
                row["lr"] = next(iter(schedules.values())).get_last_lr()[0]
                row["clips_per_s"] = meter.clips_per_s()
                for path in skips.paths():
                    log.info(f"epoch {epoch + 1}: skipped unreadable video {path}")
                skipped = int(distributed.all_reduce_mean({"n": float(skips.count)}).get("n", 0)
                              * dist_info.world_size + 0.5)
                row["skipped_videos"] = skipped  # every epoch, 0 included: a column that is there when it matters
                row.update(data_counts)
                if skipped:
                    log.info(f"epoch {epoch + 1}: skipped {skipped} of {epoch_videos} videos as unreadable "
                             f"(data.on_error={cfg.data.on_error}; the run stops above "
                             f"data.max_bad_fraction={cfg.data.max_bad_fraction:g})")
                    skips.check(skipped, epoch_videos, cfg.data.max_bad_fraction, epoch + 1)
                last_epoch = epoch + 1 == cfg.train.epochs
                if val_loader is not None and (last_epoch or (cfg.train.eval_every > 0
                                                              and (epoch + 1) % cfg.train.eval_every == 0)):
                    distributed.broadcast_buffers(model)
                    result = evaluate(model, val_loader, device, mean, std, average=cfg.test.average,
                                      max_views_per_forward=cfg.test.max_views_per_forward, autocast=autocast,
                                      multi_label=multi_label)
                    metrics = result.metrics
                    row.update({f"val_{k}": v for k, v in metrics.items()})
                    if result.skipped:
                        row["val_skipped_videos"] = result.skipped
                        log.info(f"epoch {epoch + 1}: validation over {len(result.indices)} of "
                                 f"{len(result.indices) + result.skipped} videos ({result.skipped} unreadable)")
                    value = metrics.get(best_metric, float("nan"))
                    if state.best is None or value > state.best:
                        state.best, state.best_epoch = value, epoch + 1
                        save(best_path)
                log.epoch_metrics(row)
                summary = " ".join(f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float))
                log.info(f"epoch {epoch + 1}/{cfg.train.epochs} done: {summary}")
                if last_epoch or (epoch + 1) % max(1, cfg.train.checkpoint_every) == 0:
                    save(last_path)
            elapsed = time.perf_counter() - run_start
            log.info(f"finished {state.step - steps_at_start} steps in {format_duration(elapsed)}; "
                     f"results in {run_path}")
        except DataError as e:  # too many unreadable videos, or a bad one with data.on_error=raise
            log.info(f"stopped: {e}")
            raise
        except RuntimeError as e:
            died = worker_died(e, [loader, val_loader])
            if died is None:
                raise
            if last_saved:
                kept = (f"the last checkpoint {last_saved} is intact; resume with: actionlab train "
                        f"{run_path / 'config.yaml'} --resume {last_saved}")
            else:
                kept = f"no checkpoint was saved yet; start again with: actionlab train {run_path / 'config.yaml'}"
            log.info(f"stopped: {died}; {kept}")
            raise WorkerDiedError(f"{died}; {kept}") from None
        except NonFiniteLossError as e:
            where = f"epoch {state.epoch + 1}, batch {state.batch_in_epoch + 1} (step {state.step + 1})"
            kept = f"last good checkpoint: {last_saved}" if last_saved else "no checkpoint was saved yet"
            log.info(f"stopped: {e} at {where}; {kept}")
            raise NonFiniteLossError(f"{e} at {where}; training stopped, {kept}") from None
        finally:
            log.close()
            if run_lock is not None:
                run_lock.release()
            if data_warnings is not None:
                logging.getLogger("actionlab.data").removeHandler(data_warnings)
                data_warnings.close()

    jsonl = run_path / "metrics.jsonl"
    history = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()] if jsonl.is_file() else []
    return TrainResult(run_path, last_saved, best_path if best_path.is_file() else None, metrics, history, state,
                       best_metric)
