"""TFE: k-hot Gumbel mask (Eq. 8), TD module (Eqs. 6, 9-11), models, losses, ablations."""

from __future__ import annotations

import math

import pytest
import torch

from actionlab.errors import ModelError
from actionlab.models.heads.tfe import (
    Approximator,
    AttentionHead,
    TDHead,
    TDModule,
    TemporalBlock,
    khot_gumbel_mask,
    segment_attention,
)
from actionlab.models.tfe import TFEModel, VanillaTemporalModel, adversarial_term, build_frame_encoder


def tiny_encoder():
    return build_frame_encoder("resnet18", base_width=8)


def tiny_tfe(**kw) -> TFEModel:
    torch.manual_seed(0)
    return TFEModel(tiny_encoder(), num_classes=5, num_segments=kw.pop("num_segments", 8), heads=4, **kw)


def clip(n=2, t=8, size=32):
    torch.manual_seed(1)
    return torch.randn(n, 3, t, size, size)


# ---------------------------------------------------------------------------- Eq. 8


def test_khot_mask_is_k_hot_ish_in_training():
    torch.manual_seed(0)
    scores = torch.randn(64, 16, 16)
    m = khot_gumbel_mask(scores, k=4, tau=0.1, hard=False)
    assert m.shape == scores.shape
    assert (m >= 0).all() and (m <= 1 + 1e-6).all()
    assert not torch.isin(m, torch.tensor([0.0, 1.0])).all()  # relaxed, not binary
    rows = m.sum(-1)
    assert (rows >= 1 - 1e-4).all() and (rows <= 4 + 1e-4).all()  # max of 4 distributions
    near_one = (m > 0.5).sum(-1).float()
    assert 2.8 < near_one.mean() <= 4.0  # about k entries selected (fewer when draws collide)
    assert m.amax(-1).mean() > 0.95  # each draw is nearly one-hot at small tau


def test_khot_mask_is_exact_top_k_at_inference():
    scores = torch.randn(3, 16, 16)
    m = khot_gumbel_mask(scores, k=5, hard=True)
    assert torch.isin(m, torch.tensor([0.0, 1.0])).all()
    assert (m.sum(-1) == 5).all()
    top = scores.topk(5, dim=-1).indices
    assert (m.gather(-1, top) == 1).all()


def test_khot_mask_passes_gradients_and_checks_k():
    scores = torch.randn(2, 8, 8, requires_grad=True)
    weights = torch.randn(2, 8, 8)
    (khot_gumbel_mask(scores, k=3, tau=0.5) * weights).sum().backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        khot_gumbel_mask(scores, k=9)


# ---------------------------------------------------------------------------- Eqs. 9-11, 6


def test_td_head_matches_equations_at_inference():
    torch.manual_seed(0)
    head = TDHead(dim=16, k=3, ffn_ratio=1.0, mask_norm="none").eval()
    x = torch.randn(2, 6, 16)
    z_s, z_n, m = head(x)
    h = head.norm(x)
    alpha = head.w_q(h) @ head.w_k(h).transpose(-2, -1) / math.sqrt(16)  # Eq. 9
    expected_m = torch.zeros_like(alpha).scatter_(-1, alpha.topk(3, -1).indices, 1.0)
    assert torch.equal(m, expected_m)
    v = head.w_v(h)
    assert torch.allclose(z_s, head.f_s(m @ v + h), atol=1e-5)  # Eq. 10
    assert torch.allclose(z_n, head.f_n((1 - m) @ v + h), atol=1e-5)  # Eq. 11
    head.mask_norm = "mean"
    z_s_mean, z_n_mean, _ = head(x)
    assert torch.allclose(z_s_mean, head.f_s(m @ v / 3 + h), atol=1e-5)
    assert torch.allclose(z_n_mean, head.f_n((1 - m) @ v / 3 + h), atol=1e-5)


def test_td_module_heads_residuals_and_attention():
    torch.manual_seed(0)
    td = TDModule(dim=16, ks=[2, 4, 6]).eval()
    x = torch.randn(2, 8, 16)
    out = td(x)
    assert out.masks.shape == (2, 3, 8, 8)
    assert [int(out.masks[0, h, 0].sum()) for h in range(3)] == [2, 4, 6]  # each head its own k
    z_s = torch.cat([head(x)[0] for head in td.heads], -1)
    assert torch.allclose(out.z_salient, td.f_ds(z_s) + x, atol=1e-5)  # Eq. 6
    assert torch.allclose(out.attention.sum(-1), torch.ones(2))
    assert torch.allclose(out.attention, segment_attention(out.masks))


# ---------------------------------------------------------------------------- models


def test_tfe_model_forward_masks_and_gradients():
    model = tiny_tfe(k=[2, 4])
    x = clip()
    out = model(x)
    assert out.logits.shape == (2, 5) and out.extras["logits_nonsalient"].shape == (2, 5)
    assert out.extras["attention"].shape == (2, 8)
    masks = out.extras["td_masks"]
    assert not torch.isin(masks, torch.tensor([0.0, 1.0])).all()  # relaxed in training
    terms = model.loss(out, torch.tensor([1, 3]))
    assert set(terms) == {"cls", "nonsalient", "loss"}
    terms["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad
    model.eval()
    with torch.no_grad():
        masks = model(x).extras["td_masks"]
    assert torch.isin(masks, torch.tensor([0.0, 1.0])).all()
    assert (masks[:, 0].sum(-1) == 2).all() and (masks[:, 1].sum(-1) == 4).all()


def test_vanilla_model_attention_and_layers():
    torch.manual_seed(0)
    model = VanillaTemporalModel(tiny_encoder(), num_classes=5, num_segments=8, num_layers=3, heads=4)
    assert len(model.blocks) == 3 and model.explain_kind == "attention"
    out = model(clip())
    att = out.extras["attention"]
    assert att.shape == (2, 8) and torch.allclose(att.sum(-1), torch.ones(2)) and (att >= 0).all()
    with pytest.raises(ValueError):
        model(clip(t=4))


def test_tfe_has_fewer_layers_and_parameters_than_vanilla_at_clip_width():
    d, k = 512, 400  # CLIP ViT-B/16 embedding width, a classifier
    count = lambda mods: sum(p.numel() for m in mods for p in m.parameters())
    vanilla = [TemporalBlock(d, 8) for _ in range(6)] + [AttentionHead(d, k)]
    tfe = [TemporalBlock(d, 8), TDModule(d, [4, 8]), Approximator(d, k), Approximator(d, k)]
    assert count(tfe) < count(vanilla)


def test_no_td_ablation_and_multilabel_losses():
    model = tiny_tfe(disentangler="none")
    assert "td_masks" not in model(clip()).extras
    out = model(clip())
    assert torch.allclose(out.extras["attention"].sum(-1), torch.ones(2))
    multi_hot = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 0]])
    terms = model.loss(out, multi_hot)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out.logits, multi_hot)
    assert torch.allclose(terms["cls"], bce)


def test_adversarial_terms():
    target = torch.tensor([0, 2])
    flat = torch.zeros(2, 4)
    assert torch.allclose(adversarial_term(flat, target, "uniform"), torch.tensor(math.log(4)))
    confident_wrong = torch.tensor([[-20.0, 20, -20, -20], [20.0, -20, -20, -20]])
    neg = adversarial_term(confident_wrong, target, "negative")
    assert neg < -30  # -L_N: unbounded below
    assert adversarial_term(confident_wrong, target, "uniform") >= math.log(4) - 1e-5  # bounded below
    # flipped: minimal when the mass sits on the other classes, not the true one
    good = torch.tensor([[-20.0, 0, 0, 0], [0.0, 0, -20, 0]])
    assert adversarial_term(good, target, "flipped") < adversarial_term(-good, target, "flipped")
    multi = torch.tensor([[1.0, 0, 0, 1]])
    assert torch.allclose(adversarial_term(torch.zeros(1, 4), multi, "uniform"), torch.tensor(math.log(2)))
    assert adversarial_term(torch.tensor([[-9.0, 9, 9, -9]]), multi, "flipped") < 0.01


def test_registered_models_and_kwargs_errors():
    from actionlab.models.registry import create_model, list_models

    names = list_models("*")
    for name in ("tfe_clip_vit_b16", "vanilla_temporal_clip_vit_b16", "tfe_tiny", "vanilla_temporal_tiny", "tfe_r50"):
        assert name in names
    model = create_model("tfe_tiny", num_classes=3, num_segments=4, k=2)
    assert model.ks == [2] and model.num_segments == 4
    assert model(clip(1, 4)).logits.shape == (1, 3)
    with pytest.raises(ModelError):
        create_model("vanilla_temporal_tiny", num_classes=3, k=2)  # a TFE option
    with pytest.raises(ModelError):
        create_model("tfe_tiny", num_classes=3, k=[9])  # k > T
    with pytest.raises(ModelError):
        create_model("tfe_tiny", num_classes=3, encoder="nope")


def test_frozen_cnn_encoder_gets_no_gradient():
    model = TFEModel(build_frame_encoder("resnet18", freeze=True, base_width=8), num_classes=3, num_segments=4,
                     heads=4, k=2)
    model.train()
    assert not model.encoder.net.training  # frozen BN statistics
    model.loss(model(clip(1, 4)), torch.tensor([0]))["loss"].backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.pos.weight.grad is not None


def test_recipes_resolve_to_configs():
    from actionlab.config import load_config
    from actionlab.recipes import get_recipe, with_baselines

    assert [r.name for r in with_baselines(["tfe"])] == ["vanilla_attention", "tfe"]
    for name in ("vanilla_attention", "tfe"):
        recipe = get_recipe(name)
        assert recipe.variant == "distractor"
        cfg = load_config(None, recipe.config_overrides())
        assert cfg.model.name == recipe.model and cfg.optim.name == "adamw"
    assert load_config(None, get_recipe("tfe").config_overrides()).train.strategy == "tfe"
