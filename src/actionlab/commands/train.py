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
current step; `--resume auto` continues from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ..config import Config
from ..errors import ConfigError
from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--resume", default=None, metavar="PATH|auto",
                   help="checkpoint to resume from; 'auto': this config's last checkpoint, if any "
                        "(the run's saved config is used, --set on top)")
    p.add_argument("--checkpoint-every-steps", type=int, default=None, metavar="N",
                   help="also save checkpoints/last.pt every N optimizer steps (default: at epoch ends)")
    p.add_argument("--check-config", action="store_true", help="print the resolved config and exit")


def resume_config(cfg: Config, resume: str, overrides: list[str]) -> tuple[Config, Path | None, str]:
    """(config to train with, checkpoint, what was done) for `--resume`.

    The run's saved config.yaml (else the checkpoint's copy) is the base; `overrides` are applied on
    top.  With `auto` and no checkpoint yet, the given config starts a new run.
    """
    from ..config import apply_overrides, from_dict, load_config
    from ..engine.checkpoint import load_checkpoint
    from ..engine.trainer import find_resume_checkpoint

    if resume == "auto":
        ckpt = find_resume_checkpoint(cfg)
        if ckpt is None:
            return cfg, None, f"--resume auto: no checkpoint of '{cfg.name}' in {cfg.train.work_dir} yet; new run"
    else:
        ckpt = Path(resume)
        if not ckpt.is_file():
            raise ConfigError(f"--resume: checkpoint not found: {ckpt}")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    saved = run_dir / "config.yaml"
    if saved.is_file():
        resumed, source = load_config(saved, overrides), str(saved)
    else:
        data = load_checkpoint(ckpt).get("config")
        if not data:
            raise ConfigError(f"--resume: {ckpt} carries no config and {saved} does not exist")
        resumed, source = from_dict(apply_overrides(data, overrides)), f"the config saved in {ckpt}"
    note = f"resuming {ckpt} with {source}"
    note += f"; overrides on top: {' '.join(overrides)}" if overrides else ""
    return resumed, ckpt, note


def run(args: argparse.Namespace) -> int:
    from ..engine import distributed
    from ..engine.runtime import set_threads

    cfg = config_from_args(args)
    resume = args.resume
    if resume:
        cfg, ckpt, note = resume_config(cfg, resume, args.overrides)
        resume = str(ckpt) if ckpt is not None else None
        if distributed.current().is_main:
            print(note)
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
