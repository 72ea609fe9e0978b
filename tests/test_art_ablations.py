"""ART's ablation switches (bench art) and the MTC degeneracy at the paper's K = 2 (`mtc_on`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actionlab.errors import ConfigError
from actionlab.models.heads.art import ARTHead
from actionlab.models.registry import create_model

N, T, C, H, W, K_CLS = 3, 4, 16, 3, 3, 5


def head(**kwargs) -> ARTHead:
    torch.manual_seed(0)
    bank = F.normalize(torch.randn(3, K_CLS, 12), dim=-1)
    opts = dict(dim=32, num_tracklets=2, se_layers=1, rssa_layers=1, heads=4, dropout=0.0)
    return ARTHead(C, K_CLS, bank, **{**opts, **kwargs})


def frames(seed: int) -> tuple[torch.Tensor, tuple[int, int], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, T, H * W, C, generator=g), (H, W), torch.randn(N, C, generator=g)


def antipodal_prompts(h: ARTHead, scale: float = 1e3) -> None:
    """P_2 = -P_1, large: what minimising Eqs. 5 and 7 on R = MCA + Q can converge to."""
    v = F.normalize(torch.randn(h.dim), dim=0) * scale
    with torch.no_grad():
        h.prompts.copy_(torch.stack([v, -v]))


def test_mtc_on_the_responses_is_satisfied_by_the_prompts_alone_at_k2_but_not_on_the_readout():
    """The paper's form (`mtc_on="responses"`): with antipodal prompts every video and frame gives spatial =
    tracklet = -1 and temporal = 0, whatever the frames show - the loss is at its minimum and carries no
    information. `mtc_on="readout"` measures MCA(Q, X^) alone: the same prompts leave the terms where the
    frames put them (two queries that read the same content are alike), so the loss still shapes something."""
    paper = head().eval()
    antipodal_prompts(paper)
    for seed in (1, 2):
        mtc = paper(*frames(seed)).mtc
        assert mtc["spatial"].item() == pytest.approx(-1.0, abs=1e-3)
        assert mtc["tracklet"].item() == pytest.approx(-1.0, abs=1e-3)
        assert mtc["temporal"].item() == pytest.approx(0.0, abs=1e-6)
    fixed = head(mtc_on="readout").eval()
    assert fixed.mtc_on == "readout" and paper.mtc_on == "responses"  # the paper's form stays the default
    antipodal_prompts(fixed)
    assert fixed(*frames(1)).mtc["spatial"].item() > -0.9
    with pytest.raises(ConfigError, match="mtc_on"):
        head(mtc_on="tokens")


def test_readout_is_what_the_attention_read():
    """The read-out is the attention's output alone: R (the responses) minus it is the queries' own part."""
    h = head(mtc_on="readout", se_layers=0, spatial_enhancement=False).eval()
    tokens, grid, x_cls = frames(3)
    layer = h.activate[0]
    x = h.visual_proj(tokens).reshape(N * T, H * W, h.dim)
    q = torch.randn(N * T, 2, h.dim)
    from actionlab.models.heads.art import sine_position_code

    pos = sine_position_code(H, W, h.dim)[None]
    new_q, attn, readout = layer(q, x, pos)
    xn = layer.norm_x(x)
    by_hand, _ = layer.attn(layer.norm_q(q), xn + pos, xn)
    assert torch.allclose(readout, by_hand, atol=1e-6)
    assert torch.allclose(new_q, q + readout + layer.ffn(layer.norm2(q + readout)), atol=1e-5)


def _mtc_grads(mtc_on: str) -> tuple[dict, torch.Tensor]:
    """The MTC terms of a head whose attention does not depend on the queries (query projection zeroed:
    every query reads the frame's mean, as a near-uniform attention does) and their gradient on the prompts."""
    h = head(mtc_on=mtc_on, se_layers=0, spatial_enhancement=False).eval()
    with torch.no_grad():
        h.activate[0].attn.in_proj_weight[: h.dim].zero_()
        h.activate[0].attn.in_proj_bias[: h.dim].zero_()
    mtc = h(*frames(4)).mtc
    sum(mtc.values()).backward()
    return {name: v.item() for name, v in mtc.items()}, h.prompts.grad


def test_mtc_readout_starts_where_its_gradient_vanishes_and_via_readout_keeps_one():
    """`readout`: queries that read the same content give cos = 1 at once, the cosine's maximum, where its
    gradient is zero. `responses_via_readout`: the values of the paper's terms on R, but no gradient reaches the
    prompts through the residual + Q (here the only path to them), while the read-out still gets one."""
    paper, paper_grad = _mtc_grads("responses")
    readout, _ = _mtc_grads("readout")
    via, via_grad = _mtc_grads("responses_via_readout")
    assert readout["spatial"] == pytest.approx(1.0, abs=1e-5)  # identical read-outs: the worst value, stuck
    assert via == pytest.approx(paper)  # the paper's values on R_t
    assert paper_grad.abs().sum() > 1e-4  # the paper's form: the prompts alone can lower the terms
    assert via_grad is None or via_grad.abs().sum() == 0  # the via-read-out form: not through the residual
    h = head(mtc_on="responses_via_readout").train()
    h(*frames(5)).mtc["spatial"].backward()
    v_weight = h.activate[0].attn.in_proj_weight.grad[2 * h.dim:]  # the value projection: what is read
    assert v_weight.abs().sum() > 0


def test_learned_queries_use_no_text():
    h = head(query_source="learned")
    assert h.text_proj is None and h.learned_semantics is not None
    tokens, grid, x_cls = frames(1)
    out = h(tokens, grid, x_cls)
    before = out.logits.detach().clone()
    with torch.no_grad():  # the text bank no longer reaches the prediction
        h.bank.bank.normal_()
    assert torch.allclose(h(tokens, grid, x_cls).logits, before)
    out.logits.sum().backward()
    assert h.learned_semantics.grad is not None and h.learned_semantics.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="query_source"):
        head(query_source="bank")


def test_text_bank_random_is_not_the_names_text(monkeypatch):
    from actionlab.models import art as art_module

    def no_encoder(*a, **k):
        raise AssertionError("the text encoder must not run for text_bank='random'")

    monkeypatch.setattr(art_module, "build_semantic_bank", no_encoder)
    model = create_model("art_r18_tiny", num_classes=3, class_names=["a", "b", "c"], text_bank="random")
    model(torch.randn(1, 3, 4, 64, 64))
    bank = model.head.bank.bank
    assert bool(model.bank_ready) and torch.allclose(bank.norm(dim=-1), torch.ones_like(bank[..., 0]), atol=1e-5)
    assert torch.equal(model.head.bank.agent.detach(), bank)
    with pytest.raises(ConfigError, match="text_bank"):
        create_model("art_r18_tiny", num_classes=3, text_bank="clip")


def test_frozen_backbone_trains_only_the_head(tmp_path):
    """freeze_backbone: no backbone gradient, its BN statistics stay put in train mode, the head learns; the
    backbone's weights come from `pretrained` (a trained backbone's checkpoint)."""
    torch.manual_seed(0)
    backbone = create_model("tsm_r18_tiny_os8", num_classes=3)
    torch.save({"model": backbone.state_dict(), "num_classes": 3}, tmp_path / "backbone.pt")
    model = create_model("art", num_classes=3, backbone="tsm_r18_tiny_os8", pretrained=str(tmp_path / "backbone.pt"),
                         freeze_backbone=True, class_names=["a", "b", "c"], text_bank="random", dim=32, se_layers=1,
                         rssa_layers=1, heads=4)
    for name, value in backbone.state_dict().items():
        assert torch.equal(model.frames.base.state_dict()[name], value), name
    model.train()
    assert not model.frames.training and model.head.training
    stats = {k: v.clone() for k, v in model.frames.state_dict().items()}
    out = model(torch.randn(2, 3, 8, 32, 32))
    model.loss(out, torch.tensor([0, 2]))["loss"].backward()
    assert all(p.grad is None for p in model.frames.parameters())
    assert model.head.classifier.weight.grad is not None
    assert all(torch.equal(v, model.frames.state_dict()[k]) for k, v in stats.items())
    assert all(p.requires_grad for p in model.head.parameters() if p is not model.head.bank.agent)
