"""actionlab train CONFIG [--set k=v ...] [--resume PATH|auto]: train a model from a config.

    actionlab train configs/tsm_r50_sthv2_8f.yaml --set data.root=/data/sthv2 optim.lr=0.005
    actionlab train configs/tsm_r50_sthv2_8f.yaml --resume auto            # continue where it stopped
    actionlab train configs/tsm_r50_sthv2_8f.yaml --resume auto --set data.num_workers=8   # a change on top

`--resume` continues with the run's own saved config (<run>/config.yaml), so the `--set`s of the
first start need not be repeated; `--set`s given now are applied on top of it and listed.  (The
learning-rate schedule is a function of the step and train.epochs: a larger train.epochs on resume
goes on from the saved step on the longer schedule, e.g. mid-way down a cosine, not from a restart.)
Under torchrun (`torchrun --nproc-per-node 2 -m actionlab.cli train CONFIG`) every process
runs this command; rank 0 writes the run directory.  Ctrl-C saves a checkpoint after the
current step and prints the command that resumes exactly that run.  `--resume auto` looks only at
this config's runs (its `name` and `train.work_dir` after `--set`): one unfinished run is resumed,
several are listed and refused, a complete one is named with the command that trains it longer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..config import Config
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--resume", default=None, metavar="PATH|auto",
                   help="checkpoint to resume from; 'auto': this config's unfinished run (several: listed and "
                        "refused; all complete: said, nothing trained); the run's saved config is used, --set on top")
    p.add_argument("--checkpoint-every-steps", type=int, default=None, metavar="N",
                   help="also save checkpoints/last.pt every N optimizer steps (default: at epoch ends)")
    p.add_argument("--check-config", action="store_true", help="print the resolved config and exit")


def resume_config(cfg: Config, resume: str, overrides: list[str]) -> tuple[Config, Path | None, str, bool]:
    """(config to train with, checkpoint, what was done, the run is complete) for `--resume`.

    Which run: `engine.rundir.resolve_resume` (auto: only this config's runs, never a guess between
    several unfinished ones).  Its saved config.yaml (else the checkpoint's copy) is the base; `overrides`
    are applied on top.  With `auto` and no checkpoint yet, the given config starts a new run.
    """
    from ..engine.rundir import resolve_resume, resumed_config

    chosen = resolve_resume(cfg, resume, lambda ckpt: resumed_config(ckpt, overrides)[0].train.epochs)
    if chosen.checkpoint is None or chosen.complete:
        return cfg, chosen.checkpoint, chosen.note, chosen.complete
    resumed, source = resumed_config(chosen.checkpoint, overrides)
    note = f"{chosen.note} with {source}"
    note += f"; overrides on top: {' '.join(overrides)}" if overrides else ""
    return resumed, chosen.checkpoint, note, False


def run(args: argparse.Namespace) -> int:
    from ..engine import distributed
    from ..engine.runtime import set_threads

    cfg = config_from_args(args)
    resume = args.resume
    if resume:
        cfg, ckpt, note, complete = resume_config(cfg, resume, args.overrides)
        resume = str(ckpt) if ckpt is not None else None
        if distributed.current().is_main:
            print(note)
        if complete:  # nothing to train; the note said how to train longer
            return 0
    if args.threads:
        cfg.runtime.threads = args.threads  # saved with the run
    else:
        set_threads(cfg.runtime.threads)
    if args.check_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from ..engine.trainer import train

    try:
        result = train(cfg, resume, checkpoint_every_steps=args.checkpoint_every_steps)
        is_main = distributed.current().is_main
    finally:
        distributed.cleanup()
    if is_main:
        print(result.summary())
    return 0
