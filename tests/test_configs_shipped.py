"""Every shipped config against a tiny dataset in the layout docs/datasets.md documents.

For each YAML file in configs/: the annotation files it names must be among the files the docs table lists for
its format, and on a tree built from that table (one tiny video per entry) every split it reads loads, every
record's video exists, and one clip of each split is read.  A config naming a file the docs do not describe
(the SSv2 configs once named `something-something-v2-*.json` at the root) fails here, not at a user's first run.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from actionlab.config import load_config
from actionlab.data import build_dataset, load_annotations
from actionlab.models.registry import list_models
from tests._dataset_trees import FAMILY, dataset_tree

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
DOCS = REPO / "docs" / "datasets.md"


def expand(pattern: str) -> list[str]:
    """`labels/{train,validation}.json` -> the files it names."""
    m = re.search(r"\{([^{}]*,[^{}]*)\}", pattern)
    if not m:
        return [pattern]
    return [x for alt in m.group(1).split(",") for x in expand(pattern[: m.start()] + alt + pattern[m.end():])]


@functools.cache
def documented_files() -> dict[str, set[str]]:
    """data.format (and its aliases) -> every annotation file name docs/datasets.md lists for it."""
    out: dict[str, set[str]] = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        formats = re.findall(r"`([a-z0-9]+)`", cells[0])
        files = {f for code in re.findall(r"`([^`]+)`", cells[1] + " " + cells[2]) for f in expand(code)}
        for fmt in formats:
            out[fmt] = files
    return out


def test_every_format_the_configs_use_is_in_the_docs_table():
    documented = documented_files()
    for path in CONFIGS:
        fmt = load_config(path).data.format
        assert fmt in documented, f"{path.name}: data.format {fmt!r} has no row in {DOCS.name}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_reads_its_documented_layout(path):
    cfg = load_config(path)
    data = cfg.data
    assert cfg.model.name in list_models(), f"{path.name}: unknown model {cfg.model.name}"
    documented = documented_files()[data.format]
    if data.format != "generic":  # the generic format's list files are the user's own
        for key in ("train_list", "val_list", "test_list", "class_names"):
            name = getattr(data, key)
            assert not name or name in documented, (
                f"{path.name}: data.{key} {name!r} is not a file {DOCS.name} documents for {data.format} "
                f"({sorted(documented)})")
    data.root = str(dataset_tree(FAMILY.get(data.format, data.format)))
    data.input_size, data.scale_size, data.num_segments, data.num_workers = 32, 40, 2, 0
    data.cache = "none"
    for split in ("train", "val", "test"):
        ann = load_annotations(data, split)
        assert ann.records, f"{path.name}: no {split} records on the documented layout"
        for record in ann.records:
            assert Path(record.path).exists(), f"{path.name} {split}: {record.path} does not resolve"
        item = build_dataset(cfg, split, views="1x1", seed=0)[0]
        assert item["clip"].shape[-2:] == (32, 32)
