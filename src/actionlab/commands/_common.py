"""Helpers shared by the commands."""

from __future__ import annotations

import argparse

from ..config import Config, load_config


def add_config_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("config", nargs=None if required else "?", help="YAML config file (see configs/)")
    p.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                   help="dotted overrides, e.g. --set optim.lr=0.01 data.num_segments=16")


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), getattr(args, "overrides", []))


def terminal_width(default: int = 100) -> int:
    """Columns of the terminal (COLUMNS), at most `default`: listings stay readable in 80-100 columns."""
    import shutil

    return max(60, min(default, shutil.get_terminal_size((default, 24)).columns))


def format_records(records: list[dict[str, str]], fields: list[str], width: int | None = None) -> str:
    """One block per record: its "head" on a line, then each field indented and wrapped to `width` (a
    listing whose table would be hundreds of columns wide).  Field "" is printed without a name."""
    import textwrap

    width = width or terminal_width()
    name_width = max((len(f) for f in fields), default=0)
    blocks = []
    for record in records:
        wrap = lambda text, **kw: textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False, **kw)
        lines = wrap(record["head"], subsequent_indent="    ") or [""]
        for field in fields:
            value = str(record.get(field, "") or "-")
            label = f"{field + ':':<{name_width + 1}} " if field else ""
            lines += wrap(value, initial_indent="    " + label, subsequent_indent="    " + " " * len(label))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
