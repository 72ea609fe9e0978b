"""The UCF101/HMDB51 transfer configs train as the release's fine-tuning recipe says, for a few steps.

Each config runs on a tiny tree in the official layout, its `model.pretrained: k400` tag read from a file
written in the release's own layout (random weights, a narrow network: `model.kwargs.base_width=8`), and the
run's log must show the recipe's learning rates: the new fc at 5x the base lr, its bias at 10x.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from actionlab.config import load_config
from actionlab.engine.trainer import train
from actionlab.models import pretrained as P
from actionlab.models.registry import create_model
from tests._dataset_trees import dataset_tree
from tests.test_models_pretrained import TINY, _official, _randomise

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*_from_k400.yaml"))


def test_the_transfer_configs_are_all_here():
    assert {p.stem for p in CONFIGS} == {f"{m}_r50_{d}_split1_from_k400" for m in ("tsm", "tanet")
                                         for d in ("ucf101", "hmdb51")}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_transfer_config_trains_with_the_release_lr_multipliers(path, tmp_path, monkeypatch):
    cfg = load_config(path)
    assert cfg.optim.lr_mult == {"fc": 5.0} and cfg.optim.bias_lr_mult == 2.0 and cfg.optim.no_bias_decay
    tag = P.get_pretrained(f"{cfg.model.name}.k400")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setitem(P._TAGS, tag.name, dataclasses.replace(tag, sha256=None))  # a random file: no hash
    P.cache_path(tag).parent.mkdir(parents=True)
    original = _randomise(create_model(cfg.model.name, num_classes=400, **TINY))
    torch.save(_official(tag, original.state_dict()), P.cache_path(tag))
    root = dataset_tree(cfg.data.format)
    cfg = load_config(path, [f"data.root={root}", "model.kwargs.base_width=8", "data.num_segments=4",
                             "data.input_size=32", "data.scale_size=40", "data.batch_size=2", "data.num_workers=0",
                             "data.cache=none", "train.epochs=1", "train.eval_every=0", "train.log_every=1",
                             f"train.work_dir={tmp_path / 'runs'}", "train.device=cpu"])
    result = train(cfg)
    log = (Path(result.run_dir) / "train.log").read_text(encoding="utf-8")
    (line,) = [x for x in log.splitlines() if "lr per parameter group" in x]
    lrs = {name: float(lr) for name, lr in re.findall(r"([\w.]+) ([0-9.e-]+) \(\d+ tensors\)", line)}
    base = lrs["decay"]
    assert lrs["fc.decay"] == pytest.approx(5 * base, rel=0.01) and lrs["fc.bias"] == pytest.approx(10 * base, rel=0.01)
    assert "optim.lr_mult fc: x5" in line
    assert (Path(result.run_dir) / "checkpoints" / "last.pt").is_file()
