"""VideoDataset items (the contract), bad videos with on_error=raise/skip, collate, and `actionlab data check`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from actionlab.cli import main
from actionlab.config import Config, DataConfig
from actionlab.data import build_dataset, collate
from actionlab.errors import DataError
from tests._data_helpers import small_mp4, workdir, write_jpegs


def make_tree(name: str, lines: list[str]) -> Path:
    root = workdir() / "dataset" / name
    if root.exists():
        shutil.rmtree(root)
    (root / "v").mkdir(parents=True)
    for i in range(3):
        shutil.copyfile(small_mp4(24), root / "v" / f"ok{i}.mp4")
    shutil.copyfile(small_mp4(5), root / "v" / "short.mp4")
    (root / "v" / "corrupt.mp4").write_bytes(small_mp4(24).read_bytes()[:300])
    write_jpegs(root / "frames" / "f1", 9)
    (root / "list.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("a\nb\nc\n")
    return root


def data_cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(root=str(root), train_list="list.txt", val_list="list.txt", test_list="list.txt",
                      class_names="classes.txt", num_segments=4, input_size=32, scale_size=40, **kw)


def test_item_contract_train_and_multiview_test():
    root = make_tree("contract", ["v/ok0.mp4 0", "v/short.mp4 1", "frames/f1 2"])
    train = build_dataset(data_cfg(root), "train", seed=0)
    assert len(train) == 3 and train.class_names == ["a", "b", "c"] and not train.multi_label
    for i in range(3):
        item = train[i]
        assert item["clip"].shape == (1, 3, 4, 32, 32) and item["clip"].dtype == torch.uint8
        assert item["label"].dtype == torch.int64 and int(item["label"]) == i and item["index"] == i
        assert "boxes" not in item and "action_mask" not in item  # no such annotation here
    assert torch.equal(train[0]["clip"], train[0]["clip"])  # seeded: deterministic per (seed, epoch, index)
    train.set_epoch(1)
    cfg = Config(data=data_cfg(root, twice_sample=True))
    cfg.test.views = "2x3"
    test = build_dataset(cfg, "test")
    item = test[1]
    assert item["clip"].shape == (9, 3, 4, 32, 32)  # (2 clips + the twice_sample clip) x 3 crops
    assert test.num_views == 9
    assert build_dataset(cfg, "val")[0]["clip"].shape[0] == 2  # val: 1 clip x 1 crop, + the twice_sample clip


def test_bad_videos_raise_naming_the_file():
    root = make_tree("raise", ["v/ok0.mp4 0", "v/missing.mp4 1", "v/corrupt.mp4 2"])
    ds = build_dataset(data_cfg(root, on_error="raise"), "train", seed=0)  # (auto skips in training)
    with pytest.raises(DataError, match="missing.mp4"):
        ds[1]
    with pytest.raises(DataError, match="corrupt.mp4"):
        ds[2]


def test_skip_counts_and_collate_drops(caplog):
    root = make_tree("skip", ["v/ok0.mp4 0", "v/missing.mp4 1", "v/corrupt.mp4 2", "v/ok1.mp4 1", "v/ok2.mp4 zz"])
    ds = build_dataset(data_cfg(root, on_error="skip"), "train", seed=0)
    assert len(ds) == 4 and len(ds.annotation_errors) == 1 and "list.txt:5" in ds.annotation_errors[0]
    with caplog.at_level("WARNING", logger="actionlab.data"):
        items = [ds[i] for i in range(4)]
    assert [x is None for x in items] == [False, True, True, False]
    assert ds.skipped == 2 and "missing.mp4" in caplog.text
    batch = collate(items)
    assert batch["clip"].shape == (2, 1, 3, 4, 32, 32) and batch["skipped"] == 2
    assert batch["index"].tolist() == [0, 3] and batch["label"].tolist() == [0, 1]
    assert collate([None, None]) is None


def test_dataloader_with_a_worker_skips_and_reports():
    root = make_tree("loader", ["v/ok0.mp4 0", "v/missing.mp4 1", "v/ok1.mp4 1", "v/ok2.mp4 2"])
    ds = build_dataset(data_cfg(root, on_error="skip"), "train", seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1, collate_fn=collate)
    batches = list(loader)
    assert sum(b["skipped"] for b in batches) == 1 and sum(len(b["index"]) for b in batches) == 3


def test_flip_label_map_from_config():
    root = make_tree("flipmap", ["v/ok0.mp4 0"])
    ds = build_dataset(data_cfg(root, flip_label_map={"a": "b"}), "train")
    assert ds.flip_label_map == {0: 1, 1: 0}
    labels = set()
    for seed in range(12):
        ds.seed = seed
        labels.add(int(ds[0]["label"]))
    assert labels == {0, 1}


def test_data_check_cli_reports_and_exits(capsys):
    good = make_tree("check_good", ["v/ok0.mp4 0", "v/ok1.mp4 1", "frames/f1 2"])
    cfg_path = good / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump({"data": data_cfg(good).__dict__}))
    assert main(["data", "check", str(cfg_path), "--splits", "train"]) == 0
    out = capsys.readouterr().out
    assert "[train] 3 videos, 3 classes" in out and "unreadable videos: 0" in out
    assert "frames per video: min 9, median 24, max 24" in out and "classes, readable videos only: a 1, b 1, c 1" in out
    bad = make_tree("check_bad", ["v/ok0.mp4 0", "v/corrupt.mp4 1", "v/ok1.mp4 9", "v/ok2.mp4"])
    cfg_path = bad / "cfg.yaml"
    cfg_path.write_text(yaml.safe_dump({"data": data_cfg(bad).__dict__}))
    assert main(["data", "check", str(cfg_path), "--splits", "train", "val"]) == 1
    out = capsys.readouterr().out
    assert "list.txt:3: label 9 out of range" in out and "list.txt:4: expected 'path label'" in out
    assert "corrupt.mp4" in out and "unreadable videos: 1" in out
    # the histogram counts what training sees: the unreadable video's class says so beside its count
    assert "classes, readable videos only (1 unreadable or missing not counted): a 1, b 0 (+1 unreadable), c 0" in out
    assert "classes without readable videos: 2 (b, c)" in out
    assert "problem(s) found" in out


def test_data_check_says_where_data_root_points_and_names_each_bad_line_once(capfd, monkeypatch, tmp_path):
    """A config beside its lists with `data.root: .`, a train/test-only folder (no val.txt, no class names)."""
    root = make_tree("check_dot", ["v/ok0.mp4 0", "v/ok1.mp4 1", "v/ok2.mp4 x y"])
    shutil.copyfile(root / "list.txt", root / "train.txt")
    (root / "test.txt").write_text("v/ok0.mp4 0\nv/ok1.mp4 1\n")
    (root / "cfg.yaml").write_text(yaml.safe_dump({
        "data": {"root": ".", "train_list": "train.txt", "val_list": "val.txt", "test_list": "test.txt",
                 "num_segments": 4}, "train": {"eval_every": 0}}))
    monkeypatch.chdir(tmp_path)  # elsewhere: '.' is this folder, which the check says, with the way out
    assert main(["data", "check", str(root / "cfg.yaml")]) == 1
    out = capfd.readouterr().out
    assert f"data.root: {tmp_path.resolve()} ('.' in the config, relative to the working directory)" in out
    assert f"the lists are in the config's folder {root.resolve()}" in out
    assert f"(= {tmp_path.resolve() / 'train.txt'})" in out
    monkeypatch.chdir(root)
    assert main(["data", "check", "cfg.yaml"]) == 1  # the bad line is the only problem
    captured = capfd.readouterr()
    assert (captured.out + captured.err).count("train.txt:3: bad label 'y'") == 1  # once, not per split/log
    assert "[val] not used" in captured.out  # nothing validates: a missing val.txt is no problem
    assert "inferred 2 classes from the largest label 1 (train.txt:2)" in captured.out
    assert "1 problem(s) found" in captured.out
    (root / "train.txt").write_text("v/ok0.mp4\n")  # no label at all: nothing to count classes from
    assert main(["data", "check", "cfg.yaml", "--splits", "train"]) == 1
    out = capfd.readouterr().out
    assert "no labelled line to infer the classes from; give data.class_names" in out and "inferred 0" not in out
