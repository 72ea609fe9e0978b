"""A pretrained tag takes only its own release's file: the key layout and the architecture it was trained as,
and (to predict) its class count.  Anything else is one line naming what the file is and what was expected;
nothing predicts with a random classifier or runs a TSN file with a shift.

The files are written in each release's layout from our random weights (`_release_layouts.py`).
"""

from __future__ import annotations

import argparse
import dataclasses
import urllib.error

import pytest
import torch

import actionlab
from actionlab.cli import main
from actionlab.errors import ModelError
from actionlab.models import pretrained as P
from actionlab.models.registry import create_model
from tests._release_layouts import randomise, to_mmaction2, to_tsm_release

TINY = {"base_width": 8, "num_segments": 4}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def no_hashes(monkeypatch):
    """Random files cannot carry the publisher's hash: test identity, not the hash check."""
    for name in P.list_pretrained():
        tag = P.get_pretrained(name)
        if tag.sha256:
            monkeypatch.setitem(P._TAGS, name, dataclasses.replace(tag, sha256=None))


def _tiny(model: str, num_classes: int):
    torch.manual_seed(0)
    return randomise(create_model(model, num_classes=num_classes, **TINY))


def run(capfd, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Traceback" not in out, err
    lines = [x for x in err.splitlines() if x.startswith("actionlab ")]
    assert len(lines) == 1 and ": error: " in lines[0] and err.strip().endswith(lines[0]), err
    return code, lines[0]


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.mp4"  # never decoded: every refusal comes before the video is read
    path.write_bytes(b"\x00" * 64)
    return path


# --------------------------------------------------------------------------- class count


@pytest.mark.parametrize("tag, classes, other", [("tsm_r50.k400", 174, "tsm_r50.sthv2"),
                                                 ("tsm_r50.sthv2", 400, "tsm_r50.k400")])
def test_predict_refuses_a_file_of_another_class_count(tag, classes, other, tmp_path, video, capfd):
    """An SSv2 file for the Kinetics tag (and the reverse) would predict Kinetics names from a random head."""
    path = tmp_path / "other.pth"
    torch.save(to_tsm_release(_tiny("tsm_r50", classes).state_dict()), path)
    code, line = run(capfd, "predict", video, "--model", tag, "--weights", path)
    want = P.get_pretrained(tag).num_classes
    assert code == 2 and f"have a {classes}-class classifier (as {other})" in line
    assert f"{tag} predicts {want} classes" in line and "refusing to predict" in line
    assert f"num_classes={classes}" in line  # how to fine-tune instead
    with pytest.raises(ModelError, match="randomly initialised classifier"):  # the Python API alike
        create_model(tag, weights=str(path), **TINY)
    # fine-tuning (another class count asked for) puts in a new head, and the load report says so:
    # test_models_pretrained.py::test_fine_tuning_replaces_the_head_and_says_so


# --------------------------------------------------------------------------- layout and architecture


def _file(kind: str, tmp_path):
    """(path, description) of a tiny file of release layout / architecture `kind`."""
    if kind == "tsn_in_tsm_release":
        sd = to_tsm_release(_tiny("tsn_r50", 400).state_dict(), shift=False)
    elif kind == "tsm_release":
        sd = to_tsm_release(_tiny("tsm_r50", 400).state_dict())
    elif kind == "actionlab":
        sd = {"model": _tiny("tsm_r50", 400).state_dict()}
    elif kind == "plain":  # a torchvision-named ResNet (an ImageNet file)
        sd = {k.removeprefix("backbone."): v for k, v in _tiny("tsn_r50", 1000).state_dict().items()}
    else:
        arch = kind.split("_")[1]
        sd = to_mmaction2(_tiny(f"{arch}_r50", 400).state_dict(), arch)
    path = tmp_path / f"{kind}.pth"
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("kind, tag, found, fits", [
    ("tsn_in_tsm_release", "tsm_r50.k400", "TSN (2D ResNet, no temporal module) in the TSM release's layout", None),
    ("mma_tsn", "tsm_r50.k400_mmaction2", "TSN (2D ResNet, no temporal module) in MMAction2's layout",
     "tsn_r50.k400"),
    ("mma_tsm", "tsn_r50.k400", "TSM (temporal shift) in MMAction2's layout", "tsm_r50.k400_mmaction2"),
    ("mma_tsm", "tsm_r50.k400", "TSM (temporal shift) in MMAction2's layout", "tsm_r50.k400_mmaction2"),
    ("tsm_release", "tsm_r50.k400_mmaction2", "TSM (temporal shift) in the TSM release's layout",
     "tsm_r50.k400, tsm_r50.sthv2"),
    ("mma_tsn", "tanet_r50.k400", "TSN (2D ResNet, no temporal module) in MMAction2's layout", "tsn_r50.k400"),
    ("mma_tsn", "slowonly_r50.k400", "TSN (2D ResNet, no temporal module) in MMAction2's layout", "tsn_r50.k400"),
    ("mma_slowonly", "tsn_r50.k400", "SlowOnly (3D ResNet) in MMAction2's layout", "slowonly_r50.k400"),
    ("mma_tanet", "tsm_r50.k400_mmaction2", "TANet (TAM in every block) in MMAction2's layout", "tanet_r50.k400"),
    ("actionlab", "tsm_r50.k400", "actionlab's own layout", None),
    ("plain", "tsm_r50.k400", "a plain 2D network's layout (conv1.*, layer1.*", None),
])
def test_a_file_of_another_layout_or_architecture_is_refused(kind, tag, found, fits, tmp_path, no_hashes):
    """TSN and TSM hold the same tensors: without this check a TSN file loads completely into a TSM
    ("loaded 320, new 0, unused 0") and runs with a shift it never learnt."""
    path = _file(kind, tmp_path)
    with pytest.raises(ModelError) as e:
        create_model(tag, weights=str(path), **TINY)
    msg = str(e.value)
    expected = P.get_pretrained(tag)
    assert "\n" not in msg and f"weights {path} are {found}" in msg
    assert f"{tag} expects " in msg and P.tag_architecture(expected).upper().replace("SLOWONLY", "SlowOnly") \
        .replace("TANET", "TANet") in msg.split("expects ")[1]
    assert (f"it fits {fits}" in msg) if fits else "it fits" not in msg


def test_tsn_file_for_a_tsm_tag_is_refused_on_the_command_line(tmp_path, video, capfd):
    path = _file("tsn_in_tsm_release", tmp_path)
    code, line = run(capfd, "predict", video, "--model", "tsm_r50.k400", "--weights", path)
    assert code == 2 and "TSN (2D ResNet, no temporal module) in the TSM release's layout" in line
    assert "module.base_model.layer1.0.conv1.weight" in line  # the key that shows it: no shift wrapper
    assert "expects TSM (temporal shift)" in line and "module.base_model.layer1.0.conv1.net.weight" in line


# --------------------------------------------------------------------------- messages


def test_mistyped_tag_suggests_the_tag(video, capfd):
    code, line = run(capfd, "predict", video, "--model", "tsm_r50.k40")
    assert code == 2 and "unknown pretrained tag 'tsm_r50.k40'; did you mean tsm_r50.k400" in line
    assert "checkpoint not found" not in line
    with pytest.raises(ModelError, match="did you mean tsm_r50.k400"):
        actionlab.load("tsm_r50.k40")


def _not_a_checkpoint(tmp_path, kind: str):
    path = tmp_path / f"{kind}.pth"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("these are not weights\n")
    elif kind == "random":
        path.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8, generator=torch.Generator()
                                       .manual_seed(0)).numpy().tobytes())
    elif kind == "truncated":
        torch.save({"w": torch.zeros(1000)}, path)
        path.write_bytes(path.read_bytes()[:600])
    else:  # a checkpoint that pickles an object (the TSM release's training scripts save argparse args)
        torch.save({"state_dict": {"w": torch.zeros(2)}, "args": argparse.Namespace(lr=0.1)}, path)
    return path


@pytest.mark.parametrize("kind, says", [
    ("empty", "is empty (0 bytes), not a checkpoint"),
    ("text", "is not a PyTorch checkpoint (.pth/.pt) nor a safetensors file"),
    ("random", "is not a PyTorch checkpoint (.pth/.pt) nor a safetensors file"),
    ("truncated", "is a zip archive"),
    ("pickled", "pickles Python objects besides weights (argparse.Namespace)"),
])
def test_weights_that_are_not_a_checkpoint_say_what_they_are_not(kind, says, tmp_path, video, capfd):
    path = _not_a_checkpoint(tmp_path, kind)
    code, line = run(capfd, "predict", video, "--model", "tsm_r50.k400", "--weights", path)
    assert code == 2 and f"weights file {path} {says}" in line
    assert "weights_only" not in line and "arbitrary code" not in line  # never torch's advice to unpickle


def test_offline_error_names_the_python_argument_in_python_and_the_option_on_the_command_line(
        tmp_path, monkeypatch, video, capfd):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(url, dst, *a, **k):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    where = tmp_path / "hub" / "checkpoints" / P.get_pretrained("tsm_r50.k400").filename
    with pytest.raises(ModelError) as e:
        actionlab.load("tsm_r50.k400")
    msg = str(e.value)
    assert f"put the file at {where}" in msg and "weights=FILE" in msg and "--weights" not in msg
    code, line = run(capfd, "predict", video, "--model", "tsm_r50.k400")
    assert code == 2 and f"put the file at {where} or pass --weights FILE" in line and "weights=FILE" not in line
    code, line = run(capfd, "predict", video.parent, "--model", "tsm_r50.k400", "--jsonl", tmp_path / "p.jsonl")
    assert code == 2 and line.endswith(f"put the file at {where}")  # --jsonl has no --weights


# --------------------------------------------------------------------------- the tag's predictor

# What each release normalises with: MMAction2's data_preprocessor mean [123.675, 116.28, 103.53] and std
# [58.395, 57.12, 57.375] on 0-255 pixels; the TSM release's TSN input_mean [0.485, 0.456, 0.406] and
# input_std [0.229, 0.224, 0.225] on 0-1 pixels.
RELEASE_NORMALISATION = {
    "mmaction2": ((123.675 / 255, 116.28 / 255, 103.53 / 255), (58.395 / 255, 57.12 / 255, 57.375 / 255)),
    "tsm": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@pytest.mark.parametrize("name", [n for n in P.list_pretrained() if P.get_pretrained(n).is_video])
def test_a_tags_predictor_feeds_the_model_what_its_release_normalised_with(name, monkeypatch):
    """A pin: the clip the model of `actionlab.load(TAG)` sees is (x / 255 - mean) / std with the release's
    mean and std, per channel."""
    from actionlab.api import from_pretrained
    from actionlab.models import registry

    tag = P.get_pretrained(name)
    real = registry.create_model
    monkeypatch.setattr(registry, "create_model",
                        lambda _name, weights=None: real(tag.model, num_classes=tag.num_classes, **TINY))
    predictor = from_pretrained(name, device="cpu", quiet=True)
    seen = []
    forward = predictor.model.forward
    predictor.model.forward = lambda x: seen.append(x) or forward(x)
    clip = torch.zeros(1, 3, 4, 32, 32, dtype=torch.uint8)
    clip[:, 0], clip[:, 1], clip[:, 2] = 0, 128, 255
    predictor.logits(clip)
    mean, std = RELEASE_NORMALISATION[tag.layout]
    for c, value in enumerate((0, 128, 255)):
        assert torch.allclose(seen[0][:, c], torch.tensor((value / 255 - mean[c]) / std[c]), atol=1e-5), (name, c)
