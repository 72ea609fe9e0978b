"""actionlab train CONFIG [--set k=v ...] [--resume PATH|auto]: train a model from a config.

Under torchrun (`torchrun --nproc-per-node 2 -m actionlab.cli train CONFIG`) every process
runs this command; rank 0 writes the run directory.  Ctrl-C saves a checkpoint after the
current step; `--resume auto` continues from it.
"""

from __future__ import annotations

import argparse

import yaml

from ._common import add_config_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--resume", default=None, metavar="PATH|auto",
                   help="checkpoint to resume from; 'auto': this config's last checkpoint, if any")
    p.add_argument("--checkpoint-every-steps", type=int, default=None, metavar="N",
                   help="also save checkpoints/last.pt every N optimizer steps (default: at epoch ends)")
    p.add_argument("--check-config", action="store_true", help="print the resolved config and exit")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.check_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from ..engine import distributed
    from ..engine.trainer import train

    try:
        result = train(cfg, args.resume, checkpoint_every_steps=args.checkpoint_every_steps)
        is_main = distributed.current().is_main
    finally:
        distributed.cleanup()
    if is_main:
        best = f"; best {result.state.best:.4f} at epoch {result.state.best_epoch}" if result.state.best is not None \
            else ""
        print(f"run directory: {result.run_dir}{best}")
    return 0
