"""Each pretrained tag's test pipeline against its release's own arithmetic, on real videos.

References (tests/data/release_references.json, with its provenance): frame indices computed once by MMAction2
1.2.0's own SampleFrames / DenseSampleFrames; the first frames of vtest.avi and Megamind.avi resized by OpenCV
(4.8.1 and 5.1.0: identical) and by Pillow (9.5.0 and 13.0.0), pinned as SHA-256 of the resized bytes.  To
recompute: a scratch venv with numpy, opencv-python-headless and pillow; decode the first 3 frames to RGB with
PyAV; cv2.resize(f, (int(W * (256 / H) + 0.5), 256), interpolation=cv2.INTER_LINEAR) and
PIL.Image.fromarray(f).resize((int(256 * W / H), 256), Image.BILINEAR); hash the stacked uint8 arrays.  The
MMAction2 indices: exec mmaction/datasets/transforms/loading.py at v1.2.0 with mmcv/mmengine stubbed and call
transform({"total_frames": n, "start_index": 0}).  Where Pillow is installed, the PIL path is also compared live.
The TSM release's test indices (ops/dataset.py `_get_test_indices`) are its one-line formula, restated below.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from actionlab.data.sampling import build_sampler
from actionlab.data.transforms import TestTransform, release_crop_boxes, release_resize_size
from actionlab.errors import ConfigError
from tests._data_helpers import VTEST, small_mp4, workdir

REF = json.loads((Path(__file__).parent / "data" / "release_references.json").read_text(encoding="utf-8"))
MEGAMIND = Path("/usr/share/doc/opencv-doc/examples/data/Megamind.avi")


pytestmark = pytest.mark.usefixtures("one_thread")


def _indices(kind: str, n: int, clips: int, frames: int = 8, interval: int = 1, twice: bool = False):
    return build_sampler(kind, frames, interval, twice_sample=twice)(n, np.random.default_rng(0), False, clips)


@pytest.mark.parametrize("n", [795, 270, 100, 57, 30])
def test_frame_indices_equal_mmaction2_1_2_0(n):
    """795 = vtest.avi's frame count, 270 = Megamind.avi's; 57 and 30: shorter than SlowOnly's span."""
    ref = {k.rsplit("_", 1)[0]: np.array(v) for k, v in REF["frame_indices"].items() if k.endswith(f"_{n}")}
    np.testing.assert_array_equal(_indices("mmaction_clips", n, 10, interval=8), ref["slowonly_10clips"])
    np.testing.assert_array_equal(_indices("mmaction_clips", n, 1, interval=8), ref["slowonly_1clip"])
    np.testing.assert_array_equal(_indices("mmaction_dense", n, 10), ref["tanet"])
    np.testing.assert_array_equal(_indices("mmaction_segments", n, 1), ref["tsn"])
    np.testing.assert_array_equal(_indices("mmaction_segments", n, 1, twice=True), ref["tsn_twice"])


def test_the_tags_sample_what_their_releases_sample_on_vtest():
    """The issue's example: SlowOnly's single clip starts at 369 (not 366) on the 795 frames of vtest.avi."""
    from actionlab.api import Preprocess
    from actionlab.data.readers import open_video
    from actionlab.models.pretrained import get_pretrained

    with open_video(VTEST) as video:
        n = video.num_frames
    assert n == 795
    for name, ref in (("slowonly_r50.k400", "slowonly_10clips_795"), ("tanet_r50.k400", "tanet_795"),
                      ("tsn_r50.k400", "tsn_795")):
        tag = get_pretrained(name)
        p = tag.protocol("release")
        clips = int(p["views"].split("x")[0])
        got = _indices(p["sampler"], n, clips, tag.num_frames, p["frame_interval"], p["twice_sample"])
        np.testing.assert_array_equal(got, np.array(REF["frame_indices"][ref]), err_msg=name)
    assert Preprocess(8, 224, 256, sampler="mmaction_clips", frame_interval=8).sample(795)[0, 0] == 369


@pytest.mark.parametrize("n", [795, 270, 20, 7])
def test_tsm_release_test_indices(n):
    """ops/dataset.py: offsets int(tick / 2.0 + tick * x), twice_sample adds int(tick * x), tick = n / T."""
    tick = n / 8.0
    want = [[int(tick / 2.0 + tick * x) for x in range(8)], [int(tick * x) for x in range(8)]]
    np.testing.assert_array_equal(_indices("tsm_segment", n, 1, twice=True), np.clip(want, 0, n - 1))


def _first_frames(path: Path) -> torch.Tensor:
    import av

    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(3), c.decode(video=0))]
    return torch.from_numpy(np.stack(frames))


@pytest.mark.parametrize("video", [VTEST, MEGAMIND], ids=lambda p: p.stem)
@pytest.mark.parametrize("style,lib", [("mmaction2", "opencv"), ("tsm", "pil")])
def test_resize_equals_the_release_library_to_the_pixel(video, style, lib):
    from actionlab.data.transforms import resize_styled

    ref = REF[lib][video.stem]
    frames = _first_frames(video)
    assert hashlib.sha256(frames.numpy().tobytes()).hexdigest() == ref["source_sha256"]  # same decoded frames
    h, w = release_resize_size(frames.shape[1], frames.shape[2], 256, style)
    assert [h, w] == ref["size_hw"]
    out = resize_styled(frames.permute(0, 3, 1, 2), (h, w), style).permute(0, 2, 3, 1).contiguous()
    assert hashlib.sha256(out.numpy().tobytes()).hexdigest() == ref["sha256"]
    # actionlab's own antialiased resize is not the release's (the difference this pipeline removes)
    plain = resize_styled(frames.permute(0, 3, 1, 2), (h, w), "actionlab").permute(0, 2, 3, 1).contiguous()
    assert hashlib.sha256(plain.numpy().tobytes()).hexdigest() != ref["sha256"]


def test_pil_path_equals_installed_pillow_live():
    Image = pytest.importorskip("PIL.Image")
    from actionlab.data.release_resize import resize_pil

    frames = _first_frames(VTEST)[:1]
    for h, w in ((256, 341), (256, 768)):  # Pillow 13 picks its pass order by cost; here horizontal first, as 9.5
        ref = np.asarray(Image.fromarray(frames[0].numpy()).resize((w, h), Image.BILINEAR))
        out = resize_pil(frames.permute(0, 3, 1, 2), (h, w))[0].permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(out, ref)


def test_crop_boxes_follow_each_release():
    # a 16:9 frame at short side 256: MMAction2 455 wide (int(455.1 + 0.5)), TSM 455 (truncated)
    assert release_resize_size(720, 1280, 256, "mmaction2") == (256, 455)
    assert release_resize_size(720, 1280, 256, "tsm") == (256, 455)
    assert release_resize_size(1080, 1442, 256, "mmaction2") == (256, 342)  # 341.8 rounds up
    assert release_resize_size(1080, 1442, 256, "tsm") == (256, 341)  # torchvision truncates
    assert release_crop_boxes(256, 455, 224, 1, "mmaction2") == [(115, 16, 224, 224)]  # (455 - 224) // 2
    assert release_crop_boxes(256, 455, 224, 1, "tsm") == [(116, 16, 224, 224)]  # round(115.5) = 116
    # ThreeCrop(256): left, right at 2 * ((455 - 256) // 2) = 198 (not 199), middle 99
    assert release_crop_boxes(256, 455, 256, 3, "mmaction2") == [(0, 0, 256, 256), (198, 0, 256, 256),
                                                                 (99, 0, 256, 256)]
    # GroupFullResSample(224, 256): step (455 - 224) // 4 = 57, y = 2 * ((256 - 224) // 4) = 16
    assert release_crop_boxes(256, 455, 224, 3, "tsm") == [(0, 16, 224, 224), (228, 16, 224, 224),
                                                           (114, 16, 224, 224)]
    views = TestTransform(224, 256, 10, "mmaction2")(torch.zeros(8, 720, 1280, 3, dtype=torch.uint8))[0]
    assert views.shape == (10, 3, 8, 224, 224)


def test_mirrored_views_are_refused_for_left_right_label_sets(tmp_path):
    from actionlab.config import load_config
    from actionlab.data import build_dataset
    from tests._dataset_trees import dataset_tree

    cfg = load_config(None, ["data.format=sthv2", f"data.root={dataset_tree('sthv2')}", "data.input_size=32",
                             "data.scale_size=40"])
    with pytest.raises(ConfigError, match="10 crops include horizontal flips"):
        build_dataset(cfg, "val", views="1x10")
    assert len(build_dataset(cfg, "val", views="1x3")) == 1


# --------------------------------------------------------------------------- test --model TAG, end to end


def _tiny_tag(monkeypatch, tmp_path, name: str):
    """The tag's file in its release's layout, written from a narrow random network (base_width 8)."""
    import dataclasses

    from actionlab.models import pretrained as P
    from actionlab.models.registry import create_model
    from tests._release_layouts import official as _official
    from tests._release_layouts import randomise as _randomise

    tag = P.get_pretrained(name)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    tiny = dataclasses.replace(tag, sha256=None, model_kwargs={"base_width": 8})
    monkeypatch.setitem(P._TAGS, tag.name, tiny)
    P.cache_path(tiny).parent.mkdir(parents=True)
    original = _randomise(create_model(tag.model, num_classes=tag.num_classes, base_width=8, num_segments=8))
    torch.save(_official(tag, original.state_dict()), P.cache_path(tiny))
    return tiny


def _kinetics_tree(root: Path) -> Path:
    header = "label,youtube_id,time_start,time_end,split\n"
    rows = [("abseiling", "aaa"), ("air drumming", "bbb")]
    (root / "annotations").mkdir(parents=True)
    (root / "annotations/validate.csv").write_text(header + "".join(f"{c},{v},0,10,val\n" for c, v in rows))
    for c, v in rows:
        (root / "val" / c).mkdir(parents=True)
        shutil.copyfile(small_mp4(90), root / "val" / c / f"{v}_000000_000010.mp4")
    return root


def test_test_model_tag_runs_the_release_protocol_on_the_official_kinetics_layout(tmp_path, monkeypatch, capsys):
    from actionlab.cli import main

    _tiny_tag(monkeypatch, tmp_path, "tsn_r50.k400")
    root = _kinetics_tree(tmp_path / "k400")
    out = tmp_path / "out"
    assert main(["test", "--model", "tsn_r50.k400", "--data", str(root), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "tsn_r50.k400, release protocol (1x10 views, crop 224, mmaction2 resize/crop, prob average) on 2 " \
           "videos: measured top-1" in text
    assert "the release reports: Kinetics-400 val (MMAction2 model zoo): top-1 74.12" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["views"] == "1x10" and metrics["crop"] == 224 and metrics["videos"] == 2


def test_test_model_on_ssv2_reorders_classes_and_matches_predict(tmp_path, monkeypatch, capsys):
    """SSv2's labels.json may list the classes in another order than the release: the head is reordered, and the
    dataset path scores each video as `predict --protocol release` does (no flips: 2 clips x 3 crops)."""
    from actionlab.cli import main
    from actionlab.labels import load_labels

    _tiny_tag(monkeypatch, tmp_path, "tsm_r50.sthv2")
    names = load_labels("sthv2")
    root = tmp_path / "ssv2"
    (root / "labels").mkdir(parents=True)
    (root / "labels/labels.json").write_text(json.dumps({n: str(i) for i, n in enumerate(reversed(names))}))
    entries = [{"id": str(i), "template": names[k].replace("something", "[something]", 1)} for i, k in
               enumerate((0, 5))]
    (root / "labels/validation.json").write_text(json.dumps(entries))
    for e in entries:
        (root / "20bn-something-something-v2").mkdir(exist_ok=True)
        shutil.copyfile(small_mp4(60), root / "20bn-something-something-v2" / f"{e['id']}.webm")
    out = tmp_path / "out"
    assert main(["test", "--model", "tsm_r50.sthv2", "--data", str(root), "--out", str(out)]) == 0
    assert "release protocol (1x3 views, twice_sample, crop 224, tsm resize/crop, logit average)" in \
        capsys.readouterr().out
    import csv

    with open(out / "predictions.csv", encoding="utf-8") as f:
        first = next(r for r in csv.DictReader(f) if r["video"].endswith("0.webm"))
    assert main(["predict", str(root / "20bn-something-something-v2" / "0.webm"), "--model", "tsm_r50.sthv2",
                 "--protocol", "release", "--json", "-"]) == 0
    predicted = json.loads(capsys.readouterr().out)["predictions"][0]["top"][0]["label"]
    assert first["prediction"] == predicted  # the dataset path (reordered head) and the API path agree
    assert main(["predict", str(root / "20bn-something-something-v2" / "0.webm"), "--model", "tsm_r50.sthv2",
                 "--views", "1x10"]) == 2
    assert "10 crops include horizontal flips" in capsys.readouterr().err


def test_protocol_release_needs_a_tag(tmp_path):
    import actionlab

    with pytest.raises(ConfigError, match="belongs to a pretrained tag"):
        actionlab.load(tmp_path / "missing.pt", protocol="release")
    assert workdir().exists()
