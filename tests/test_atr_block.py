"""ATR block parts (models/temporal/atr.py): ARL, aggregation, reasoners, distribution, residual init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actionlab.errors import ModelError
from actionlab.models.temporal.atr import (
    ActionRegionLocator,
    ATRBlock,
    EfficientReasoner,
    GraphReasoner,
    StackedReasoner,
    actionness_aggregate,
)

N, T, C, H, W = 2, 4, 32, 5, 6


pytestmark = pytest.mark.usefixtures("one_thread")


def frames(seed: int = 0) -> torch.Tensor:
    return torch.randn(N * T, C, H, W, generator=torch.Generator().manual_seed(seed))


def test_locator_shape_and_cues():
    for cues in ("both", "motion", "appearance"):
        arl = ActionRegionLocator(C, T, reduction=16, cues=cues)
        assert arl.reduce.out_channels == C // 16
        assert (arl.motion is None) == (cues == "appearance") and (arl.appearance is None) == (cues == "motion")
        assert arl(frames()).shape == (N, T, 1, H, W)
    with pytest.raises(ModelError):
        ActionRegionLocator(C, T, cues="flow")


def test_motion_cue_sees_only_temporal_differences():
    arl = ActionRegionLocator(C, T, cues="motion").eval()
    still = frames()[:1].repeat(N * T, 1, 1, 1)  # every frame identical: no motion anywhere
    m = arl(still)
    assert torch.allclose(m, arl.condense.bias.expand_as(m))
    moving = frames(1)
    m = arl(moving)
    assert not torch.allclose(m[:, 0], arl.condense.bias.expand_as(m[:, 0]))
    assert torch.allclose(m[:, -1], arl.condense.bias.expand_as(m[:, -1]))  # the last frame has no successor


def test_locator_sums_motion_and_appearance_with_shared_condense():
    both = ActionRegionLocator(C, T).eval()
    motion = ActionRegionLocator(C, T, cues="motion").eval()
    appearance = ActionRegionLocator(C, T, cues="appearance").eval()
    motion.load_state_dict(both.state_dict(), strict=False)
    appearance.load_state_dict(both.state_dict(), strict=False)
    x = frames()
    assert torch.allclose(both(x), motion(x) + appearance(x), atol=1e-5)  # Eq. 1 with g shared (Eq. 4)


def test_aggregation_is_a_softmax_weighted_sum():
    x = frames()
    flat = torch.zeros(N, T, 1, H, W)
    assert torch.allclose(actionness_aggregate(x, flat), x.mean((2, 3)).view(N, T, C), atol=1e-5)
    peaked = torch.full((N, T, 1, H, W), -1e4)
    peaked[..., 2, 3] = 1e4
    assert torch.allclose(actionness_aggregate(x, peaked), x[:, :, 2, 3].view(N, T, C))


def test_efficient_reasoner_is_a_shared_temporal_window_over_a_channel_transform():
    reasoner = EfficientReasoner(C, window=1)
    with torch.no_grad():
        reasoner.temporal.copy_(torch.tensor([0.2, -0.5, 0.7]))
    x = torch.randn(N, T, C)
    y = reasoner.transform(x)
    padded = F.pad(y, (0, 0, 1, 1))
    expected = 0.2 * padded[:, :-2] - 0.5 * padded[:, 1:-1] + 0.7 * padded[:, 2:]  # Eq. 9, zero-padded ends
    assert torch.allclose(reasoner(x), expected, atol=1e-5)
    # weights shared over time: shifting the clip shifts the output (away from the padded end)
    shifted = torch.cat([x[:, 1:], torch.zeros(N, 1, C)], 1)
    assert torch.allclose(reasoner(shifted)[:, 1:T - 2], reasoner(x)[:, 2:T - 1], atol=1e-5)
    assert sum(p.numel() for p in reasoner.parameters()) == C * C + 3


def test_reasoner_channel_reduction_counts():
    full = EfficientReasoner(C, reduction=1)
    low = EfficientReasoner(C, reduction=8)
    assert sum(p.numel() for p in low.parameters()) == 2 * C * (C // 8) + 3
    assert low(torch.randn(N, T, C)).shape == full(torch.randn(N, T, C)).shape == (N, T, C)
    with pytest.raises(ModelError):
        EfficientReasoner(C, reduction=0)


def test_graph_reasoner_relation_rows_are_distributions():
    graph = GraphReasoner(C)
    x = torch.randn(N, T, C)
    rel = graph.relation(x)
    assert rel.shape == (N, T, T) and torch.allclose(rel.sum(-1), torch.ones(N, T))
    assert torch.allclose(graph(x), graph.transform(rel @ x), atol=1e-5)  # Eq. 6


def test_stacked_reasoners_have_layernorm_between():
    for n in (1, 2, 3):
        stack = StackedReasoner(C, num_reasoners=n)
        assert len(stack.reasoners) == n and len(stack.norms) == n - 1
        assert stack(torch.randn(N, T, C)).shape == (N, T, C)
    with pytest.raises(ModelError):
        StackedReasoner(C, kind="transformer")


@pytest.mark.parametrize("distribution", ["scale", "broadcast"])
def test_block_starts_as_identity_where_designed_so(distribution):
    aggregation = "average" if distribution == "broadcast" else "actionness"
    block = ATRBlock(C, T, aggregation=aggregation, distribution=distribution).train()
    x = frames()
    assert torch.equal(block(x), x)
    assert (block.actionness is None) == (distribution == "broadcast")  # ATR_sim builds no ARL


def test_adding_form_at_init_adds_the_sigmoid_gate():
    block = ATRBlock(C, T)
    x = frames()
    out = block(x)
    gate = torch.sigmoid(block.actionness.flatten(0, 1))  # [N*T, 1, H, W] on every channel
    assert torch.allclose(out - x, gate.expand_as(x), atol=1e-6)
    assert block.actionness.shape == (N, T, 1, H, W)


def test_without_zero_init_the_reasoner_changes_the_output():
    block = ATRBlock(C, T, distribution="scale", zero_init=False)
    x = frames()
    assert not torch.allclose(block(x), x)


@pytest.mark.parametrize("options", [{}, {"distribution": "scale"}, {"reasoner": "graph", "num_reasoners": 1},
                                     {"cues": "motion"}, {"aggregation": "average", "distribution": "broadcast"}])
def test_every_parameter_gets_a_gradient(options):
    block = ATRBlock(C, T, zero_init=False, **options)
    x = frames().requires_grad_()
    (block(x) ** 2).mean().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad.abs().sum() > 0


def test_zero_init_still_learns_through_gamma_and_the_gate():
    block = ATRBlock(C, T)
    (block(frames()) ** 2).mean().backward()
    assert block.norm.weight.grad.abs().sum() > 0
    assert block.locator.condense.weight.grad.abs().sum() > 0  # via sigmoid(M) in the adding form


def test_block_rejects_bad_options_and_batches():
    with pytest.raises(ModelError):
        ATRBlock(C, T, distribution="multiply")
    with pytest.raises(ModelError):
        ATRBlock(C, T, aggregation="max")
    with pytest.raises(ModelError, match="4 frames"):
        ATRBlock(C, T)(torch.randn(N * T + 1, C, H, W))


# ---------------------------------------------------------------------------- the paper's defaults, pinned


def test_default_block_is_the_papers():
    """ATR's defaults (Sec. 3): ARL reduction r=16, n=2 stacked efficient reasoners with window k=1
    (3 shared scalars), BN (not LayerNorm) on the reasoner's output, adding form."""
    block = ATRBlock(64, T)
    assert block.locator.reduce.out_channels == 64 // 16
    assert len(block.reasoner.reasoners) == 2
    assert all(isinstance(r, EfficientReasoner) and r.window == 1 and r.temporal.numel() == 3
               for r in block.reasoner.reasoners)
    assert type(block.norm) is torch.nn.BatchNorm1d
    assert block.distribution == "add" and block.aggregation == "actionness"


def test_reasoner_output_is_batch_normalised():
    """Eq. 11's BN(Z): per channel over the batch's N*T frames (a LayerNorm would normalise each frame's channels)."""
    block = ATRBlock(C, T, zero_init=False).train()
    z = torch.randn(N * T, C) * 3 + 5
    out = block.norm(z)
    assert out.mean(0).abs().max() < 1e-4  # BN: zero mean per channel over the batch
    assert out.mean(1).abs().max() > 1e-2  # a LayerNorm would zero every row instead


def test_efficient_reasoner_window_reaches_one_neighbour_each_side():
    """k=1: frame t's output depends on frames t-1, t, t+1 and no others."""
    reasoner = EfficientReasoner(C)
    x = torch.zeros(1, 8, C)
    x[0, 4] = torch.randn(C)
    touched = reasoner(x).abs().sum(-1)[0] > 0
    assert touched.tolist() == [False, False, False, True, True, True, False, False]


def test_partial_bn_leaves_the_atr_norms_trainable():
    """TSN's partial BN freezes the pretrained BNs, never ATR's new ones (ARL's reduce_bn, the zero-init BN):
    frozen, the zero-initialised BN would keep the reasoner's output at 0 forever."""
    from actionlab.models.registry import create_model

    model = create_model("tsn_atr_r18_tiny", num_classes=3, num_segments=T, partial_bn=True).train()
    blocks = [m for m in model.modules() if isinstance(m, ATRBlock)]
    frozen = {id(m) for m in model.frozen_norms()}
    assert frozen and all(id(b.norm) not in frozen and id(b.locator.reduce_bn) not in frozen for b in blocks)
    assert all(b.norm.training for b in blocks)
    out = model(torch.randn(2, 3, T, 32, 32))
    out.logits.sum().backward()
    assert all(b.norm.weight.grad is not None and b.norm.weight.grad.abs().sum() > 0 for b in blocks)
    assert all(b.locator.reduce_bn.weight.grad is not None for b in blocks)
    # the backbone's own BNs (but the first) are frozen
    assert model.backbone.layer1[0].bn1.weight.grad is None and not model.backbone.layer1[0].bn1.training
