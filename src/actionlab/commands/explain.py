"""actionlab explain VIDEO --checkpoint PATH [--kind KIND] [--out DIR]: where the model looked.

The kind defaults to the model's own (TEFE: gradcam, ATR: actionness, ART: tracklets,
TFE: attention; any other model: gradcam).  Options of the kind go in `--opt key=value`
(e.g. `--opt frame=all`, `--opt class_index=move_left`).  The images are written to
`--out` (default: explain/<video name>/) and listed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import parse_override
from ..errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="a video file")
    p.add_argument("--checkpoint", required=True, metavar="PATH", help="training checkpoint")
    p.add_argument("--kind", default=None, help="gradcam, actionness, tracklets, attention (default: the model's)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default explain/<video name>)")
    p.add_argument("--opt", nargs="+", default=[], metavar="KEY=VALUE", help="options of the explanation kind")
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one, as predict), cpu, cuda, cuda:1")


def run(args: argparse.Namespace) -> int:
    from ..engine.logs import Progress
    from ..explain import load_input, render, resolve_kind

    opts = {}
    for text in args.opt:
        key, value = parse_override(text)
        if len(key) != 1:
            raise ConfigError(f"--opt {text!r}: expected key=value")
        opts[key[0]] = value
    bar = Progress("explain: step", 2, stream=sys.stdout)
    bar.update(0, f"loading {args.checkpoint} and decoding {args.video}")
    inp = load_input(args.checkpoint, args.video, args.device)
    kind = resolve_kind(inp.model, args.kind)
    out = Path(args.out or Path("explain") / Path(args.video).stem)
    bar.update(1, f"computing {kind} and drawing it")
    paths = render(kind, inp.model, inp.clip, inp.frames, out, inp.class_names, **opts)
    bar.update(2, "done")
    print(f"{kind} of {args.video} ({len(paths)} files):")
    for path in paths:
        print(f"  {path}")
    return 0
