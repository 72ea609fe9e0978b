"""Hub folders (`export --format hub`): shared without local paths or odd file modes, and read back with one
clear error when a file in them is broken or belongs to another model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from actionlab.api import load
from actionlab.cli import main
from actionlab.errors import ModelError
from tests._deploy_helpers import make_checkpoint

pytest.importorskip("safetensors")
FILES = ["model.safetensors", "config.json", "labels.txt", "preprocessing.json", "test_results.json", "README.md"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def umask():
    """Set the process umask for a test (restored after)."""
    saved = os.umask(0o022)
    yield os.umask
    os.umask(saved)


def _run_folder(tmp_path: Path, model: str = "tsm_r18_tiny") -> Path:
    """A checkpoint in a run folder, with `actionlab test` results beside it naming local paths."""
    ckpt = make_checkpoint(tmp_path / "runs" / "r" / "checkpoints" / "last.pt", model,
                           overrides=[f"data.root={tmp_path}/data", f"train.work_dir={tmp_path}/runs",
                                      f"data.test_list={tmp_path}/data/test.txt"])
    results = tmp_path / "runs" / "r" / "test_test_1x1"
    results.mkdir()
    (results / "metrics.json").write_text(json.dumps({
        "checkpoint": str(ckpt), "split": "test", "views": "1x1", "videos": 4, "skipped": 0,
        "predictions": str(results / "predictions.csv"), "metrics": {"top1": 0.5}}))
    return ckpt


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_hub_export_carries_no_local_paths_one_file_mode_and_names_every_file(tmp_path, capsys, umask):
    ckpt = _run_folder(tmp_path)
    out = tmp_path / "shared"
    assert main(["export", str(ckpt), "--format", "hub", str(out)]) == 0
    line = capsys.readouterr().out.strip()
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert f"wrote {out}/ ({', '.join(FILES)})" in line  # every file written, in one line
    for name in ("config.json", "test_results.json", "README.md", "preprocessing.json"):
        text = (out / name).read_text()
        assert str(tmp_path) not in text, name
    for name in ("config.json", "test_results.json"):
        data = json.loads((out / name).read_text())
        assert not [s for s in _strings(data) if s.startswith("/")], name
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["data"]["root"] == "data" and meta["config"]["train"]["work_dir"] == "runs"
    assert {"data.root", "train.work_dir", "data.test_list", "test_results[0].checkpoint"} <= \
        set(meta["local_paths_cut"])
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir()} == {oct(0o644)}
    assert load(out, device="cpu").class_names  # still loads
    umask(0o077)  # a private umask: every file private alike, as a plain `open(..., "w")` would make it
    private = tmp_path / "private"
    assert main(["export", str(ckpt), "--format", "hub", str(private)]) == 0
    assert {oct(p.stat().st_mode & 0o777) for p in private.iterdir()} == {oct(0o600)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory, one_thread):
    """A hub folder of tsm_r18_tiny and one of another architecture (tefe_r18_tiny)."""
    root = tmp_path_factory.mktemp("hub_bad")
    folders = {}
    for model in ("tsm_r18_tiny", "tefe_r18_tiny"):
        ckpt = make_checkpoint(root / f"{model}.pt", model)
        folders[model] = root / model
        assert main(["export", str(ckpt), "--format", "hub", str(folders[model])]) == 0
    video = root / "clip.mp4"
    video.write_bytes(b"\x00" * 64)  # never read: the folder is refused first
    return folders, video


def _broken(exported, tmp_path, how: str) -> Path:
    folders, _ = exported
    folder = tmp_path / how
    folder.mkdir()
    for p in folders["tsm_r18_tiny"].iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    weights = folder / "model.safetensors"
    if how == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif how == "garbage":
        weights.write_bytes(b"not a safetensors file at all, just text\n" * 10)
    elif how == "empty":
        weights.write_bytes(b"")
    elif how == "other_architecture":
        weights.write_bytes((folders["tefe_r18_tiny"] / "model.safetensors").read_bytes())
    elif how == "short_labels":
        names = (folder / "labels.txt").read_text().splitlines()
        (folder / "labels.txt").write_text("\n".join(names[:-2]) + "\n")
    return folder


@pytest.mark.parametrize("how, says", [
    ("truncated", "model.safetensors is not a complete safetensors file"),
    ("garbage", "model.safetensors is not a complete safetensors file"),
    ("empty", "model.safetensors is empty (0 bytes)"),
    ("other_architecture", "model.safetensors does not hold the weights of tsm_r18_tiny as config.json describes"),
    ("short_labels", "labels.txt has 3 class names, config.json says the model has 5 outputs"),
])
def test_a_broken_hub_folder_is_one_clear_error(exported, tmp_path, capfd, how, says):
    folder = _broken(exported, tmp_path, how)
    with pytest.raises(ModelError) as e:
        load(folder, device="cpu")
    assert says in str(e.value) and "\n" not in str(e.value)
    chained = e.value.__cause__ or (None if e.value.__suppress_context__ else e.value.__context__)
    assert chained is None  # no SafetensorError / RuntimeError chain behind it
    code = main(["predict", str(exported[1]), "--model", str(folder)])
    out, err = capfd.readouterr()
    assert code == 2 and "Traceback" not in err + out
    lines = [x for x in err.splitlines() if x.startswith("actionlab ")]
    assert len(lines) == 1 and says in lines[0] and err.strip().endswith(lines[0]), err
