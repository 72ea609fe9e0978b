"""TEFE's TE (TAM, Eqs. 1-6) and FE (Hadamard bilinear, Eqs. 9-11) modules."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from actionlab.errors import ModelError
from actionlab.models.temporal.bilinear import FeatureEnhancement
from actionlab.models.temporal.tam import TemporalExtraction


def _randomise_bn(module: nn.Module) -> None:
    """Non-trivial BN statistics and affine parameters, as pretrained weights have."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


def _reference_te(te: TemporalExtraction, x: torch.Tensor) -> torch.Tensor:
    """Eqs. 1-6 written out with loops over videos, channels, frames and taps (eval-mode BN)."""
    nt, c, h, w = x.shape
    t_len, k_len = te.num_segments, te.kernel_size
    video = x.view(nt // t_len, t_len, c, h, w)
    conv_r, bn_r, _, conv_exp = te.short_term
    fc1, bn_l, _, fc2 = te.long_term
    out = torch.zeros_like(video)
    for n in range(video.shape[0]):
        xs = video[n].mean((2, 3)).T  # Eq. 1: [C, T]
        r = F.conv1d(xs[None], conv_r.weight, padding=1)  # Eq. 2
        r = F.relu(F.batch_norm(r, bn_r.running_mean, bn_r.running_var, bn_r.weight, bn_r.bias, False, 0, bn_r.eps))
        motion = torch.sigmoid(F.conv1d(r, conv_exp.weight))[0]  # Eq. 3: [C, T]
        for ch in range(c):
            hidden = fc1.weight @ xs[ch]
            hidden = (hidden - bn_l.running_mean) / torch.sqrt(bn_l.running_var + bn_l.eps) * bn_l.weight + bn_l.bias
            q = torch.softmax(fc2.weight @ F.relu(hidden), 0)  # Eq. 5
            for t in range(t_len):
                for k in range(k_len):
                    s = t + k - k_len // 2
                    if 0 <= s < t_len:  # zero padding in time
                        out[n, t, ch] += q[k] * motion[ch, s] * video[n, s, ch]  # Eqs. 4 and 6
    return out.view(nt, c, h, w)


@pytest.mark.parametrize("t_len,k_len,r", [(5, 3, 4), (1, 3, 4), (6, 5, 2)])
def test_te_matches_equations_1_to_6(t_len, k_len, r):
    torch.manual_seed(0)
    te = TemporalExtraction(8, t_len, kernel_size=k_len, reduction=r)
    _randomise_bn(te)
    te.eval()
    x = torch.randn(2 * t_len, 8, 3, 4)
    with torch.no_grad():
        y = te(x)
    assert y.shape == x.shape
    assert te.short_term[0].out_channels == 8 // r and te.long_term[-1].out_features == k_len
    torch.testing.assert_close(y, _reference_te(te, x), rtol=1e-5, atol=1e-5)


def test_te_kernels_are_per_channel_softmax_and_mix_time():
    torch.manual_seed(0)
    te = TemporalExtraction(16, 8).eval()
    x = torch.randn(8, 16, 4, 4)
    motion, kernels = te.branches(x)
    assert motion.shape == (1, 16, 8) and ((motion > 0) & (motion < 1)).all()
    assert kernels.shape == (1, 16, 3)
    torch.testing.assert_close(kernels.sum(-1), torch.ones(1, 16))
    # A change in frame 5 reaches frames 4 and 6 through the temporal kernel, and (through the
    # long-term branch's FC over all T) every kernel, so frame 0 changes too.
    x2 = x.clone()
    x2[5] += 1.0
    diff = (te(x2) - te(x)).abs().amax((1, 2, 3))
    assert (diff[[4, 5, 6]] > 1e-4).all() and diff[0] > 0


def test_te_trains_and_rejects_bad_options():
    te = TemporalExtraction(8, 4)
    x = torch.randn(8, 8, 3, 3, requires_grad=True)
    te(x).sum().backward()
    assert all(p.grad is not None for p in te.parameters())
    with pytest.raises(ModelError, match="odd"):
        TemporalExtraction(8, 4, kernel_size=2)
    with pytest.raises(ModelError, match="multiple"):
        te(torch.randn(6, 8, 3, 3))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("training", [False, True])
def test_fe_from_2d_equals_the_2d_conv_and_bn(stride, training):
    """Eq. 11: Conv1 = 2D kernel in the middle slice, Conv2 = 0 weights + bias 1 -> BN(conv2d(x))."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(6, 10, 3, stride, 1, bias=False), nn.BatchNorm2d(10)
    _randomise_bn(bn)
    fe = FeatureEnhancement.from_2d(conv, bn, num_segments=4)
    assert fe.conv1.weight.shape == (10, 6, 3, 3, 3) and fe.conv1.stride == (1, stride, stride)
    torch.testing.assert_close(fe.conv1.weight[:, :, 1], conv.weight)
    assert fe.conv1.weight[:, :, [0, 2]].abs().sum() == 0
    x = torch.randn(8, 6, 9, 9)  # 2 videos x 4 frames
    side = (9 - 1) // stride + 1
    gate = fe.conv2(x.view(2, 4, 6, 9, 9).transpose(1, 2))  # Conv2 answers 1 whatever the input
    assert torch.equal(gate, torch.ones(2, 10, 4, side, side))
    fe.train(training)
    bn.train(training)
    with torch.no_grad():
        torch.testing.assert_close(fe(x), bn(conv(x)), rtol=1e-5, atol=1e-5)
    if training:  # BN statistics were updated the same way
        torch.testing.assert_close(fe.bn1.running_mean, bn.running_mean)


def test_fe_is_a_hadamard_product_of_two_3d_convs():
    """Eq. 10 once trained: BN(Conv1 X) * Conv2 X over [N, C, T, H, W], per video."""
    torch.manual_seed(0)
    fe = FeatureEnhancement(4, 5, num_segments=3)
    for conv in (fe.conv1, fe.conv2):
        nn.init.normal_(conv.weight, std=0.2)
    _randomise_bn(fe)
    fe.eval()
    x = torch.randn(6, 4, 5, 5)
    clip = x.view(2, 3, 4, 5, 5).transpose(1, 2)
    bn = fe.bn1
    a = F.batch_norm(F.conv3d(clip, fe.conv1.weight, padding=1), bn.running_mean, bn.running_var, bn.weight,
                     bn.bias, False, 0, bn.eps)
    b = F.conv3d(clip, fe.conv2.weight, fe.conv2.bias, padding=1)
    expected = (a * b).transpose(1, 2).reshape(6, 5, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(fe(x), expected, rtol=1e-5, atol=1e-5)
        # 3x3x3 receptive field in time, and no leak between the two videos.
        x2 = x.clone()
        x2[0] += 1.0  # video 0, frame 0
        diff = (fe(x2) - fe(x)).abs().amax((1, 2, 3))
    assert (diff[:2] > 1e-4).all() and diff[2] == 0 and diff[3:].abs().sum() == 0


def test_fe_rejects_what_it_cannot_inflate():
    with pytest.raises(ModelError, match="Conv2d"):
        FeatureEnhancement.from_2d(nn.Identity(), nn.BatchNorm2d(4), 4)  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="square"):
        FeatureEnhancement.from_2d(nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.BatchNorm2d(4), 4)
    assert math.isclose(FeatureEnhancement.from_2d(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), 4,
                                                   temporal_kernel_size=5).conv1.weight.shape[2], 5)
