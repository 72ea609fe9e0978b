"""TSM's residual temporal shift: values, gradients, the memory-saving variant, insertion into backbones."""

import pytest
import torch
import torch.nn as nn

from actionlab.errors import ModelError
from actionlab.models.backbones.efficientnet import EfficientNetLite
from actionlab.models.backbones.resnet import ResNet, blocks
from actionlab.models.temporal.shift import (
    ShiftConv2d,
    TemporalShift,
    insert_shift,
    shift_by_padding,
    shift_functional,
    temporal_shift,
    temporal_shift_back,
)


def shift_by_slicing(x: torch.Tensor, t: int, div: int) -> torch.Tensor:
    """The shift written out frame by frame, channel block by channel block (the reference)."""
    nt, c, h, w = x.shape
    fold = c // div
    frames = x.view(nt // t, t, c, h, w)
    out = torch.zeros_like(frames)
    for i in range(t):
        if i + 1 < t:
            out[:, i, :fold] = frames[:, i + 1, :fold]  # from the next frame
        if i > 0:
            out[:, i, fold:2 * fold] = frames[:, i - 1, fold:2 * fold]  # from the previous frame
        out[:, i, 2 * fold:] = frames[:, i, 2 * fold:]
    return out.view(nt, c, h, w)


@pytest.mark.parametrize("t,c,div", [(4, 16, 8), (8, 24, 4), (3, 10, 8), (1, 16, 8)])
def test_shift_matches_direct_slicing(t, c, div):
    x = torch.randn(2 * t, c, 3, 5)
    assert torch.equal(temporal_shift(x, t, div), shift_by_slicing(x, t, div))
    functional = shift_functional(x, t, c // div)  # the torch.compile form
    assert torch.equal(functional, shift_by_slicing(x, t, div))
    assert torch.equal(shift_by_padding(x, t, c // div), shift_by_slicing(x, t, div))  # the exported form


def test_shift_zero_fills_ends_and_moves_one_frame():
    t, c = 4, 8
    x = torch.arange(1, t + 1, dtype=torch.float).view(1, t, 1, 1, 1).expand(1, t, c, 2, 2).reshape(t, c, 2, 2)
    y = temporal_shift(x, t, shift_div=8).view(t, c, 2, 2)[:, :, 0, 0]  # channel 0 and 1 shifted, rest kept
    assert y[:, 0].tolist() == [2, 3, 4, 0]  # frame t <- t+1, last frame zero
    assert y[:, 1].tolist() == [0, 1, 2, 3]  # frame t <- t-1, first frame zero
    assert y[:, 2].tolist() == [1, 2, 3, 4]


def test_shift_keeps_channels_last():
    x = torch.randn(8, 16, 4, 4).contiguous(memory_format=torch.channels_last)
    y = temporal_shift(x, 4)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, shift_by_slicing(x.contiguous(), 4, 8))


def test_shift_gradients():
    x = torch.randn(2 * 3, 8, 2, 2, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: temporal_shift(v, 3, 4), (x,))
    # the explicit backward used by the fused variant is the adjoint: <S x, g> = <x, S^T g>
    g = torch.randn_like(x)
    lhs = (temporal_shift(x, 3, 4) * g).sum()
    rhs = (x * temporal_shift_back(g, 3, 4)).sum()
    assert torch.allclose(lhs, rhs)


def test_inplace_variant_equals_residual_shift_and_saves_memory():
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 8, 3, padding=1, bias=True)
    fused = ShiftConv2d(conv, num_segments=4, shift_div=8)
    assert set(fused.state_dict()) == {"weight", "bias"}
    x = torch.randn(8, 16, 6, 6, requires_grad=True)
    grad_out = torch.randn(8, 8, 6, 6)

    existing = {x.untyped_storage().data_ptr()} | {p.untyped_storage().data_ptr() for p in conv.parameters()}

    def run(fn):
        saved = []

        def pack(t):  # count what autograd keeps beyond the input and the weights (alive anyway)
            if t.untyped_storage().data_ptr() not in existing:
                saved.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = fn(x)
        grads = torch.autograd.grad(y, (x, conv.weight, conv.bias), grad_out)
        return y, grads, sum(saved)

    y_ref, g_ref, saved_ref = run(lambda v: conv(temporal_shift(v, 4, 8)))
    y_fused, g_fused, saved_fused = run(fused)
    assert torch.allclose(y_fused, y_ref, atol=1e-6)
    for a, b in zip(g_fused, g_ref):
        assert torch.allclose(a, b, atol=1e-5)
    assert saved_ref == x.numel() and saved_fused == 0  # the shifted copy is not kept for backward
    # inference: the folds move in place in the input and are put back bit for bit
    frozen = x.detach().clone()
    with torch.inference_mode():
        y_inf = fused(frozen)
    assert torch.allclose(y_inf, y_ref, atol=1e-6) and torch.equal(frozen, x.detach())


def test_insert_shift_in_resnet_blocks():
    net = ResNet("resnet50", base_width=8)
    names = insert_shift(net, num_segments=4)
    assert len(names) == 16
    assert all(isinstance(b.before_conv1, TemporalShift) for b, _ in blocks(net))
    assert set(net.state_dict()) == set(ResNet("resnet50", base_width=8).state_dict())  # no new keys
    with pytest.raises(ModelError, match="already filled"):
        insert_shift(net, num_segments=4)
    r101 = ResNet("resnet101", base_width=8)
    assert len(insert_shift(r101, 8)) == 2 + 2 + 12 + 2  # the official rule: every other block of each stage
    inplace = ResNet("resnet18", base_width=8)
    insert_shift(inplace, 4, inplace=True)
    assert all(isinstance(b.conv1, ShiftConv2d) and isinstance(b.before_conv1, nn.Identity) for b, _ in blocks(inplace))
    with pytest.raises(ModelError, match="shift_div"):
        TemporalShift(4, shift_div=1)


def test_shift_makes_frames_see_their_neighbours():
    """TSN features of frame 0 ignore frame 3; with the shift in every block, information travels."""
    torch.manual_seed(0)
    plain = ResNet("resnet18", base_width=8).eval()
    shifted = ResNet("resnet18", base_width=8).eval()
    shifted.load_state_dict(plain.state_dict())
    insert_shift(shifted, num_segments=4, shift_div=4)
    x = torch.randn(4, 3, 32, 32)
    x2 = x.clone()
    x2[1] += 1.0  # perturb frame 1
    with torch.no_grad():
        for net, should_change in ((plain, False), (shifted, True)):
            a, b = net.forward_features(x), net.forward_features(x2)
            assert torch.equal(a[3], b[3]) != should_change  # frame 3 is two frames away: 2 blocks suffice
            assert torch.equal(a[0], b[0]) != should_change


def test_shift_in_efficientnet_residual_blocks_only():
    net = EfficientNetLite()
    names = insert_shift(net, num_segments=2)
    assert len(names) == 9  # blocks with an identity connection: stride 1 and same width
    assert all(net._blocks[int(n.split(".")[1])].has_skip for n in names)
    net.eval()
    with torch.no_grad():
        assert net.forward_features(torch.randn(4, 3, 64, 64)).shape == (4, 1280, 2, 2)
    fused = EfficientNetLite()
    insert_shift(fused, num_segments=2, inplace=True)
    fused.load_state_dict(net.state_dict())
    fused.eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(fused.forward_features(x), net.forward_features(x), atol=1e-5)
