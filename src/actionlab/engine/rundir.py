"""Where a training run lives and which run `--resume` continues: the one owner of both facts.

    run_dir_of(ckpt)          <run>/checkpoints/last.pt -> <run> (a checkpoint anywhere else: its folder)
    new_run_dir(cfg)          work_dir/name, or name-2, name-3, ... (a finished run is never overwritten)
    resolve_resume(cfg, ...)  the checkpoint `--resume auto|PATH` continues, or none (a new run)
    resume_command(run_dir)   the exact command line that continues a run

`--resume auto` looks only at the runs of the config as given (its `name` and `train.work_dir` after
`--set`): work_dir/name and work_dir/name-N.  Of those with a `checkpoints/last.pt`:
  - one unfinished run: it is resumed (the note names it);
  - several unfinished runs: nothing is guessed - they are listed with the command for each, exit 2;
  - every run complete: nothing to train - the newest is named with the command that trains it longer;
  - none: a new run starts (unfinished runs of other names in work_dir are listed, so a run started
    with `--set name=X` is not forgotten).
A run is complete when its checkpoint's epoch reaches `train.epochs` of the config it would resume with
(its saved config.yaml with the new `--set`s on top), so `--set train.epochs=N` makes it unfinished again.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import Config, apply_overrides, from_dict, load_config
from ..errors import ConfigError, ModelError

CHECKPOINTS = "checkpoints"
LAST = "last.pt"


def run_dir_of(checkpoint: str | Path) -> Path:
    """The run directory a checkpoint belongs to: <run>/checkpoints/x.pt -> <run>, else the file's folder."""
    path = Path(checkpoint)
    return path.parent.parent if path.parent.name == CHECKPOINTS else path.parent


def last_checkpoint(run_dir: Path) -> Path:
    return run_dir / CHECKPOINTS / LAST


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


def candidate_run_dirs(cfg: Config) -> list[Path]:
    """This config's run directories that hold a last.pt: work_dir/name and work_dir/name-N."""
    root = Path(cfg.train.work_dir)
    name = cfg.name or "run"
    dirs = [root / name] + sorted(root.glob(f"{name}-[0-9]*"), key=lambda p: (len(p.name), p.name))
    return [d for d in dirs if last_checkpoint(d).is_file()]


def resume_command(run_dir: Path, checkpoint: Path | None = None, extra: str = "") -> str:
    """`actionlab train <run>/config.yaml --resume <run>/checkpoints/last.pt`: continues exactly that run."""
    ckpt = checkpoint or last_checkpoint(run_dir)
    line = f"actionlab train {shlex.quote(str(run_dir / 'config.yaml'))} --resume {shlex.quote(str(ckpt))}"
    return f"{line} {extra}".rstrip()


# --------------------------------------------------------------------------- progress of a run


@dataclass
class RunProgress:
    """Where a run's checkpoint stands against the epochs it trains to."""

    run_dir: Path
    checkpoint: Path
    epoch: int  # epochs done (the checkpoint's epoch; batch_in_epoch more of the next one)
    batch_in_epoch: int
    step: int
    epochs: int  # train.epochs of the config it would resume with

    @property
    def complete(self) -> bool:
        return self.epoch >= self.epochs

    def describe(self) -> str:
        if self.complete:
            return f"{self.run_dir} (complete: {self.epoch} of {self.epochs} epochs, step {self.step})"
        batch = f" and {self.batch_in_epoch} batches" if self.batch_in_epoch else ""
        return f"{self.run_dir} ({self.epoch} of {self.epochs} epochs{batch} done, step {self.step})"

    def complete_message(self) -> str:
        longer = resume_command(self.run_dir, self.checkpoint, f"--set train.epochs={self.epochs * 2}")
        return (f"{self.run_dir} is complete: {self.epoch} of {self.epochs} epochs trained (step {self.step}), "
                f"nothing to resume; to train longer: {longer}")


def read_progress(checkpoint: Path, epochs: int) -> RunProgress:
    """A checkpoint's position (memory-mapped: the tensors are not read)."""
    try:
        data = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # a truncated or foreign file: one line, like every checkpoint read
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot read checkpoint {checkpoint}: {first}") from None
    if not isinstance(data, dict) or "epoch" not in data:
        raise ModelError(f"checkpoint {checkpoint} is not a training checkpoint (no epoch / step to resume from)")
    return RunProgress(run_dir_of(checkpoint), checkpoint, int(data["epoch"]), int(data.get("batch_in_epoch", 0)),
                       int(data.get("step", 0)), epochs)


def resumed_config(checkpoint: Path, overrides: list[str]) -> tuple[Config, str]:
    """(the config a resumed run trains with, where it came from): the run's saved config.yaml (else the
    checkpoint's copy) with `overrides` on top."""
    saved = run_dir_of(checkpoint) / "config.yaml"
    if saved.is_file():
        return load_config(saved, overrides), str(saved)
    from .checkpoint import load_checkpoint

    data = load_checkpoint(checkpoint).get("config")
    if not data:
        raise ConfigError(f"--resume: {checkpoint} carries no config and {saved} does not exist")
    return from_dict(apply_overrides(data, overrides)), f"the config saved in {checkpoint}"


# --------------------------------------------------------------------------- --resume


@dataclass
class Resume:
    """What `--resume` resolved to: a checkpoint to continue (None: a new run) and what to say about it."""

    checkpoint: Path | None
    note: str
    progress: RunProgress | None = None

    @property
    def complete(self) -> bool:
        return self.progress is not None and self.progress.complete


def resolve_resume(cfg: Config, resume: str, epochs_of: Callable[[Path], int] | None = None) -> Resume:
    """`--resume auto|PATH` for `cfg` (see the module docstring); ConfigError when `auto` is ambiguous.

    epochs_of(checkpoint): train.epochs the run would resume with (default: cfg's, as the Python API trains
    `cfg` itself; the command line passes the run's saved config with its `--set`s)."""
    epochs = epochs_of or (lambda _ckpt: cfg.train.epochs)
    if resume != "auto":
        ckpt = Path(resume)
        if not ckpt.is_file():
            raise ConfigError(f"--resume: checkpoint not found: {ckpt}")
        progress = read_progress(ckpt, epochs(ckpt))
        note = progress.complete_message() if progress.complete else f"resuming {progress.describe()}"
        return Resume(ckpt, note, progress)
    runs = [read_progress(last_checkpoint(d), epochs(last_checkpoint(d))) for d in candidate_run_dirs(cfg)]
    unfinished = [r for r in runs if not r.complete]
    where = f"'{cfg.name or 'run'}' in {cfg.train.work_dir}"
    if len(unfinished) == 1:
        return Resume(unfinished[0].checkpoint, f"--resume auto: resuming {unfinished[0].describe()}", unfinished[0])
    if len(unfinished) > 1:
        listed = "; ".join(f"{r.describe()}: {resume_command(r.run_dir, r.checkpoint)}" for r in unfinished)
        raise ConfigError(f"--resume auto: {len(unfinished)} unfinished runs of {where}, not guessing which: "
                          f"{listed}")
    others = unfinished_elsewhere(cfg, runs)
    if runs:
        newest = max(runs, key=lambda r: r.checkpoint.stat().st_mtime)
        return Resume(newest.checkpoint, f"--resume auto: {newest.complete_message()}{others}", newest)
    return Resume(None, f"--resume auto: no checkpoint of {where} yet; new run{others}")


def unfinished_elsewhere(cfg: Config, mine: list[RunProgress]) -> str:
    """'; unfinished runs of other names in work_dir: ...' (a run started with `--set name=X` is not forgotten
    by `--resume auto` without it), or ''."""
    found = []
    own = {r.checkpoint for r in mine}
    for ckpt in sorted(Path(cfg.train.work_dir).glob(f"*/{CHECKPOINTS}/{LAST}")):
        if ckpt in own:
            continue
        try:
            progress = read_progress(ckpt, resumed_config(ckpt, [])[0].train.epochs)
        except (ModelError, ConfigError):
            continue  # not a run we can say anything about
        if not progress.complete:
            found.append(f"{progress.describe()}: {resume_command(progress.run_dir, ckpt)}")
    return f"; unfinished runs of other names in {cfg.train.work_dir}: {'; '.join(found)}" if found else ""


def open_run(cfg: Config, resume: str | None, run_dir: Path | None) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume from or None) for `train`: `run_dir` given, `auto` means its own
    last.pt; else `resolve_resume`, or a new run directory."""
    if resume == "auto" and run_dir is not None:
        ckpt = last_checkpoint(run_dir) if last_checkpoint(run_dir).is_file() else None
    else:
        ckpt = resolve_resume(cfg, resume).checkpoint if resume else None
    if ckpt is not None:
        return run_dir_of(ckpt), ckpt
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir, None
    return new_run_dir(cfg), None
