import torch
import torch.nn as nn

from actionlab.models.backbones.resnet import ResNet, blocks

# Key counts and a sample of names of torchvision's resnet50 / resnet18 state dicts.
TORCHVISION_KEYS = {"resnet50": 320, "resnet18": 122}
SAMPLE_KEYS = ["conv1.weight", "bn1.running_mean", "layer2.0.downsample.0.weight", "layer2.0.downsample.1.bias",
               "layer4.1.bn2.num_batches_tracked", "fc.weight", "fc.bias"]


def test_torchvision_names_and_counts():
    for arch, n_keys in TORCHVISION_KEYS.items():
        sd = ResNet(arch, num_classes=1000).state_dict()
        assert len(sd) == n_keys, arch
        for k in SAMPLE_KEYS:
            assert k in sd, (arch, k)
    n = sum(p.numel() for p in ResNet("resnet50", num_classes=1000).parameters())
    assert n == 25_557_032  # torchvision's resnet50 parameter count


def test_slots_are_identity_and_visited():
    net = ResNet("resnet50", base_width=8)
    locs = [loc for _, loc in blocks(net)]
    assert [loc.stage for loc in locs] == [2] * 3 + [3] * 4 + [4] * 6 + [5] * 3
    assert locs[3].name == "layer2.0" and locs[3].in_channels == 32 and locs[3].width == 16
    assert locs[3].out_channels == 64
    before = net.state_dict().keys()
    x = torch.randn(2, 3, 32, 32)
    net.eval()
    y0 = net.forward_features(x)
    # Filling a slot changes the computation without touching the ResNet code.
    for blk, loc in blocks(net):
        if loc.stage == 5:
            blk.before_add = nn.Identity()
    assert net.state_dict().keys() == before
    assert torch.equal(net.forward_features(x), y0)
    assert y0.shape == (2, 8 * 8 * 4, 1, 1)


def test_slot_changes_output():
    net = ResNet("resnet18", base_width=8).eval()
    x = torch.randn(1, 3, 32, 32)
    y0 = net(x)
    blk, _ = next(iter(blocks(net)))
    blk.before_add = nn.Dropout(p=1.0).train()  # zeroes the residual branch of one block
    assert not torch.allclose(net(x), y0)
