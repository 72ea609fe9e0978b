"""Every shipped config against a tiny dataset in the layout docs/datasets.md documents.

For each YAML file in configs/: the annotation files it names must be among the files the docs table lists for
its format, and on a tree built from that table (one tiny video per entry) every split it reads loads, every
record's video exists, and one clip of each split is read.  A config naming a file the docs do not describe
(the SSv2 configs once named `something-something-v2-*.json` at the root) fails here, not at a user's first run.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path

import pytest

from _data_helpers import small_mp4, workdir, write_jpegs
from actionlab.config import load_config
from actionlab.data import build_dataset, load_annotations
from actionlab.models.registry import list_models

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


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def video(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(small_mp4(), path)


def _kinetics(root: Path) -> None:
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    for csv, split_dir in (("train", "train"), ("validate", "val")):
        write(root / f"annotations/{csv}.csv", header + f"abseiling,{csv}A,10,20,{split_dir},0\n")
        video(root / f"{split_dir}/abseiling/{csv}A_000010_000020.mp4")
    write(root / "annotations/test.csv", "youtube_id,time_start,time_end,split\ntestA,0,10,test\n")
    video(root / "test/testA_000000_000010.mp4")


def _twenty_bn(root: Path, prefix: str, frames: str) -> None:
    write(root / f"{prefix}-labels.csv", "Swiping Left\nSwiping Right\n")
    for split, line in (("train", "1;Swiping Left\n"), ("validation", "2;Swiping Right\n"), ("test", "3\n")):
        write(root / f"{prefix}-{split}.csv", line)
    for vid in "123":
        write_jpegs(root / frames / vid, 6)


def _sthv2(root: Path) -> None:
    names = ["Pushing something from left to right", "Pushing something from right to left"]
    write(root / "labels/labels.json", json.dumps({n: str(i) for i, n in enumerate(names)}))
    for split, vid, template in (("train", "1", "Pushing [something] from left to right"),
                                 ("validation", "2", "Pushing [something] from right to left")):
        write(root / f"labels/{split}.json", json.dumps([{"id": vid, "template": template, "label": "x"}]))
    write(root / "labels/test.json", json.dumps([{"id": "3"}]))
    for vid in "123":
        video(root / f"20bn-something-something-v2/{vid}.webm")


def _ucf101(root: Path) -> None:
    write(root / "ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\n2 Archery\n")
    for n in (1, 2, 3):
        write(root / f"ucfTrainTestlist/trainlist0{n}.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n")
        write(root / f"ucfTrainTestlist/testlist0{n}.txt", "Archery/v_Archery_g01_c01.avi\n")
    video(root / "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi")
    video(root / "UCF-101/Archery/v_Archery_g01_c01.avi")


def _hmdb51(root: Path) -> None:
    for cls in ("brush_hair", "wave"):
        for n in (1, 2, 3):
            write(root / f"testTrainMulti_7030_splits/{cls}_test_split{n}.txt", f"{cls}_a.avi 1\n{cls}_b.avi 2\n")
        for v in "ab":
            video(root / f"hmdb51_org/{cls}/{cls}_{v}.avi")


def _diving48(root: Path) -> None:
    write(root / "Diving48_vocab.json", json.dumps([["Back", "15som", "05Twis", "FREE"]]))
    for split in ("train", "test"):
        write(root / f"Diving48_V2_{split}.json", json.dumps([{"vid_name": split, "label": 0, "start_frame": 0,
                                                               "end_frame": 24}]))
        video(root / f"rgb/{split}.mp4")


def _finegym(root: Path) -> None:
    vid = "A0xAXXysHUo_E_002407_002435_A_0003_0005"
    for k in ("99", "288"):
        write(root / f"gym{k}_categories.txt", "Clabel: 0; set: 1; Glabel: 1; (VT) round-off, flic-flac\n")
        write(root / f"gym{k}_train_element_v1.1.txt", f"{vid} 0\n")
        write(root / f"gym{k}_val_element.txt", f"{vid} 0\n")
    video(root / f"subactions/{vid}.mp4")


def _charades(root: Path) -> None:
    write(root / "Charades_v1_classes.txt", "c000 Holding some clothes\nc001 Putting clothes somewhere\n")
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    for split, vid in (("train", "AAAAA"), ("test", "BBBBB")):
        write(root / f"Charades_v1_{split}.csv", header + f'{vid},HR43,Kitchen,6,7,Yes,"s",x,"d","c001 0.0 0.5",1\n')
        video(root / f"Charades_v1_480/{vid}.mp4")


def _ntu(root: Path) -> None:
    for name in ("S001C001P001R001A001", "S001C002P003R001A002", "S001C003P002R001A003"):
        video(root / f"nturgb+d_rgb/{name}_rgb.avi")


def _generic(root: Path) -> None:
    write(root / "classes.txt", "a\nb\n")
    write(root / "annotations.json", json.dumps({"videos": {}}))  # what `data synth` writes beside its lists
    for split in ("train", "val", "test"):
        write(root / f"{split}.txt", f"videos/{split}.mp4 a\n")
        video(root / f"videos/{split}.mp4")


BUILDERS = {"kinetics": _kinetics, "sthv1": lambda r: _twenty_bn(r, "something-something-v1",
                                                                  "20bn-something-something-v1"),
            "jester": lambda r: _twenty_bn(r, "jester-v1", "20bn-jester-v1"), "sthv2": _sthv2, "ucf101": _ucf101,
            "hmdb51": _hmdb51, "diving48": _diving48, "finegym": _finegym, "charades": _charades, "ntu": _ntu,
            "generic": _generic}
FAMILY = {"kinetics400": "kinetics", "kinetics600": "kinetics", "kinetics700": "kinetics", "gym99": "finegym",
          "gym288": "finegym", "ntu60": "ntu", "ntu120": "ntu"}


@functools.cache
def dataset_tree(family: str) -> Path:
    root = workdir() / "shipped-configs" / family
    if root.exists():
        shutil.rmtree(root)
    BUILDERS[family](root)
    return root


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
