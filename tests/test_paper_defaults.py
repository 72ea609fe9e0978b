"""The papers' defaults that no shape test sees: TE's kernel K=3 (TEFE), TSM's shift of 1/8 of the channels each
way, and TSN's order dropout -> fc. Each test fails when its default is changed anywhere along the way (module
default, builder default, registered model)."""

from __future__ import annotations

import pytest
import torch

from actionlab.models.registry import create_model
from actionlab.models.temporal.shift import temporal_shift
from actionlab.models.temporal.tam import TemporalExtraction

T = 4


pytestmark = pytest.mark.usefixtures("one_thread")


def _te_modules(model: torch.nn.Module) -> list[TemporalExtraction]:
    return [m for m in model.modules() if isinstance(m, TemporalExtraction)]


@pytest.mark.parametrize("name", ["tefe_r18_tiny", "tefe_te_only_r18_tiny", "tefe_r50"])
def test_te_long_term_kernel_is_3(name):
    """TEFE (TANet's TAM) aggregates over K=3 neighbouring frames: 3 adaptive weights per channel (Eq. 5-6)."""
    model = create_model(name, num_classes=4, num_segments=T)
    modules = _te_modules(model)
    assert modules and all(m.kernel_size == 3 and m.long_term[-1].out_features == 3 for m in modules)
    assert TemporalExtraction(16, T).kernel_size == 3


def test_te_output_reaches_one_frame_each_side():
    """With K=3, frame t's TE output depends on frames t-1..t+1 only, through the depthwise conv (Eq. 6);
    the global pooling that makes the kernels is held fixed by feeding the same kernels."""
    te = TemporalExtraction(8, 8).eval()
    x = torch.randn(8, 8, 3, 3)
    motion, kernels = te.branches(x)
    from actionlab.models.temporal.tam import temporal_depthwise_conv

    impulse = torch.zeros(1, 8, 8, 3, 3)
    impulse[0, 4] = 1.0
    touched = temporal_depthwise_conv(impulse, kernels).abs().sum((2, 3, 4))[0] > 0
    assert touched.tolist() == [False, False, False, True, True, True, False, False]


def _moved_channels(x: torch.Tensor, y: torch.Tensor) -> int:
    return int((~torch.isclose(x, y)).flatten(2).any(-1).any(0).sum())


def test_temporal_shift_moves_one_eighth_each_way():
    """TSM: C/8 channels from the next frame, C/8 from the previous one, the other 3/4 stay."""
    c = 32
    x = torch.randn(2 * T, c, 2, 2)
    y = temporal_shift(x, T)
    assert _moved_channels(x, y) == 2 * c // 8
    clips_x, clips_y = x.view(2, T, c, 2, 2), y.view(2, T, c, 2, 2)
    assert torch.equal(clips_y[:, :-1, :c // 8], clips_x[:, 1:, :c // 8])  # frame t gets frame t+1
    assert torch.equal(clips_y[:, 1:, c // 8:c // 4], clips_x[:, :-1, c // 8:c // 4])  # and t-1


@pytest.mark.parametrize("name", ["tsm_r18_tiny", "tsm_r50"])
def test_registered_tsm_shifts_one_eighth(name):
    model = create_model(name, num_classes=4, num_segments=T)
    divs = {m.shift_div for m in model.modules() if hasattr(m, "shift_div")}
    assert divs == {8}


def test_tsn_dropout_comes_before_the_classifier():
    """TSN: pooled features -> dropout -> fc. With a zero fc weight the logits are the bias exactly, however
    dropout falls; dropout after the fc would zero (and rescale) logits."""
    model = create_model("tsn_r18_tiny", num_classes=6, num_segments=T, dropout=0.8).train()
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.arange(1.0, 7.0))
    torch.manual_seed(0)
    logits = model(torch.randn(3, 3, T, 32, 32)).logits
    assert torch.allclose(logits, torch.arange(1.0, 7.0).expand(3, 6))
