"""Every dataset format on a tiny tree in its official layout; bad lines name file and line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from actionlab.config import DataConfig
from actionlab.data import build_dataset, load_annotations
from actionlab.data.formats.ntu import ACTIONS
from actionlab.data.formats.sthv2 import left_right_pairs
from actionlab.errors import ConfigError, DataError
from tests._data_helpers import container_video, small_mp4, workdir, write_jpegs


def tree(name: str) -> Path:
    root = workdir() / "formats" / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    return root


def put_video(path: Path, source: Path | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source or small_mp4(), path)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cfg(root: Path, fmt: str, **kw) -> DataConfig:
    return DataConfig(format=fmt, root=str(root), input_size=32, scale_size=40, num_segments=4, **kw)


def test_generic_lists_single_multi_and_frame_counts():
    root = tree("generic")
    put_video(root / "v" / "a.mp4")
    write(root / "frames_list.txt", "v/a.mp4 1\nv/b.mp4 20 0\n# comment\n\n")
    ann = load_annotations(cfg(root, "generic", train_list="frames_list.txt"), "train")
    assert [r.label for r in ann.records] == [1, 0] and ann.records[1].num_frames == 20
    assert ann.class_names == ["0", "1"] and not ann.multi_label
    write(root / "multi.txt", "v/a.mp4 0,2\nv/a.mp4 1\n")
    write(root / "classes.txt", "x\ny\nz\n")
    c = cfg(root, "generic", train_list="multi.txt", class_names="classes.txt")
    ds = build_dataset(c, "train", seed=0)
    assert ds.multi_label and ds.class_names == ["x", "y", "z"]
    assert ds[0]["label"].tolist() == [1.0, 0.0, 1.0] and ds[1]["label"].tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize("line,message", [("v/a.mp4 cat", "bad label 'cat'"), ("v/a.mp4", "expected 'path label'"),
                                          ("v/a.mp4 7", "label 7 out of range")])
def test_generic_bad_lines_name_file_and_line(line, message):
    root = tree("generic_bad")
    write(root / "classes.txt", "x\ny\n")
    write(root / "list.txt", f"v/a.mp4 0\n{line}\n")
    c = cfg(root, "generic", train_list="list.txt", class_names="classes.txt")
    with pytest.raises(DataError, match=rf"list.txt:2: {message}"):
        load_annotations(c, "train")
    ann = load_annotations(c, "train", on_error="skip")
    assert len(ann.records) == 1 and len(ann.errors) == 1 and "list.txt:2" in ann.errors[0]


def test_missing_annotation_file_and_unknown_format():
    root = tree("missing")
    with pytest.raises(DataError, match="annotation file not found"):
        load_annotations(cfg(root, "generic", train_list="nope.txt"), "train")
    with pytest.raises(ConfigError, match="data.train_list"):
        load_annotations(cfg(root, "generic"), "train")
    with pytest.raises(ConfigError, match="unknown format 'ucf'"):
        load_annotations(cfg(root, "ucf"), "train")


def test_ucf101_official_layout():
    root = tree("ucf101")
    avi = container_video("avi_mpeg4")
    for cls, clip in [("ApplyEyeMakeup", "v_ApplyEyeMakeup_g08_c01"),
                      ("HandstandPushups", "v_HandStandPushups_g01_c01"),
                      ("ApplyEyeMakeup", "v_ApplyEyeMakeup_g01_c01")]:
        put_video(root / "UCF-101" / cls / f"{clip}.avi", avi)
    write(root / "ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\n2 Archery\n3 HandstandPushups\n")
    write(root / "ucfTrainTestlist/trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n")
    write(root / "ucfTrainTestlist/testlist01.txt",
          "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nHandstandPushups/v_HandStandPushups_g01_c01.avi\n")
    train = load_annotations(cfg(root, "ucf101"), "train")
    assert train.class_names == ["ApplyEyeMakeup", "Archery", "HandstandPushups"] and train.records[0].label == 0
    test = load_annotations(cfg(root, "ucf101"), "test")
    assert [r.label for r in test.records] == [0, 2]
    item = build_dataset(cfg(root, "ucf101"), "test", views="1x1")[1]
    assert item["clip"].shape == (1, 3, 4, 32, 32) and int(item["label"]) == 2
    write(root / "ucfTrainTestlist/trainlist02.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 102\n")
    with pytest.raises(DataError, match="trainlist02.txt:1: bad label"):
        load_annotations(cfg(root, "ucf101", split=2), "train")
    with pytest.raises(ConfigError, match="data.split"):
        load_annotations(cfg(root, "ucf101", split=4), "train")


def test_hmdb51_official_layout():
    root = tree("hmdb51")
    splits = root / "testTrainMulti_7030_splits"
    write(splits / "brush_hair_test_split1.txt", "April_brush_hair_u_nm_np1_ba_goo_0.avi 1 \nb.avi 2 \nc.avi 0 \n")
    write(splits / "wave_test_split1.txt", "w1.avi 2\nw2.avi 1\n")
    put_video(root / "hmdb51_org/brush_hair/April_brush_hair_u_nm_np1_ba_goo_0.avi")
    train = load_annotations(cfg(root, "hmdb51"), "train")
    assert train.class_names == ["brush_hair", "wave"]
    assert [(Path(r.path).name, r.label) for r in train.records] == [("April_brush_hair_u_nm_np1_ba_goo_0.avi", 0),
                                                                     ("w2.avi", 1)]
    assert [r.video_id for r in load_annotations(cfg(root, "hmdb51"), "test").records] == ["b.avi", "w1.avi"]
    with pytest.raises(ConfigError, match="not used by data.format 'hmdb51'"):
        load_annotations(cfg(root, "hmdb51", train_list="x.txt"), "train")


def test_kinetics_csv_layout():
    root = tree("kinetics")
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    write(root / "train.csv", header + "abseiling,abc,10,20,train,0\nair drumming,xyz,0,10,train,0\n")
    write(root / "validate.csv", header + "air drumming,qqq,5,15,val,0\nabseiling,bad,five,15,val,0\n"
                                         "abseiling,extra,1,2,val,0,9\n")
    write(root / "test.csv", "youtube_id,time_start,time_end,split\nttt,1,11,test\n")
    put_video(root / "train/abseiling/abc_000010_000020.mp4")
    train = build_dataset(cfg(root, "kinetics"), "train", seed=0)
    assert train.class_names == ["abseiling", "air drumming"]
    assert train.records[1].path.endswith("train/air drumming/xyz_000000_000010.mp4")
    assert train[0]["clip"].shape == (1, 3, 4, 32, 32)
    with pytest.raises(DataError, match="validate.csv:3: bad time_start"):
        load_annotations(cfg(root, "kinetics400"), "val")
    val = load_annotations(cfg(root, "kinetics", on_error="skip"), "val")
    assert len(val.records) == 1 and len(val.errors) == 2 and "validate.csv:4" in val.errors[1]
    flat = cfg(root, "kinetics", options={"path_template": "videos/{youtube_id}.mp4"})
    (test_record,) = load_annotations(flat, "test").records
    assert test_record.label == -1 and test_record.path.endswith("videos/ttt.mp4")


@pytest.mark.parametrize("fmt,prefix,frames_dir", [("sthv1", "something-something-v1", "20bn-something-something-v1"),
                                                   ("jester", "jester-v1", "20bn-jester-v1")])
def test_twenty_bn_frame_folders(fmt, prefix, frames_dir):
    root = tree(fmt)
    write(root / f"{prefix}-labels.csv", "Swiping Left\nSwiping Right\nSomething falling like a rock\n")
    write(root / f"{prefix}-train.csv", "100218;Swiping Right\n7;Something falling like a rock\n")
    write(root / f"{prefix}-validation.csv", "5;Swiping Left\n6;Nope\n")
    write(root / f"{prefix}-test.csv", "42\n")
    write_jpegs(root / frames_dir / "100218", 6)
    ann = load_annotations(cfg(root, fmt), "train")
    assert [r.label for r in ann.records] == [1, 2] and not ann.flip_allowed
    ds = build_dataset(cfg(root, fmt), "train", seed=0)
    assert not ds.train_transform.flip  # left/right matters: no flip unless options.flip
    assert build_dataset(cfg(root, fmt, options={"flip": True}), "train").train_transform.flip
    assert ds[0]["clip"].shape == (1, 3, 4, 32, 32)
    with pytest.raises(DataError, match=rf"{prefix}-validation.csv:2: unknown label 'Nope'"):
        load_annotations(cfg(root, fmt), "val")
    assert load_annotations(cfg(root, fmt), "test").records[0].label == -1


SSV2_NAMES = ["Pushing something from left to right", "Pushing something from right to left",
              "Holding something next to something"]


def sthv2_tree() -> Path:
    root = tree("sthv2")
    write(root / "labels/labels.json", json.dumps({n: str(i) for i, n in enumerate(SSV2_NAMES)}))
    write(root / "labels/train.json", json.dumps([
        {"id": "78687", "label": "holding potato next to vicks vaporub bottle",
         "template": "Holding [something] next to [something]", "placeholders": ["potato", "vicks"]},
        {"id": "42326", "label": "pushing pen from left to right", "template": "Pushing [something] from left to right",
         "placeholders": ["pen"]}]))
    write(root / "labels/validation.json", json.dumps([{"id": "1", "template": "Dancing [something]"}]))
    write(root / "labels/test.json", json.dumps([{"id": "1420"}]))
    for vid in ("78687", "42326"):
        put_video(root / f"20bn-something-something-v2/{vid}.webm", container_video("webm_vp9"))
    return root


def test_sthv2_json_templates_and_flip_pairs():
    root = sthv2_tree()
    ann = load_annotations(cfg(root, "sthv2"), "train")
    assert [r.label for r in ann.records] == [2, 0] and ann.records[0].path.endswith("78687.webm")
    assert ann.flip_label_map == {0: 1, 1: 0} == left_right_pairs(SSV2_NAMES)
    assert build_dataset(cfg(root, "sthv2"), "train", seed=0)[0]["clip"].shape == (1, 3, 4, 32, 32)
    with pytest.raises(DataError, match=r"validation.json: entry 0 \(id 1\): template 'Dancing"):
        load_annotations(cfg(root, "sthv2"), "val")
    assert load_annotations(cfg(root, "sthv2"), "test").records[0].label == -1


def test_sthv2_flip_swaps_left_right_labels():
    ds = build_dataset(cfg(sthv2_tree(), "sthv2", options={"flip": True}), "train")
    labels = set()
    for seed in range(12):
        ds.seed = seed
        item = ds[1]  # "from left to right"
        labels.add(int(item["label"]))
    assert labels == {0, 1}  # flipped clips become "from right to left"


def test_diving48_json():
    root = tree("diving48")
    write(root / "Diving48_vocab.json", json.dumps([["Back", "15som", "05Twis", "FREE"], ["Forward", "25som", "NoTwis",
                                                                                        "PIKE"]]))
    write(root / "Diving48_V2_train.json", json.dumps([{"vid_name": "-mmq0PT-u8k_00155", "label": 1,
                                                        "start_frame": 0, "end_frame": 184}]))
    write(root / "Diving48_V2_test.json", json.dumps([{"vid_name": "x", "label": 5, "start_frame": 0,
                                                       "end_frame": 9}]))
    put_video(root / "rgb/-mmq0PT-u8k_00155.mp4")
    ds = build_dataset(cfg(root, "diving48"), "train", seed=0)
    assert ds.class_names == ["Back_15som_05Twis_FREE", "Forward_25som_NoTwis_PIKE"]
    assert int(ds[0]["label"]) == 1
    with pytest.raises(DataError, match=r"Diving48_V2_test.json: entry 0 \(x\): bad label 5"):
        load_annotations(cfg(root, "diving48"), "test")


def test_finegym_element_lists():
    root = tree("finegym")
    write(root / "gym99_categories.txt", "Clabel: 0; set: 1; Glabel: 1; (VT) round-off, flic-flac\n"
                                         "Clabel: 1; set: 1; Glabel: 2; (VT) round-off, flic-flac with 0.5 turn\n")
    vid = "A0xAXXysHUo_E_002407_002435_A_0003_0005"
    write(root / "gym99_train_element_v1.1.txt", f"{vid} 1\n")
    write(root / "gym99_val_element.txt", f"{vid} 0\n{vid}\n")
    put_video(root / f"subactions/{vid}.mp4")
    ann = load_annotations(cfg(root, "gym99"), "train")
    assert ann.class_names[1] == "(VT) round-off, flic-flac with 0.5 turn" and ann.records[0].label == 1
    with pytest.raises(DataError, match="gym99_val_element.txt:2: expected"):
        load_annotations(cfg(root, "finegym"), "val")
    with pytest.raises(DataError, match="gym288_categories.txt"):
        load_annotations(cfg(root, "gym288"), "train")


def test_charades_multilabel_with_segments():
    root = tree("charades")
    write(root / "Charades_v1_classes.txt", "c000 Holding some clothes\nc001 Putting clothes somewhere\n"
                                            "c002 Taking a laptop\n")
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    write(root / "Charades_v1_train.csv", header + '46GP8,HR43,Kitchen,6,7,Yes,"A person cooks",food,"d",'
                                                   '"c002 0.00 0.50;c000 0.40 0.80",1.6\n')
    write(root / "Charades_v1_test.csv", header + 'ABCDE,HR43,Kitchen,6,7,Yes,"s",x,"d","c009 1 2",3\n')
    put_video(root / "Charades_v1_480/46GP8.mp4", container_video("mp4_h264"))  # 40 frames at 25 fps = 1.6 s
    ds = build_dataset(cfg(root, "charades", test_list="Charades_v1_train.csv"), "test", views="1x1")
    item = ds[0]
    assert ds.multi_label and item["label"].tolist() == [1.0, 0.0, 1.0]
    assert ds.records[0].time_segments == ((2, 0.0, 0.5), (0, 0.4, 0.8))
    # test-mode frames 5, 15, 25, 35 at 25 fps = 0.2, 0.6, 1.0, 1.4 s: inside an action for the first two only
    assert item["action_mask"].tolist() == [[True, True, False, False]]
    with pytest.raises(DataError, match="Charades_v1_test.csv:2: bad action 'c009 1 2'"):
        load_annotations(cfg(root, "charades"), "test")


def test_ntu_splits_from_file_names():
    root = tree("ntu")
    names = ["S001C001P001R001A001", "S001C002P003R001A002", "S002C003P002R002A060", "S018C001P045R001A061"]
    for n in names:
        (root / "nturgb+d_rgb").mkdir(exist_ok=True)
        (root / "nturgb+d_rgb" / f"{n}_rgb.avi").write_bytes(b"")
    (root / "nturgb+d_rgb" / "README.txt").write_text("x")

    def ids(fmt, split, **options):
        return [r.video_id for r in load_annotations(cfg(root, fmt, options=options), split).records]

    assert ids("ntu60", "train") == ["S001C001P001R001A001", "S002C003P002R002A060"]  # performers 1, 2 train
    assert ids("ntu60", "test") == ["S001C002P003R001A002"]
    assert ids("ntu", "train", benchmark="xview") == ["S001C002P003R001A002", "S002C003P002R002A060"]
    assert ids("ntu120", "train", benchmark="xset") == ["S002C003P002R002A060", "S018C001P045R001A061"]
    assert ids("ntu120", "train") == names[:1] + names[2:]  # performer 45 trains in NTU120 xsub
    ann = load_annotations(cfg(root, "ntu120"), "train")
    assert len(ann.class_names) == 120 == len(ACTIONS) and ann.records[-1].label == 60
    with pytest.raises(ConfigError, match="benchmark"):
        ids("ntu60", "train", benchmark="xset")


def test_dataset_labels_are_tensors():
    root = tree("generic_tensor")
    put_video(root / "a.mp4")
    write(root / "l.txt", "a.mp4 3\n")
    item = build_dataset(cfg(root, "generic", train_list="l.txt"), "train", seed=1)[0]
    assert item["label"].dtype == torch.int64 and item["label"].shape == ()


# --------------------------------------------------------------------------- bad annotations (issue 15)


def test_sthv2_entry_without_template_names_file_and_entry():
    """A train entry without 'template' used to become label -1 and crash training (`Target -1 is out of bounds`)."""
    root = sthv2_tree()
    entries = json.loads((root / "labels/train.json").read_text())
    del entries[1]["template"]
    write(root / "labels/train.json", json.dumps(entries))
    with pytest.raises(DataError, match=r"labels/train.json: entry 1 \(id 42326\): no 'template'"):
        load_annotations(cfg(root, "sthv2"), "train")
    skipped = load_annotations(cfg(root, "sthv2", on_error="skip"), "train")
    assert [r.video_id for r in skipped.records] == ["78687"] and len(skipped.errors) == 1


def test_unlabeled_line_in_a_training_list_is_an_error():
    root = tree("twenty_bn_unlabeled")
    write(root / "jester-v1-labels.csv", "Swiping Left\nSwiping Right\n")
    write(root / "jester-v1-train.csv", "1;Swiping Left\n2\n")
    with pytest.raises(DataError, match=r"jester-v1-train.csv:2: no label for 2 \(a train list needs one\)"):
        load_annotations(cfg(root, "jester"), "train")


def test_duplicates_are_reported_and_conflicts_refused():
    root = tree("duplicates")
    write(root / "dup.txt", "a.mp4 0\nb.mp4 1\na.mp4 0\n")
    ann = load_annotations(cfg(root, "generic", train_list="dup.txt"), "train")
    assert len(ann.records) == 3 and len(ann.duplicates) == 1
    assert ann.duplicates[0].endswith("dup.txt:3: a.mp4 listed again (first at " f"{root / 'dup.txt'}:1)")
    write(root / "conflict.txt", "a.mp4 0\nb.mp4 1\na.mp4 1\n")
    with pytest.raises(DataError, match=r"conflict.txt:3: conflict: a.mp4 is listed with label '1' here and '0' at "
                                        r".*conflict.txt:1"):
        load_annotations(cfg(root, "generic", train_list="conflict.txt"), "train")
    skipped = load_annotations(cfg(root, "generic", train_list="conflict.txt", on_error="skip"), "train")
    assert [r.video_id for r in skipped.records] == ["b.mp4"]  # which label is right is unknown: both dropped
    # multi-label data: the same video twice is a duplicate, not a conflict
    write(root / "multi.txt", "a.mp4 0,1\na.mp4 1\n")
    assert len(load_annotations(cfg(root, "generic", train_list="multi.txt"), "train").duplicates) == 1


def test_data_check_reports_duplicates_and_conflicts():
    from actionlab.data.check import check_split, format_report

    root = tree("check_duplicates")
    put_video(root / "a.mp4")
    put_video(root / "b.mp4")
    write(root / "train.txt", "a.mp4 0\nb.mp4 1\nb.mp4 1\n")
    write(root / "val.txt", "a.mp4 0\nb.mp4 1\na.mp4 1\n")
    c = cfg(root, "generic", train_list="train.txt", val_list="val.txt")
    train = check_split(c, "train", decode=False)
    assert train.problems == 1 and "duplicate lines: 1" in format_report(train)
    val = check_split(c, "val", decode=False)
    text = format_report(val)
    assert val.problems == 1 and "annotation errors: 1" in text and "1 of them conflicts" in text


def test_inferred_class_count_is_said_and_taken_from_the_training_list():
    root = tree("inferred_classes")
    write(root / "train.txt", "a.mp4 0\nb.mp4 1\nc.mp4 30\n")  # a typo: 30 for 3
    write(root / "val.txt", "a.mp4 0\nb.mp4 1\n")
    c = cfg(root, "generic", train_list="train.txt", val_list="val.txt")
    train = load_annotations(c, "train")
    assert len(train.class_names) == 31
    assert "inferred 31 classes from the largest label 30" in train.notes[0] and "train.txt:3" in train.notes[0]
    assert "28 of them have no video" in train.notes[0]
    assert len(load_annotations(c, "val").class_names) == 31  # the classes of the dataset, not of this list
    write(root / "val.txt", "a.mp4 0\nb.mp4 31\n")
    with pytest.raises(DataError, match=r"val.txt:2: label 31 is not a class of the training list"):
        load_annotations(c, "val")
    write(root / "classes.txt", "x\ny\nz\n")
    with pytest.raises(DataError, match=r"train.txt:3: label 30 out of range \(3 classes in classes.txt\)"):
        load_annotations(cfg(root, "generic", train_list="train.txt", class_names="classes.txt"), "train")


@pytest.mark.parametrize("boxes, message", [
    ([[0.1, 0.2, 0.5, 0.6], None], "boxes look like 0-1 units"),
    ([[0.1, 0.2, 0.5, 0.6], [0.3, 0.25, 1.02, 0.7], [0.4, 0.3, 0.9, 0.8]], "boxes look like 0-1 units (3 of 3"),
    ([[10, 10, 5, 20]], "is empty"),
    ([[70, 10, 80, 20]], "lies outside the frame (64x64 pixels)"),
    ([[1, 2, "x", 4]], "bad entry for 'a.mp4'"),
])
def test_boxes_in_wrong_units_or_ranges_are_refused_at_load(boxes, message):
    root = tree("boxes")
    write(root / "train.txt", "a.mp4 0\n")
    write(root / "annotations.json", json.dumps({"size": 64, "videos": {"a.mp4": {"boxes": boxes}}}))
    with pytest.raises(DataError, match=re.escape(message)):
        load_annotations(cfg(root, "generic", train_list="train.txt"), "train")
    write(root / "annotations.json", json.dumps({"size": 64, "videos": {"a.mp4": {"boxes": [[-2, 3, 40.5, 66],
                                                                                           None]}}}))
    boxes_ok = load_annotations(cfg(root, "generic", train_list="train.txt"), "train").records[0].boxes
    assert boxes_ok.shape == (2, 4) and boxes_ok[0, 2] == 40.5  # past the border a little: kept


def test_non_finite_or_reversed_times_are_bad_lines_not_tracebacks():
    root = tree("kinetics_inf")
    header = "label,youtube_id,time_start,time_end,split,is_cc\n"
    write(root / "train.csv", header + "abseiling,abc,10,20,train,0\nabseiling,xyz,inf,10,train,0\n")
    with pytest.raises(DataError, match=r"train.csv:3: bad time_start/time_end 'inf'"):
        load_annotations(cfg(root, "kinetics"), "train")
    root = tree("charades_bad_times")
    write(root / "Charades_v1_classes.txt", "c000 Holding some clothes\nc001 Putting clothes somewhere\n")
    header = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
    for actions in ("c000 nan 1.0", "c001 5.0 2.0"):
        write(root / "Charades_v1_train.csv", header + f'46GP8,HR43,Kitchen,6,7,Yes,"s",x,"d","{actions}",9\n')
        with pytest.raises(DataError, match=rf"Charades_v1_train.csv:2: bad action '{actions}'"):
            load_annotations(cfg(root, "charades"), "train")
