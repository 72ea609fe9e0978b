"""Tiny dataset trees in each format's official layout (docs/datasets.md), one short video per entry."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

from tests._data_helpers import small_mp4, workdir, write_jpegs


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
    root = workdir() / "dataset-trees" / family
    if root.exists():
        shutil.rmtree(root)
    BUILDERS[family](root)
    return root
