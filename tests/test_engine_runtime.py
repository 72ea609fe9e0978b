"""channels_last for models that mix 2D and 3D convolutions (TEFE's FE, SlowOnly)."""

import pytest
import torch

from actionlab.config import load_config
from actionlab.engine.build import build_model
from actionlab.engine.runtime import to_channels_last
from actionlab.engine.trainer import train
from tests._engine_toys import ToyVideos, toy_config

pytestmark = pytest.mark.usefixtures("one_thread")
TEFE = ["model.name=tefe_r18_tiny", "model.kwargs={base_width: 8}", "data.num_segments=4"]


def _cl(t: torch.Tensor) -> bool:
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


def test_to_channels_last_converts_4d_tensors_and_leaves_5d_ones():
    torch.manual_seed(0)
    model = build_model(load_config(None, TEFE), 4).eval()
    assert any(p.dim() == 5 for p in model.parameters())  # the model .to(memory_format=...) rejects
    with pytest.raises(RuntimeError):
        model.to(memory_format=torch.channels_last)
    params = dict(model.named_parameters())
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        before = model(clip).logits
    assert to_channels_last(model) is model
    convs = [p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1]
    assert convs and all(_cl(p) for p in convs)
    assert all(p.is_contiguous() for p in model.parameters() if p.dim() == 5)
    assert all(p is params[n] for n, p in model.named_parameters())  # optimizers built before stay valid
    with torch.no_grad():
        torch.testing.assert_close(model(clip).logits, before, rtol=1e-4, atol=1e-5)


def test_training_with_channels_last_on_a_model_with_3d_convolutions(tmp_path):
    cfg = toy_config(tmp_path, *TEFE, "train.channels_last=true", "train.epochs=1")
    result = train(cfg, train_set=ToyVideos(4), val_set=ToyVideos(4, train=False))
    assert result.last_checkpoint is not None and "top1" in result.val_metrics


def test_set_threads_applies_and_rejects_negative_counts():
    import torch

    from actionlab.engine.runtime import set_threads
    from actionlab.errors import ConfigError

    n = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
        assert set_threads(None) == 1 and set_threads(0) == 1  # unset: torch's current setting stays
        with pytest.raises(ConfigError, match="--threads must be >= 0"):
            set_threads(-2)
    finally:
        torch.set_num_threads(n)
