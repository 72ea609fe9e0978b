"""Pins of the TFE paper (Xu et al., FITEE 2025): Eq. 12's phase-2 sign, the per-segment
attention read from the TD mask's columns, and the paper's / our documented defaults."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from actionlab.models import tfe as tfe_mod
from actionlab.models.heads.tfe import TDModule, segment_attention
from actionlab.models.recognizer import classification_loss
from actionlab.models.tfe import FrameEncoder, TFEModel, TFEStrategy, adversarial_term, build_frame_encoder

REPO = Path(__file__).resolve().parents[1]


class Features(torch.nn.Module):
    """A weight-free frame "encoder": clips are segment features [N, D, T, 1, 1] (fast tests)."""

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return x


def tiny_tfe() -> TFEModel:
    torch.manual_seed(0)
    return TFEModel(FrameEncoder(Features(), "cnn", 16, freeze=False), num_classes=4, num_segments=4, heads=4,
                    k=[1, 2])


def features_batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    return torch.randn(2, 16, 4, 1, 1), torch.tensor([1, 3])


# ---------------------------------------------------------------------------- Eq. 12, phase 2


@pytest.mark.parametrize("adversary", ["uniform", "negative", "flipped"])
def test_phase2_descends_ls_plus_adversarial_term(adversary):
    """Phase 2 updates D by -lr * grad(L_S + adv) where adv stands for -L_N (Eq. 12: min_D L_S - L_N).
    With the sign flipped, D would descend L_S - adv (for 'negative': L_S + L_N) and this fails."""
    model = tiny_tfe()
    strategy = TFEStrategy(adversary=adversary)
    lr = 0.1
    ctx = tfe_mod.StepContext(model, strategy.build_optimizers(
        model, lambda m: torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=lr)))
    clip, target = features_batch()
    parts = model.disentangle(clip)  # one Gumbel sample shared by the expectation and the step
    probe = [model.disentangler.heads[0].w_v.weight, model.disentangler.heads[1].f_n.fc2.weight,
             model.disentangler.f_dn.fc2.weight, model.blocks[0].qkv.weight]
    logits_s, logits_n = model.approximate(parts)
    g_s = torch.autograd.grad(classification_loss(logits_s, target), probe, retain_graph=True, allow_unused=True)
    g_adv = torch.autograd.grad(adversarial_term(logits_n, target, adversary), probe, retain_graph=True)
    g_s = [torch.zeros_like(p) if g is None else g for g, p in zip(g_s, probe)]
    before = [p.detach().clone() for p in probe]
    model.zero_grad(set_to_none=True)
    strategy.disentangler_phase(ctx, clip, target, parts)
    for p, b, gs, ga in zip(probe, before, g_s, g_adv):
        assert ga.abs().max() > 1e-6  # the adversarial term reaches this parameter
        assert torch.allclose(p.detach() - b, -lr * (gs + ga), atol=1e-6, rtol=1e-4)


def test_negative_adversary_is_minus_ln_and_phase2_raises_ln():
    """Eq. 12 as printed: with adversary 'negative' the disentangler step raises A_N's loss L_N."""
    target = torch.tensor([0, 2])
    logits = torch.randn(2, 4)
    assert torch.allclose(adversarial_term(logits, target, "negative"), -classification_loss(logits, target))
    model = tiny_tfe()
    strategy = TFEStrategy(adversary="negative")
    ctx = tfe_mod.StepContext(model, strategy.build_optimizers(
        model, lambda m: torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.05)))
    clip, target = features_batch()
    model.eval()  # hard top-k masks: the same D(x) before and after, up to the step
    with torch.no_grad():
        l_n0 = classification_loss(model(clip).extras["logits_nonsalient"], target)
    strategy.disentangler_phase(ctx, clip, target)
    with torch.no_grad():
        l_n1 = classification_loss(model(clip).extras["logits_nonsalient"], target)
    assert l_n1 > l_n0


# ---------------------------------------------------------------------------- per-segment attention: columns


def test_segment_attention_reads_mask_columns():
    """Every query row selects segments 1 and 3: the attention sits on 1 and 3 (column mass).
    Read from the rows instead (each row sums to k), it would be uniform."""
    masks = torch.zeros(2, 3, 4, 4)  # [N, H, T, T]
    masks[..., [1, 3]] = 1.0
    att = segment_attention(masks)
    assert torch.allclose(att, torch.tensor([[0.0, 0.5, 0.0, 0.5]] * 2))
    # one query row alone picks segment 0: column mass 1/4 of a row's on segment 0 only
    masks = torch.zeros(1, 1, 4, 4)
    masks[0, 0, :, 2] = 1.0
    masks[0, 0, 0] = torch.tensor([1.0, 0, 0, 0])
    assert torch.allclose(segment_attention(masks), torch.tensor([[0.25, 0.0, 0.75, 0.0]]))


def test_td_module_attention_is_not_uniform():
    torch.manual_seed(0)
    td = TDModule(dim=16, ks=[2]).eval()
    x = torch.randn(2, 8, 16)
    x[:, 5] *= 6.0  # a salient segment every query attends to
    out = td(x)
    assert torch.allclose(out.attention, out.masks.mean(2).mean(1) / out.masks.mean(2).mean(1).sum(-1, keepdim=True))
    assert not torch.allclose(out.attention, torch.full_like(out.attention, 1 / 8), atol=1e-3)


# ---------------------------------------------------------------------------- defaults


def test_paper_and_documented_defaults():
    model = TFEModel(build_frame_encoder("resnet18", base_width=8), num_classes=3, num_segments=16, heads=4)
    assert len(model.blocks) == 1 and model.ks == [4, 8]  # 1 layer + TD; k = T/4, T/2 (paper: none given)
    head = model.disentangler.heads[0]
    assert head.tau == 0.5 and head.mask_norm == "mean"  # AIL's temperature
    assert model.approx_s.pool == "mean" and model.approx_n.pool == "mean"
    assert not model.salient_only_at_inference
    s = TFEStrategy()
    assert (s.objective, s.adversary, s.nonsalient_weight, s.train_encoder) == ("adversarial", "uniform", 1.0, True)
    assert inspect.signature(TFEModel).parameters["dropout"].default == 0.0


def test_registered_clip_models_follow_table4(monkeypatch):
    """BIKE's setting: CLIP ViT-B/16 segment embeddings (d 512, frozen), 16 segments; vanilla 6 layers,
    TFE 1 + TD.  The builders' settings are captured instead of building the (slow) CLIP towers."""
    from actionlab.models.registry import model_info

    seen = {}
    monkeypatch.setattr(tfe_mod, "_build", lambda cls, n, p, defaults, kw: seen.setdefault(cls, {**defaults, **kw}))
    for fn in (tfe_mod.vanilla_temporal_clip_vit_b16, tfe_mod.tfe_clip_vit_b16, tfe_mod.vanilla_temporal_clip_vit_l14,
               tfe_mod.tfe_clip_vit_l14):
        seen.clear()
        fn(157)
        (cls, opts), = seen.items()
        assert opts["num_layers"] == (1 if cls is TFEModel else 6) and opts["num_segments"] == 16
        assert opts["encoder"].startswith("clip_vit_") and "freeze_encoder" not in opts  # CLIP frozen by default
    assert tfe_mod.CLIP_ENCODERS["clip_vit_b16"] == "vit_b16" and model_info("tfe_clip_vit_b16").num_frames == 16


@pytest.mark.parametrize("name", ["tfe_charades", "tfe_ucf101", "tfe_hmdb51"])
def test_configs_use_the_papers_schedule(name):
    from actionlab.config import load_config

    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    o = cfg.optim
    assert (o.name, o.lr, list(o.betas), o.weight_decay, o.schedule, o.warmup_epochs) == \
        ("adamw", 5e-5, [0.9, 0.999], 0.2, "cosine", 5)
    assert cfg.train.epochs == 100 and cfg.train.strategy == "tfe" and cfg.data.num_segments == 16
