"""Pretrained tags and the official-layout converters.

Every video tag's release layout is written here from our own random weights, renamed the way the
release names them (an independent reading of the releases' code, not convert.py's rules), and the
converted model must compute exactly what the original weights compute.
"""

import dataclasses
import re

import pytest
import torch

import actionlab
from actionlab.errors import ModelError
from actionlab.labels import load_labels
from actionlab.models.pretrained import create_pretrained, get_pretrained, list_pretrained
from actionlab.models.registry import _entry, create_model
from tests._release_layouts import official as _official
from tests._release_layouts import randomise as _randomise

VIDEO_TAGS = [n for n in list_pretrained() if get_pretrained(n).is_video]
TINY = {"base_width": 8, "num_segments": 4}


pytestmark = pytest.mark.usefixtures("one_thread")


def test_tags_carry_what_they_need():
    assert {"tsm_r50.k400", "tsm_r50.sthv2", "tsn_r50.k400", "tsm_r50.k400_mmaction2", "tanet_r50.k400",
            "slowonly_r50.k400"} <= set(VIDEO_TAGS)
    assert set(actionlab.list_pretrained("resnet*")) >= {"resnet18.imagenet", "resnet50.imagenet"}
    assert "efficientnet_lite0.imagenet" in actionlab.list_pretrained("efficient*")
    for name in VIDEO_TAGS:
        tag = get_pretrained(name)
        assert tag.urls[0].startswith("https://") and tag.filename.endswith(".pth"), name
        assert len(load_labels(tag.labels)) == tag.num_classes
        assert tag.accuracy and tag.source and tag.release and tag.num_frames == 8
        if "openmmlab" in tag.urls[0]:  # the publisher's sha256 prefix is the file name's last 8 hex digits
            assert tag.sha256 == re.search(r"-([0-9a-f]{8})\.pth$", tag.urls[0])[1]
        else:
            assert tag.sha256 is None and "none published" in tag.hash_source
    # each tag's test pipeline, written beside it: the release's sampling, resize/crop arithmetic and protocol
    pipelines = {n: (get_pretrained(n).sampler, get_pretrained(n).test_style, get_pretrained(n).protocol("release"))
                 for n in VIDEO_TAGS}
    assert pipelines["tanet_r50.k400"][:2] == ("mmaction_dense", "mmaction2")
    assert pipelines["slowonly_r50.k400"][:2] == ("mmaction_clips", "mmaction2")
    assert pipelines["tsm_r50.sthv2"][:2] == pipelines["tsm_r50.k400"][:2] == ("tsm_segment", "tsm")
    assert pipelines["tsn_r50.k400"][:2] == pipelines["tsm_r50.k400_mmaction2"][:2] == ("mmaction_segments",
                                                                                         "mmaction2")
    release = {n: (p["views"], p["input_size"], p["twice_sample"], p["average"])
               for n, (_, _, p) in pipelines.items()}
    assert release == {"tsm_r50.k400": ("1x10", 224, False, "logit"), "tsm_r50.sthv2": ("1x3", 224, True, "logit"),
                       "tsn_r50.k400": ("1x10", 224, False, "prob"),
                       "tsm_r50.k400_mmaction2": ("1x10", 224, False, "prob"),
                       "tanet_r50.k400": ("10x3", 256, False, "prob"),
                       "slowonly_r50.k400": ("10x3", 256, False, "prob")}
    # accuracy strings: the clips x crops behind each number; both numbers where the official sources disagree
    assert "75.96" in get_pretrained("slowonly_r50.k400").accuracy and "76.45" in get_pretrained(
        "slowonly_r50.k400").accuracy
    assert "25 clips x 10 crop" in get_pretrained("tsn_r50.k400").accuracy
    assert "8 clips x 3 crop" in get_pretrained("tanet_r50.k400").accuracy and "10 dense clips" in get_pretrained(
        "tanet_r50.k400").accuracy


def test_label_lists_in_release_order():
    k400, sthv2 = load_labels("kinetics400"), load_labels("sthv2")
    assert (k400[0], k400[6], k400[399]) == ("abseiling", "arm wrestling", "zumba")
    assert sthv2[0] == "Approaching something with your camera" and len(set(sthv2)) == 174


@pytest.mark.parametrize("name", VIDEO_TAGS)
def test_official_layout_converts_exactly(name, tmp_path):
    tag = dataclasses.replace(get_pretrained(name), sha256=None)  # a random file cannot carry the release hash
    torch.manual_seed(0)
    original = _randomise(create_model(tag.model, num_classes=tag.num_classes, **TINY))
    path = tmp_path / tag.filename
    # the TSM release (2019) predates torch's zip format: write its files in the legacy one
    torch.save(_official(tag, original.state_dict()), path, _use_new_zipfile_serialization=tag.layout != "tsm")
    converted = create_pretrained(_entry(tag.model).builder, tag, None, path, **TINY).eval()
    report = converted.pretrained_report
    assert report.source == name and not report.new and not report.unused, report.summary()
    assert len(report.loaded) == len(original.state_dict())
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(converted(x).logits, original(x).logits)


def test_fine_tuning_replaces_the_head_and_says_so(tmp_path):
    tag = dataclasses.replace(get_pretrained("tanet_r50.k400"), sha256=None)
    original = _randomise(create_model("tanet_r50", num_classes=400, **TINY))
    path = tmp_path / "tanet.pth"
    torch.save(_official(tag, original.state_dict()), path)
    model = create_pretrained(_entry("tanet_r50").builder, tag, 101, path, **TINY)
    report = model.pretrained_report
    assert model.fc.out_features == 101 and report.reinitialised == ["fc.weight", "fc.bias"]
    assert report.new == ["fc.weight", "fc.bias"] == report.unused  # the file's 400-class fc is not used
    assert any(".after_conv1.long_term." in k for k in report.loaded)  # the temporal modules came along
    assert "loaded" in report.summary() and "new 2" in report.summary() and "re-initialised" in report.summary()
    assert torch.equal(model.backbone.layer1[0].after_conv1.long_term[0].weight,
                       original.backbone.layer1[0].after_conv1.long_term[0].weight)


def test_wrong_file_for_a_published_hash_is_one_line(tmp_path):
    tag = get_pretrained("tsn_r50.k400")
    path = tmp_path / "not-the-release.pth"
    torch.save({"state_dict": {"cls_head.fc_cls.weight": torch.zeros(400, 8)}}, path)
    with pytest.raises(ModelError) as e:
        create_model("tsn_r50.k400", weights=str(path))
    msg = str(e.value)
    assert "\n" not in msg and tag.sha256 in msg and tag.urls[0] in msg


def test_create_model_by_tag_names():
    with pytest.raises(ModelError, match="unknown pretrained tag 'tsm_r50.k4000'; did you mean"):
        create_model("tsm_r50.k4000")
    with pytest.raises(ModelError, match="give num_classes"):
        create_model("tsm_r50")
    with pytest.raises(ModelError, match="ImageNet backbone tag; use it as pretrained='imagenet'"):
        create_model("resnet50.imagenet")
    with pytest.raises(ModelError, match="names its weights"):
        create_model("tsm_r50.k400", pretrained="sthv2")


@pytest.mark.parametrize("config", ["tsm_r50_ucf101_split1_from_k400", "tanet_r50_hmdb51_split1_from_k400"])
def test_config_pretrained_k400_loads_the_tag_and_says_what_it_did(config, tmp_path, monkeypatch, capsys):
    """`model.pretrained: k400` in the transfer configs: the tag's file from the hub cache, a new head."""
    from pathlib import Path

    from actionlab.config import load_config
    from actionlab.engine.build import build_model
    from actionlab.models import pretrained as P

    root = Path(__file__).resolve().parents[1] / "configs"
    cfg = load_config(root / f"{config}.yaml", ["model.kwargs.base_width=8", "data.num_segments=4"])
    assert cfg.model.pretrained == "k400"
    name = cfg.model.name
    tag = get_pretrained(f"{name}.k400")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    if tag.sha256:  # a random file cannot match the release's hash: test the loading, not the hash, here
        monkeypatch.setitem(P._TAGS, tag.name, dataclasses.replace(tag, sha256=None))
    original = _randomise(create_model(name, num_classes=400, **TINY))
    P.cache_path(tag).parent.mkdir(parents=True)
    torch.save(_official(tag, original.state_dict()), P.cache_path(tag))
    model = build_model(cfg, 101 if "ucf" in config else 51)
    assert model.fc.out_features == (101 if "ucf" in config else 51)
    err = capsys.readouterr().err
    loaded = len(original.state_dict()) - 2
    assert f"model.pretrained=k400: weights {tag.name}: loaded {loaded}, new 2, unused 2 tensors" in err
    assert "classifier re-initialised" in err


def test_list_pretrained_command(capsys):
    from actionlab.cli import main

    assert main(["list-pretrained", "tsm*"]) == 0
    out = capsys.readouterr().out
    assert "tsm_r50.k400 " in out and "tsm_r50.sthv2" in out and "tsn_r50.k400" not in out
    assert "71.2" in out and "recorded on 1st download" in out and "64d69186" in out  # accuracy, hashes
    assert main(["list-pretrained", "tanet*", "--json"]) == 0
    import json

    (tag,) = json.loads(capsys.readouterr().out)
    assert tag["name"] == "tanet_r50.k400" and tag["sampler"] == "mmaction_dense" and tag["frame_interval"] == 8
    assert main(["list-pretrained", "nope*"]) == 2
    assert "no pretrained tag matches 'nope*'" in capsys.readouterr().err


@pytest.mark.parametrize("name,params_m,digits", [("tanet_r50", 25.6, 1), ("slowonly_r50", 32.45, 2),
                                                  ("tsn_r50", 24.33, 2)])
def test_architectures_match_the_releases_parameter_counts(name, params_m, digits):
    """MMAction2's metafiles print the parameter count of each released model (400 classes): ours match, so
    the converted files fill the same layers (TANet: a TAM after conv1 in all 16 blocks)."""
    model = create_model(name, num_classes=400)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, digits) == params_m
