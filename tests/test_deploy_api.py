"""`actionlab.load(checkpoint).predict(...)`: the checkpoint's own test pipeline, results, errors, README example."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from actionlab.api import Prediction, Predictor, load
from actionlab.errors import DataError, ModelError
from tests._deploy_helpers import CLASSES, changing_frames, decode_all, make_checkpoint, write_video

DEPLOY_MD = Path(__file__).resolve().parents[1] / "benchmarks" / "deploy.md"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("deploy_api")
    ckpt = make_checkpoint(d / "tsm.pt", "tsm_r18_tiny", num_frames=4, input_size=32, scale_size=36)
    video = write_video(d / "clip.mp4", changing_frames(45, 40, 56, seed=1))
    return {"dir": d, "ckpt": ckpt, "video": video}


@pytest.fixture(scope="module")
def predictor(files: dict[str, Path]) -> Predictor:
    return load(files["ckpt"], device="cpu")


def test_load_builds_the_checkpoints_pipeline(predictor: Predictor) -> None:
    p = predictor.preprocess
    assert (p.num_frames, p.input_size, p.scale_size, p.sampler) == (4, 32, 36, "segment")
    assert p.mean == pytest.approx((0.485, 0.456, 0.406)) and p.std == pytest.approx((0.229, 0.224, 0.225))
    assert predictor.class_names == CLASSES
    assert not predictor.model.training
    assert predictor.model_name == "tsm_r18_tiny"


@pytest.mark.parametrize("views", ["1x1", "2x3"])
def test_predict_sees_what_actionlab_test_sees(files: dict[str, Path], predictor: Predictor, views: str) -> None:
    """The clips `predict` builds equal the test dataset's item for the same video, and its scores
    are the softmax of the model's logits on them, averaged over the views."""
    from actionlab.data import build_dataset

    (files["dir"] / "test.txt").write_text("clip.mp4 2\n")
    cfg = predictor.cfg
    cfg.data.root, cfg.data.test_list, cfg.data.format = str(files["dir"]), "test.txt", "generic"
    item = build_dataset(cfg, "test", views=views)[0]
    clips = predictor.clips_from_video(files["video"], views)
    assert clips.dtype == torch.uint8 and torch.equal(clips, item["clip"])

    result = predictor.predict(files["video"], topk=3, views=views)
    with torch.no_grad():
        expected = predictor.model(predictor.preprocess.normalise(item["clip"])).logits.softmax(-1).mean(0)
    torch.testing.assert_close(result.probabilities, expected, rtol=1e-5, atol=1e-6)
    assert result.labels == [CLASSES[i] for i in expected.topk(3).indices.tolist()]


def test_predict_on_decoded_frames_equals_predict_on_the_file(files: dict[str, Path], predictor: Predictor) -> None:
    frames = decode_all(files["video"])
    from_file = predictor.predict(files["video"], topk=5)
    from_tensor = predictor.predict(frames, topk=5)
    from_numpy = predictor(frames.numpy(), topk=5)
    torch.testing.assert_close(from_tensor.probabilities, from_file.probabilities)
    torch.testing.assert_close(from_numpy.probabilities, from_file.probabilities)


def test_prediction_result_object(files: dict[str, Path], predictor: Predictor) -> None:
    result = predictor.predict(files["video"], topk=3)
    assert isinstance(result, Prediction) and len(result) == 3
    pairs = list(result)
    assert all(isinstance(name, str) and isinstance(score, float) for name, score in pairs)
    assert [s for _, s in pairs] == sorted((s for _, s in pairs), reverse=True)
    assert result[0] == (result.label, result.score)
    assert result.probabilities.shape == (len(CLASSES),)
    assert float(result.probabilities.sum()) == pytest.approx(1.0, abs=1e-5)
    assert result.to_dict()["top"][0]["label"] == result.label
    assert len(predictor.predict(files["video"], topk=50)) == len(CLASSES)  # topk is capped at K


def test_different_content_gives_different_scores(predictor: Predictor) -> None:
    """Guards the other tests: with this checkpoint the scores depend on the frames."""
    a = predictor.predict(changing_frames(20, seed=3)).probabilities
    b = predictor.predict(changing_frames(20, seed=4)).probabilities
    assert float((a - b).abs().max()) > 1e-3


def test_user_errors(files: dict[str, Path], predictor: Predictor) -> None:
    with pytest.raises(ModelError, match="checkpoint not found"):
        load(files["dir"] / "missing.pt")
    with pytest.raises(DataError, match="uint8"):
        predictor.predict(np.zeros((8, 32, 32, 3), dtype=np.float32))
    with pytest.raises(DataError, match=r"\[F, H, W, 3\]"):
        predictor.predict(torch.zeros(8, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(DataError, match="not found"):
        predictor.predict(files["dir"] / "missing.mp4")


def _readme_python_block() -> str:
    text = DEPLOY_MD.read_text(encoding="utf-8")
    section = text.split("## For the README", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "benchmarks/deploy.md: no python example under 'For the README'"
    return blocks[0]


def test_readme_example_runs(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    import actionlab

    assert actionlab.load is actionlab.api.load  # the README's entry point is exported
    code = _readme_python_block()
    assert '"runs/tsm/best.pt"' in code and '"video.mp4"' in code
    code = code.replace('"runs/tsm/best.pt"', repr(str(files["ckpt"])))
    code = code.replace('"video.mp4"', repr(str(files["video"])))
    exec(compile(code, str(DEPLOY_MD), "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert any(name in out for name in CLASSES)


# --------------------------------------------------------------------------- pretrained tags (issue 16)


def _offline(monkeypatch: pytest.MonkeyPatch, hub: Path) -> None:
    import urllib.error

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setattr(torch.hub, "urlopen", no_network)


def test_predict_tag_offline_is_one_line(files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from actionlab.cli import main
    from actionlab.models.pretrained import get_pretrained

    _offline(monkeypatch, tmp_path / "hub")
    tag = get_pretrained("tsm_r50.k400")
    assert main(["predict", str(files["video"]), "--model", "tsm_r50.k400"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert tag.urls[0] in err and str(tmp_path / "hub" / "checkpoints" / tag.filename) in err
    assert "expected sha256 not published" in err and "--weights" in err
    mma = get_pretrained("tsn_r50.k400")  # a release with a published hash names it
    assert main(["predict", str(files["video"]), "--model", "tsn_r50.k400"]) == 2
    assert f"expected sha256 {mma.sha256}..." in capsys.readouterr().err


def test_recorded_hash_on_first_download_then_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from actionlab.models import pretrained as P

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    src = tmp_path / "release" / "TSM_file.pth"
    src.parent.mkdir()
    torch.save({"state_dict": {"module.new_fc.bias": torch.zeros(3)}}, src)
    tag = dataclasses.replace(P.get_pretrained("tsm_r50.k400"), urls=(src.as_uri(),))
    path = P.download(tag, progress=False)
    assert path == tmp_path / "hub" / "checkpoints" / "TSM_file.pth"
    assert P.expected_hash(tag) == P.file_sha256(src)  # recorded
    path.write_bytes(b"damaged")
    with pytest.raises(ModelError, match=f"expected sha256 {P.file_sha256(src)}"):
        P.download(tag, progress=False)


@pytest.mark.slow
def test_predict_tag_with_official_weights_file_prints_kinetics_labels(
        files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The real tsm_r50.k400 architecture with a file in the TSM release's layout (random weights, class 17
    made to win): predict prints Kinetics-400 names, and no download is tried."""
    from actionlab.cli import main
    from actionlab.labels import load_labels
    from actionlab.models.registry import create_model
    from tests._release_layouts import to_tsm_release

    _offline(monkeypatch, tmp_path / "hub")
    torch.manual_seed(0)
    model = create_model("tsm_r50", num_classes=400)
    with torch.no_grad():
        model.fc.bias[17] = 30.0
    weights = tmp_path / "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth"
    torch.save(to_tsm_release(model.state_dict()), weights)
    del model
    assert main(["predict", str(files["video"]), "--model", "tsm_r50.k400", "--weights", str(weights),
                 "--topk", "5"]) == 0
    captured = capsys.readouterr()
    names = load_labels("kinetics400")
    top1 = captured.out.splitlines()[-1].split("  ")
    assert names[17] in captured.out and names[17] in " ".join(top1)
    assert "weights tsm_r50.k400: loaded 320, new 0, unused 0 tensors" in captured.err
