"""TEFE networks: placement (Table 5), the 2D-equivalence at initialisation, registry, cost, ensemble."""

import copy

import pytest
import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from actionlab import create_model, list_models
from actionlab.errors import ModelError
from actionlab.metrics import average_scores
from actionlab.models.backbones.resnet import ResNet, blocks
from actionlab.models.tefe import TABLE5, TEFE, ensemble_forward, insert_tefe, resolve_placement
from actionlab.models.temporal.bilinear import FeatureEnhancement
from actionlab.models.temporal.tam import TemporalExtraction

R50_STAGES = [3, 4, 6, 3]


def _pretrained_like(arch: str, base_width: int = 8) -> ResNet:
    """A 2D ResNet whose weights and BN statistics are far from the default init, like ImageNet weights."""
    torch.manual_seed(0)
    net = ResNet(arch, base_width=base_width)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net


def _kinds(net: ResNet) -> dict[str, set[str]]:
    out = {}
    for blk, loc in blocks(net):
        kinds = set()
        if isinstance(blk.after_conv1, TemporalExtraction):
            kinds.add("te")
        if isinstance(blk.conv1, FeatureEnhancement) or isinstance(getattr(blk, "conv2", None), FeatureEnhancement):
            kinds.add("fe")
        out[loc.name] = kinds
    return out


def test_default_placement_is_the_papers_best_row():
    plan = resolve_placement((1, 1, 1, 1), (0, 3, 5, 2), R50_STAGES)
    assert plan == {2: {"te": [0], "fe": []}, 3: {"te": [0], "fe": [1, 2, 3]},
                    4: {"te": [0], "fe": [1, 2, 3, 4, 5]}, 5: {"te": [0], "fe": [1, 2]}}
    net = create_model("tefe_r50_tiny", num_classes=4, num_segments=4, base_width=8).backbone
    kinds = _kinds(net)
    assert kinds["layer1.0"] == {"te"} and kinds["layer1.1"] == set() and kinds["layer2.0"] == {"te"}
    assert [n for n, k in kinds.items() if k == {"fe"}] == \
        ["layer2.1", "layer2.2", "layer2.3"] + [f"layer3.{i}" for i in range(1, 6)] + ["layer4.1", "layer4.2"]


@pytest.mark.parametrize("row", sorted(TABLE5))
def test_every_table5_row_is_expressible(row):
    te, fe = TABLE5[row]
    model = create_model("tefe_r50_tiny", num_classes=3, num_segments=2, base_width=8, placement=row)
    counts = {s: [0, 0] for s in (2, 3, 4, 5)}
    for blk, loc in blocks(model.backbone):
        counts[loc.stage][0] += isinstance(blk.after_conv1, TemporalExtraction)
        counts[loc.stage][1] += isinstance(blk.conv2, FeatureEnhancement)
    assert [c[0] for c in counts.values()] == list(te) and [c[1] for c in counts.values()] == list(fe)


def test_placement_errors_and_block_indices():
    with pytest.raises(ModelError, match="stage 5 has 3 blocks"):
        resolve_placement((1, 1, 1, 1), (0, 3, 5, 3), R50_STAGES)
    with pytest.raises(ModelError, match="4 stages"):
        resolve_placement((1, 1, 1), (0, 3, 5, 2), R50_STAGES)
    with pytest.raises(ModelError, match="index 4"):
        resolve_placement([[0], [0], [0], [0]], [[], [4], [], []], R50_STAGES)
    with pytest.raises(ModelError, match="placement"):
        create_model("tefe_r50_tiny", num_classes=3, placement="row9")
    with pytest.raises(ModelError, match="model.kwargs.frames: not an option of tefe_r50_tiny"):
        create_model("tefe_r50_tiny", num_classes=3, frames=8)
    # Explicit indices can put TE and FE in the same block.
    net = _pretrained_like("resnet50")
    insert_tefe(net, 2, te=[[0], [], [], []], fe=[[0], [], [], [2]])
    assert _kinds(net)["layer1.0"] == {"te", "fe"} and _kinds(net)["layer4.2"] == {"fe"}


@pytest.mark.parametrize("arch,fe", [("resnet50", (0, 4, 6, 3)), ("resnet18", (0, 2, 2, 2))])  # strided FE too
def test_fe_network_from_2d_weights_equals_the_2d_resnet_per_frame(arch, fe):
    """Eq. 11 at network scale: before training, FE blocks compute what the 2D ResNet computes."""
    ref = _pretrained_like(arch)
    net = copy.deepcopy(ref)
    insert_tefe(net, num_segments=3, te=(0, 0, 0, 0), fe=fe)
    assert sum("fe" in k for k in _kinds(net).values()) == sum(fe)
    x = torch.randn(6, 3, 32, 32)  # 2 videos x 3 frames
    for training in (False, True):
        net.train(training)
        ref.train(training)
        with torch.no_grad():
            torch.testing.assert_close(net.forward_features(x), ref.forward_features(x), rtol=1e-4, atol=1e-4)


def test_registered_model_loads_2d_weights_before_inserting_modules(tmp_path):
    ref = _pretrained_like("resnet50").eval()
    path = tmp_path / "r50_tiny.pth"
    torch.save(ref.state_dict(), path)
    model = create_model("tefe_fe_only_r50_tiny", num_classes=5, pretrained=str(path), num_segments=4,
                         base_width=8).eval()
    assert model.pretrained_report.source == str(path) and not model.pretrained_report.missing
    clip = torch.randn(2, 3, 4, 32, 32)
    frames = clip.transpose(1, 2).reshape(8, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.frame_features(clip), ref.forward_features(frames), rtol=1e-4, atol=1e-4)
    # The full TEFE (with TE) from the same weights: every FE block still equals its 2D conv + BN.
    tefe = create_model("tefe_r50_tiny", num_classes=5, pretrained=str(path), num_segments=4, base_width=8).eval()
    pairs = []
    for (blk, _), (ref_blk, _) in zip(blocks(tefe.backbone), blocks(ref)):
        if isinstance(blk.conv2, FeatureEnhancement):
            blk.conv2.register_forward_hook(  # clone: the block's in-place ReLU runs right after
                lambda m, i, o, r=ref_blk: pairs.append((o.clone(), r.bn2(r.conv2(i[0])))))
    with torch.no_grad():
        tefe(clip)
    assert len(pairs) == 10
    for fe_out, ref_out in pairs:
        torch.testing.assert_close(fe_out, ref_out, rtol=1e-4, atol=1e-4)


def test_trained_tefe_checkpoint_loads_whole_and_partial_bn_spares_te(tmp_path):
    torch.manual_seed(0)
    src = create_model("tefe_r18_tiny", num_classes=3, num_segments=4, base_width=8)
    for p in src.parameters():  # as if trained: FE gates and TE no longer at their init
        p.data.add_(0.05 * torch.randn_like(p))
    path = tmp_path / "tefe.pth"
    torch.save(src.state_dict(), path)
    loaded = create_model("tefe_r18_tiny", num_classes=3, num_segments=4, base_width=8, pretrained=str(path))
    assert not loaded.pretrained_report.missing and not loaded.pretrained_report.inflated
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(clip).logits, src.eval()(clip).logits)
    pbn = create_model("tefe_r18_tiny", num_classes=3, num_segments=4, base_width=8, partial_bn=True).train()
    te_bns = [m for te in pbn.modules() if isinstance(te, TemporalExtraction) for m in te.modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    fe_bns = [m.bn1 for m in pbn.modules() if isinstance(m, FeatureEnhancement)]
    assert te_bns and all(bn.training and bn.weight.requires_grad for bn in te_bns)
    assert fe_bns and all(not bn.training and not bn.weight.requires_grad for bn in fe_bns)


def test_temporal_modules_see_frame_order_while_tsn_does_not():
    torch.manual_seed(0)
    clip = torch.randn(1, 3, 4, 32, 32)
    rev = clip.flip(2)

    def per_frame(model, c):
        return model.frame_features(c).mean((1, 2, 3))

    plain = create_model("tefe_r50_tiny", num_classes=3, num_segments=4, base_width=8, te=(0, 0, 0, 0),
                         fe=(0, 0, 0, 0)).eval()
    te_only = create_model("tefe_te_only_r50_tiny", num_classes=3, num_segments=4, base_width=8).eval()
    with torch.no_grad():
        torch.testing.assert_close(per_frame(plain, rev), per_frame(plain, clip).flip(0))
        assert not torch.allclose(per_frame(te_only, rev), per_frame(te_only, clip).flip(0), atol=1e-4)


@pytest.mark.parametrize("name", ["tefe_r50_tiny", "tefe_te_only_r50_tiny", "tefe_fe_only_r50_tiny",
                                  "tefe_r18_tiny", "tefe_te_only_r18_tiny", "tefe_fe_only_r18_tiny"])
def test_tiny_models_train(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, num_segments=4, base_width=8)
    assert isinstance(model, TEFE) and model.explain_kind == "gradcam"
    clip, target = torch.randn(2, 3, 4, 32, 32), torch.tensor([0, 2])
    out = model(clip)
    assert out.logits.shape == (2, 3)
    model.loss(out, target)["loss"].backward()
    new = [p for n, p in model.named_parameters() if ".after_conv1." in n or ".conv2.conv2." in n
           or ".conv1.conv2." in n]
    assert new and all(p.grad is not None and p.grad.abs().sum() > 0 for p in new)


def test_registered_names_and_r50_cost():
    names = list_models("tefe*")
    for n in ("tefe_r50", "tefe_r50_16f", "tefe_te_only_r50", "tefe_fe_only_r50", "tefe_r50_tiny"):
        assert n in names
    model = create_model("tefe_r50", num_classes=174)
    assert model.num_segments == 8  # built for 8 frames by default
    # ResNet-50 (23.86 M with a 174-way fc) + 4 TE modules + 10 FE blocks (each adds 45 w^2 + w).
    params = sum(p.numel() for p in model.parameters())
    fe_extra = 3 * (45 * 128**2 + 128) + 5 * (45 * 256**2 + 256) + 2 * (45 * 512**2 + 512)
    te = sum(p.numel() for m in model.modules() if isinstance(m, TemporalExtraction) for p in m.parameters())
    assert params == 23_508_032 + 2048 * 174 + 174 + fe_extra + te
    assert 64.7e6 < params < 64.9e6
    # MACs (FlopCounterMode flops / 2) on shapes only: ~79 G at 8 frames (TSN-R50: 32.7 G).
    model = model.to("meta").eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.empty(1, 3, 8, 224, 224, device="meta"))
    assert 78.5e9 < counter.get_total_flops() / 2 < 79.5e9


def test_16_frame_variant():
    model = create_model("tefe_r18_tiny", num_classes=3, num_segments=16, base_width=4)
    assert model(torch.randn(1, 3, 16, 16, 16)).logits.shape == (1, 3)
    assert create_model("tefe_r50_16f", num_classes=3, base_width=8).num_segments == 16


def test_ensemble_averages_the_models_probabilities():
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(average_scores([a, b]), (a.softmax(-1) + b.softmax(-1)) / 2)
    torch.testing.assert_close(average_scores([a, b], "logit"), (a + b) / 2)
    torch.testing.assert_close(average_scores([a, b], multi_label=True), (a.sigmoid() + b.sigmoid()) / 2)
    torch.testing.assert_close(average_scores([a, b], weights=[3, 1]), 0.75 * a.softmax(-1) + 0.25 * b.softmax(-1))
    with pytest.raises(ModelError, match="shape"):
        average_scores([a, torch.randn(4, 6)])
    m8 = create_model("tefe_r18_tiny", num_classes=5, num_segments=4, base_width=8).eval()
    m16 = create_model("tefe_r18_tiny", num_classes=5, num_segments=8, base_width=8).eval()
    c8, c16 = torch.randn(2, 3, 4, 16, 16), torch.randn(2, 3, 8, 16, 16)
    scores = ensemble_forward([m8, m16], [c8, c16])
    with torch.no_grad():
        expected = (m8(c8).logits.softmax(-1) + m16(c16).logits.softmax(-1)) / 2
    torch.testing.assert_close(scores, expected)
    torch.testing.assert_close(scores.sum(-1), torch.ones(2))
