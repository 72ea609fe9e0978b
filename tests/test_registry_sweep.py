"""Every registered model builds with a small class count, runs a tiny clip forward and a loss, and gives
finite numbers; the metrics its extras allow are the ones it declares (`eval_metrics`).

Random init (no download), training mode (dropout, auxiliary losses on), a batch of 2 clips of the model's
own frame count at the smallest input it takes: 32 px for the CNNs, 2 x 2 patches for a ViT.  The R50-sized
models are built at their full width: this is what `create_model(name)` gives a user.
"""

from __future__ import annotations

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.eval_metrics import METERS
from actionlab.models import registry
from actionlab.models.recognizer import Recognizer
from actionlab.models.registry import create_model, list_models, model_info

pytestmark = pytest.mark.usefixtures("one_thread")

NEEDS = {"art": {"backbone": "tsn_r18_tiny"}}  # models that cannot be built without an option
# a model whose forward gives this extra is measured with that metric by the evaluator
METRIC_OF_EXTRA = {"attention": "temporal_fidelity", "regions": "pointing_game", "actionness": "actionness_in_box"}


def _input_size(model: torch.nn.Module) -> int:
    patches = [int(m.patch_size) for m in model.modules() if isinstance(getattr(m, "patch_size", None), int)]
    return 2 * max(patches) if patches else 32


def test_the_sweep_covers_the_whole_registry():
    assert len(list_models()) >= 70  # every model below, none hand-picked


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_builds_runs_and_gives_a_finite_loss(name):
    info = model_info(name)
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **NEEDS.get(name, {})).train()
    assert isinstance(model, Recognizer)  # the declared contract: name, info, explain kind, metrics
    assert (model.model_name, model.model_info) == (name, info)
    size = _input_size(model)
    frames = int(getattr(model, "num_segments", 0) or info.num_frames)
    out = model(torch.randn(2, 3, frames, size, size))
    assert out.logits.shape == (2, 3)
    assert torch.isfinite(out.logits).all()
    terms = model.loss(out, torch.tensor([0, 2]))
    assert terms["loss"].dim() == 0
    assert {k: float(v) for k, v in terms.items() if not torch.isfinite(v).all()} == {}
    declared = set(model.eval_metrics)
    assert declared <= set(METERS)
    assert {METRIC_OF_EXTRA[k] for k in out.extras if k in METRIC_OF_EXTRA} <= declared


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_refuses_an_unknown_option_by_name(name):
    with pytest.raises(ModelError, match=r"^model\.kwargs\.no_such_option: not an option of "):
        create_model(name, num_classes=3, no_such_option=1, **NEEDS.get(name, {}))


def test_a_type_error_inside_a_builder_is_a_bug_not_a_config_mistake(monkeypatch, tmp_path):
    """The options are checked before building; what a constructor raises afterwards comes out as it is."""
    from actionlab.config import load_config
    from actionlab.engine.build import build_model

    def broken(num_classes: int, pretrained: str | None = None, width: int = 4) -> Recognizer:
        return len(width)  # a bug: TypeError

    monkeypatch.setitem(registry._REGISTRY, "broken_tiny", registry._Entry("broken_tiny", broken, registry.ModelInfo()))
    cfg = load_config(None, ["model.name=broken_tiny", "model.kwargs={width: 8}"])
    with pytest.raises(TypeError, match="has no len"):
        build_model(cfg, 3)
    cfg = load_config(None, ["model.name=broken_tiny", "model.kwargs={widht: 8}"])
    with pytest.raises(ModelError, match="model.kwargs.widht: not an option of broken_tiny .did you mean 'width'"):
        build_model(cfg, 3)
