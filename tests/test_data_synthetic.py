"""The built-in temporal benchmark: pairs that differ only in time order, annotations, determinism, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from actionlab.cli import main
from actionlab.config import load_config
from actionlab.data import build_dataset, read
from actionlab.data.synthetic import DEFAULT_CLASSES, PAIRS, generate, render
from actionlab.errors import ConfigError
from tests._data_helpers import workdir


@pytest.mark.parametrize("variant", ["order", "finegrained"])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_pair_members_are_time_reversals(variant, pair):
    first, second = PAIRS[pair]
    a = render(variant, first, np.random.default_rng(7), 32, 8)
    b = render(variant, second, np.random.default_rng(7), 32, 8)
    np.testing.assert_array_equal(b["boxes"], a["boxes"][::-1])  # same motion, played backwards
    diff = np.abs(b["frames"].astype(float) - a["frames"][::-1].astype(float)).mean()
    assert diff < 6.0  # only the per-frame noise differs
    moving = np.abs(a["frames"][0].astype(float) - a["frames"][-1].astype(float)).mean()
    assert moving > diff  # ... and the clip does change over time


def test_boxes_enclose_the_moving_object():
    for k, name in enumerate(DEFAULT_CLASSES):
        video = render("order", name, np.random.default_rng(k), 48, 8)
        for frame, box in zip(video["frames"], video["boxes"]):
            ys, xs = np.nonzero(frame.max(axis=-1) > 145)  # object colours are bright, backgrounds dark
            assert len(xs) > 0
            x1, y1, x2, y2 = box
            assert xs.min() >= x1 - 1.5 and xs.max() + 1 <= x2 + 1.5
            assert ys.min() >= y1 - 1.5 and ys.max() + 1 <= y2 + 1.5


def test_distractor_segments_and_cue_correlation():
    n, k = 120, len(DEFAULT_CLASSES)
    hits = {"train": 0, "test": 0}
    for split in hits:
        for i in range(n):
            c = i % k
            v = render("distractor", DEFAULT_CLASSES[c], np.random.default_rng([i, len(split)]), 32, 16, split=split,
                       num_classes=k, class_index=c, cue_prob=0.9)
            ((s, e),) = v["action_frames"]
            covered = sorted(f for a, b in v["action_frames"] + v["distractor_frames"] for f in range(a, b))
            assert covered == list(range(16)) and 0 < s < e < 16
            inside = ~np.isnan(v["boxes"]).any(axis=1)
            assert inside[s:e].all() and not inside[:s].any() and not inside[e:].any()
            hits[split] += v["cue"] == c
    assert hits["train"] / n > 0.8 and hits["test"] / n < 0.35  # correlated in train, broken in test


def test_generate_writes_a_deterministic_dataset():
    kwargs = dict(variant="distractor", videos_per_class=2, size=32, frames=8, classes=["move_right", "move_left"],
                  eval_per_class=1, workers=1)
    a = generate(workdir() / "synth_a", seed=3, **kwargs)
    b = generate(workdir() / "synth_b", seed=3, **kwargs)
    c = generate(workdir() / "synth_c", seed=4, **kwargs)
    assert a.counts == {"train": 4, "val": 2, "test": 2} and a.class_names == ["move_right", "move_left"]
    assert (a.root / "classes.txt").read_text().split() == ["move_right", "move_left"]
    assert (a.root / "train.txt").read_text().splitlines()[0] == "videos/train/move_right_0000.mp4 0"
    ann_a = json.loads((a.root / "annotations.json").read_text())
    ann_b = json.loads((b.root / "annotations.json").read_text())
    assert ann_a["videos"] == ann_b["videos"] and ann_a["pairs"] == [["move_right", "move_left"]]
    rel = "videos/test/move_left_0000.mp4"
    frames = read(a.root / rel, range(8))
    assert frames.shape == (8, 32, 32, 3)  # every rendered frame is in the file
    assert torch.equal(frames, read(b.root / rel, range(8)))
    assert not torch.equal(frames, read(c.root / rel, range(8)))


def test_generated_config_builds_datasets_with_annotations():
    result = generate(workdir() / "synth_cfg", "order", videos_per_class=1, size=32, frames=8, seed=0,
                      classes=["grow", "shrink"], eval_per_class=1)
    cfg = load_config(result.config, [f"data.num_segments={4}"])
    assert cfg.data.input_size == 28 and cfg.data.scale_size == 32
    item = build_dataset(cfg, "train", seed=0)[1]
    assert item["clip"].shape == (1, 3, 4, 28, 28) and int(item["label"]) == 1
    assert item["action_mask"].all() and item["boxes"].shape == (1, 4, 4)
    assert not torch.isnan(item["boxes"]).any()
    sizes = (item["boxes"][0, :, 2] - item["boxes"][0, :, 0]).tolist()
    assert sizes == sorted(sizes, reverse=True)  # "shrink": the box gets smaller frame after frame


def test_cli_synth(capsys):
    out = workdir() / "synth_cli"
    assert main(["data", "synth", str(out), "--variant", "finegrained", "--videos-per-class", "1",
                 "--eval-per-class", "1", "--size", "32", "--frames", "8", "--classes", "rotate_cw,rotate_ccw",
                 "--workers", "1"]) == 0
    assert "wrote 6 videos" in capsys.readouterr().out
    assert len(list((out / "videos").rglob("*.mp4"))) == 6
    assert main(["data", "synth", str(out), "--classes", "jump"]) == 2


def test_cli_synth_conflicting_test_cue(capsys):
    import json

    out = workdir() / "synth_cli_conflict"
    assert main(["data", "synth", str(out), "--variant", "distractor", "--videos-per-class", "1",
                 "--eval-per-class", "2", "--size", "32", "--frames", "8", "--classes", "rotate_cw,rotate_ccw",
                 "--test-cue", "conflict", "--workers", "1"]) == 0
    videos = json.loads((out / "annotations.json").read_text())["videos"]
    test = {k: v for k, v in videos.items() if "/test/" in k or k.startswith("test/")}
    assert len(test) == 4 and all(v["cue"] is not None and v["cue"] != v["label"] for v in test.values())


def test_finegrained_class_names_say_what_the_class_shows():
    """classes.txt of 'finegrained' names each class by what it shows (ART's text bank reads these), the pairs
    and the flip map use the same names, and the files keep the short ids."""
    from actionlab.data.synthetic import FINEGRAINED_NAMES

    result = generate(workdir() / "synth_fg_names", "finegrained", videos_per_class=1, size=32, frames=8,
                      classes=["rotate_cw", "rotate_ccw"], eval_per_class=1)
    names = (result.root / "classes.txt").read_text().splitlines()
    assert names == result.class_names == [FINEGRAINED_NAMES["rotate_cw"], FINEGRAINED_NAMES["rotate_ccw"]]
    assert "clockwise" in names[0] and "counterclockwise" in names[1] and "small" in names[0]
    meta = json.loads((result.root / "annotations.json").read_text())
    assert meta["pairs"] == [names] and meta["flip_swaps"] == [names]
    assert (result.root / "train.txt").read_text().splitlines()[0] == "videos/train/rotate_cw_0000.mp4 0"
    cfg = load_config(result.config, ["data.num_segments=2"])
    assert build_dataset(cfg, "test").num_classes == 2
    assert len(set(FINEGRAINED_NAMES.values())) == len(DEFAULT_CLASSES)


def test_distractor_layout_options():
    """cue_frames puts the cue patch before / after / around / over the action; test_cue='none' paints none;
    action_length sets the share of frames the action fills."""
    def cue_pixels(v, t):
        # the cue is a saturated patch in a top corner; the background is dark and grey-ish
        corner = np.concatenate([v["frames"][t, :8, :8], v["frames"][t, :8, -8:]]).astype(int)
        return int(((corner.max(-1) - corner.min(-1)) > 150).sum())

    kw = dict(split="train", num_classes=8, class_index=2, cue_prob=1.0)
    for where in ("outside", "before", "after", "all"):
        v = render("distractor", "rotate_cw", np.random.default_rng(5), 32, 16, cue_frames=where, **kw)
        ((s, e),) = v["action_frames"]
        has = [cue_pixels(v, t) > 4 for t in range(16)]
        want = {"outside": [t < s or t >= e for t in range(16)], "before": [t < s for t in range(16)],
                "after": [t >= e for t in range(16)], "all": [True] * 16}[where]
        assert has == want, where
    v = render("distractor", "rotate_cw", np.random.default_rng(5), 32, 16, split="test", test_cue="none")
    assert v["cue"] is None and not any(cue_pixels(v, t) > 4 for t in range(16))
    lengths = [np.subtract(*render("distractor", "grow", np.random.default_rng(i), 32, 20,
                                   action_length=(0.75, 0.8), **kw)["action_frames"][0][::-1]) for i in range(5)]
    assert all(14 <= n <= 16 for n in lengths)
    with pytest.raises(ConfigError, match="cue_frames"):
        render("distractor", "grow", np.random.default_rng(0), 32, 16, cue_frames="middle")
