"""TEA backbone: motion excitation, temporal aggregation, Res2Net layout and weights."""

from __future__ import annotations

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models.backbones.tea import TEA, MotionExcitation, TemporalChannelConv, build_tea
from actionlab.models.registry import create_model


def frames(n: int, t: int, c: int, size: int = 5) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(n * t, c, size, size)


def changed_frames(module: torch.nn.Module, t: int, c: int, perturbed: int) -> list[int]:
    """Which output frames change when input frame `perturbed` changes."""
    x = frames(1, t, c)
    y = x.clone()
    y[perturbed] += torch.randn_like(y[perturbed])
    with torch.no_grad():
        a, b = module(x), module(y)
    return [i for i in range(t) if not torch.allclose(a[i], b[i], atol=1e-6)]


def test_motion_excitation_reads_the_next_frame_only():
    me = MotionExcitation(32, num_segments=4, zero_init=False).eval()
    # frame t's attention uses conv(x_{t+1}) - x_t: changing frame 2 changes frames 1 and 2, never 0 or 3
    assert changed_frames(me, 4, 32, perturbed=2) == [1, 2]
    assert changed_frames(me, 4, 32, perturbed=0) == [0]
    zero = MotionExcitation(32, num_segments=4)  # zero-initialised expansion: the identity at start
    zero.reset_parameters()
    x = frames(1, 4, 32)
    assert torch.allclose(zero.eval()(x), x)


def test_temporal_conv_inits():
    x = frames(2, 4, 8)
    ident = TemporalChannelConv(8, 4, "identity")
    assert torch.allclose(ident(x), x)
    shift = TemporalChannelConv(8, 4, "shift")  # channels 0-3 from t+1, channels 4-7 from t-1, zero-filled
    y, v = shift(x).view(2, 4, 8, 5, 5), x.view(2, 4, 8, 5, 5)
    assert torch.allclose(y[:, :3, :4], v[:, 1:, :4]) and torch.allclose(y[:, 3, :4], torch.zeros_like(y[:, 3, :4]))
    assert torch.allclose(y[:, 1:, 4:], v[:, :3, 4:]) and torch.allclose(y[:, 0, 4:], torch.zeros_like(y[:, 0, 4:]))


def test_tea_r50_size_and_temporal_mixing(monkeypatch):
    monkeypatch.setattr(TEA, "_init_weights", lambda self: None)
    with torch.device("meta"):  # sizes only: no memory, no init cost
        full = build_tea(8)
    monkeypatch.undo()
    params = sum(p.numel() for p in full.parameters())
    assert 23.5e6 < params < 25e6 and full.num_features == 2048  # Res2Net-50 26w4s (23.7 M w/o fc) + ME
    tiny = build_tea(4, layers=(1, 1, 1, 1), stem_width=8).eval()
    assert tiny.forward_features(torch.randn(8, 3, 64, 64)).shape == (8, 256, 2, 2)
    assert len(changed_frames(tiny.forward_features, 4, 3, perturbed=1)) > 1  # frames talk to each other
    flat = build_tea(4, layers=(1, 1, 1, 1), stem_width=8, motion_excitation=False,
                     temporal_aggregation=False).eval()
    assert changed_frames(flat.forward_features, 4, 3, perturbed=1) == [1]  # plain Res2Net: frame by frame


def test_res2net_weights_load_into_tea(tmp_path):
    res2net = TEA(4, layers=(1, 1, 1, 1), stem_width=8, motion_excitation=False, temporal_aggregation=False)
    state = {f"module.{k}": v for k, v in res2net.state_dict().items()}  # as saved by DataParallel
    state["fc.weight"] = torch.zeros(10, 256)
    torch.save(state, tmp_path / "res2net.pth")
    tea = build_tea(4, str(tmp_path / "res2net.pth"), layers=(1, 1, 1, 1), stem_width=8)
    assert torch.equal(tea.layer2[0].convs[1].weight, res2net.layer2[0].convs[1].weight)
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7)}, tmp_path / "other.pth")
    with pytest.raises(ModelError, match="do not fit"):
        build_tea(4, str(tmp_path / "other.pth"), layers=(1, 1, 1, 1), stem_width=8)


def test_tea_recognizers_registered():
    model = create_model("tea_tiny", num_classes=3)
    assert model(torch.randn(1, 3, 4, 32, 32)).logits.shape == (1, 3)
