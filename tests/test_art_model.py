"""ART recognizer: registered models, Eq. 18 loss, the lazy text bank, the EMA strategy, training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actionlab.engine.build import build_strategy
from actionlab.errors import ConfigError, ModelError
from actionlab.models import art as art_module
from actionlab.models.registry import create_model, list_models
from actionlab.models.text import bank as bank_module
from actionlab.strategy import StepContext

CLASSES = ["split leap", "switch leap", "split jump", "salto backward tucked", "flic-flac"]


def clip(n: int = 2, size: int = 64) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(n, 3, 4, size, size)


def test_registered_models():
    names = set(list_models("art*"))
    assert {"art", "art_tea_r50", "art_clip_vit_b16", "art_tsm_r50", "art_r18_tiny", "art_tea_tiny"} <= names


def test_forward_contract_and_eq18_loss():
    model = create_model("art_r18_tiny", num_classes=5)
    assert model.explain_kind == "tracklets"
    out = model(clip())
    assert out.logits.shape == (2, 5)
    assert out.extras["regions"].shape == (2, 4, 2, 2, 2)  # [N, T, K, h, w]: 64 px / 32 = 2 x 2
    assert out.extras["backbone_logits"].shape == (2, 5)
    target = torch.tensor([1, 3])
    terms = model.loss(out, target)
    art = out.extras["art"]
    mtc = art.mtc["spatial"] + art.mtc["temporal"] + art.mtc["tracklet"]
    sema = model.head.sema_losses(art, target, model.frames.prototype_weight)
    expected = (F.cross_entropy(out.logits, target) + F.cross_entropy(out.extras["backbone_logits"], target)
                + 5 * mtc + 5 * (sema["video"] + sema["prot"]))
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)  # gamma1 = gamma2 = 5
    assert {"cls", "backbone", "mtc", "sema", "mtc_temporal", "sema_prot"} <= set(terms)


def test_ablation_kwargs_reach_the_head():
    model = create_model("art_r18_tiny", num_classes=5, spatial_enhancement=False, tracklet_aggregation="mean",
                         mtc_terms=["spatial", "tracklet"], video_consistency=False, prototype_consistency=False,
                         mtc_weight=2.0)
    out = model(clip())
    terms = model.loss(out, torch.tensor([0, 1]))
    assert "sema" not in terms and model.head.prototype_mlp is None
    # without L_video the top-K selection map is still trained, against the untuned bank S
    assert terms["select"].item() == pytest.approx(model.head.selection_loss(out.extras["art"],
                                                                             torch.tensor([0, 1])).item())
    terms["loss"].backward()
    assert model.head.video_to_text.weight.grad is not None and model.head.bank.agent.grad is None
    art = out.extras["art"]
    assert terms["mtc"].item() == pytest.approx(2.0 * (art.mtc["spatial"] + art.mtc["tracklet"]).item(), rel=1e-5)
    assert len(model.head.enhance) == 0
    with pytest.raises(ModelError, match="model.kwargs.no_such_option: not an option of art_r18_tiny"):
        create_model("art_r18_tiny", num_classes=5, no_such_option=1)


def test_param_groups_keep_decay_off_the_text_bank():
    model = create_model("art_r18_tiny", num_classes=5, backbone_lr_mult=0.1)
    groups = model.param_groups(1e-4)
    text = next(g for g in groups if g["name"] == "text")
    assert any(p is model.head.bank.agent for p in text["params"]) and text["weight_decay"] == 0.0
    backbone = [g for g in groups if g["name"].startswith("backbone")]
    assert backbone and all(g["lr_mult"] == pytest.approx(0.1) for g in backbone)
    assert all(g["lr_mult"] == pytest.approx(1.0) for g in groups if g["name"].startswith("head"))
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in model.parameters() if p.requires_grad)


def test_art_strategy_updates_the_bank_after_each_step():
    model = create_model("art_r18_tiny", num_classes=5, bank_momentum=0.9)
    strategy = build_strategy("art")
    optimizer = torch.optim.SGD(model.param_groups(0.0), lr=0.5)
    ctx = StepContext(model=model, optimizers={"main": optimizer})
    bank_before = model.head.bank.bank.clone()
    strategy.train_step(ctx, clip(2, 32), torch.tensor([0, 2]))
    agent_after = model.head.bank.agent.detach().clone()
    assert not torch.equal(agent_after, bank_before)  # L_sema moved the agent bank S^a
    assert torch.equal(model.head.bank.bank, bank_before)  # S itself has no gradient ...
    strategy.after_optimizer_step(model)  # ... it follows S^a by the EMA of Eq. 12
    assert torch.allclose(model.head.bank.bank, 0.9 * bank_before + 0.1 * agent_after, atol=1e-6)
    assert torch.equal(model.head.bank.initial, bank_before)  # S0 kept for the t-SNE
    build_strategy("art", momentum=0.5).after_optimizer_step(model)
    with pytest.raises(ConfigError, match="needs an ART model"):
        build_strategy("art").after_optimizer_step(torch.nn.Linear(2, 2))


def test_text_bank_is_built_lazily_and_never_at_inference(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    from tests._art_helpers import save_tiny_clip_text

    encoder_dir = save_tiny_clip_text(tmp_path / "clip")
    kwargs = dict(class_names=CLASSES, templates="art", text_encoder=f"clip:{encoder_dir}",
                  bank_cache_dir=str(tmp_path / "cache"))
    model = create_model("art_r18_tiny", num_classes=5, **kwargs)
    assert model.head.bank.dim == 24 and not bool(model.bank_ready)  # sized from config.json, nothing encoded
    model(clip())
    assert bool(model.bank_ready)
    expected = bank_module.build_semantic_bank(CLASSES, "art", f"clip:{encoder_dir}", tmp_path / "cache")
    assert torch.equal(model.head.bank.initial, expected)
    state = model.state_dict()

    def no_encoder(*args, **kwargs):
        raise AssertionError("the text encoder ran at inference")

    monkeypatch.setattr(bank_module, "build_text_encoder", no_encoder)
    monkeypatch.setattr(art_module, "build_text_encoder", no_encoder)
    fresh = create_model("art_r18_tiny", num_classes=5, **{**kwargs, "bank_cache_dir": str(tmp_path / "empty")})
    fresh.load_state_dict(state)  # a checkpoint carries S0, S, S^a and bank_ready
    fresh.eval()
    model.eval()
    assert torch.allclose(fresh(clip()).logits, model(clip()).logits, atol=1e-6)
    with pytest.raises(ConfigError, match="class names"):
        create_model("art_r18_tiny", num_classes=4, **kwargs)


def test_art_on_other_backbones():
    tea = create_model("art_tea_tiny", num_classes=3)
    assert tea(clip(1)).extras["regions"].shape == (1, 4, 2, 2, 2)
    generic = create_model("art", num_classes=3, backbone="tea_tiny", num_segments=4, dim=32, se_layers=1,
                           rssa_layers=1, heads=4)
    assert generic(clip(1)).logits.shape == (1, 3)
    with pytest.raises(ConfigError, match="backbone"):
        create_model("art", num_classes=3)
    if "tsm_r18_tiny" in list_models():
        tsm = create_model("art", num_classes=3, backbone="tsm_r18_tiny", num_segments=4, dim=32, se_layers=1,
                           rssa_layers=1, heads=4)
        assert tsm(clip(1)).extras["regions"].shape[:3] == (1, 4, 2)


def test_art_on_a_clip_vit():
    pytest.importorskip("transformers")
    model = create_model("art_clip_vit_tiny", num_classes=3)
    out = model(clip(1, 32))  # patch 8: a 4 x 4 grid of patch tokens per frame
    assert out.extras["regions"].shape == (1, 4, 2, 4, 4)
    assert model.frames.num_features == 64 and out.extras["backbone_logits"].shape == (1, 3)


def test_clip_vit_class_token_enters_the_text_space_through_clips_projection():
    """With a bank in CLIP's space (text dim = the tower's projection dim) the top-K selection maps x_cls with
    CLIP's own visual_projection, not a new random map; in another space it gets a new linear map."""
    pytest.importorskip("transformers")
    model = create_model("art_clip_vit_tiny", num_classes=3, text_dim=32)  # the tiny tower projects 64 -> 32
    projection = model.frames.vit.tower.visual_projection
    assert model.head.video_to_text is projection
    x_cls = torch.randn(2, 64)
    assert torch.equal(model.head.select_semantics(x_cls)[2], projection(x_cls))
    names = [n for g in model.param_groups(1e-4) for n in [id(p) for p in g["params"]]]
    assert len(names) == len(set(names))  # the shared projection sits in one optimizer group only
    other = create_model("art_clip_vit_tiny", num_classes=3, text_dim=24)
    assert other.head.video_to_text is not other.frames.vit.tower.visual_projection


def test_tiny_art_learns_a_fixed_batch():
    torch.manual_seed(0)
    model = create_model("art_r18_tiny", num_classes=3)
    x, y = torch.randn(3, 3, 4, 32, 32), torch.tensor([0, 1, 2])
    strategy = build_strategy("art")
    optimizer = torch.optim.AdamW(model.param_groups(0.0), lr=5e-3)
    ctx = StepContext(model=model, optimizers={"main": optimizer})
    first = strategy.train_step(ctx, x, y)
    for _ in range(8):
        strategy.after_optimizer_step(model)
        last = strategy.train_step(ctx, x, y)
    assert last["cls"] < 0.5 * first["cls"]
    assert last["loss"] < first["loss"]


def test_paper_configs_load_with_the_papers_schedule():
    from pathlib import Path

    from actionlab.config import load_config

    files = sorted((Path(__file__).resolve().parents[1] / "configs").glob("art_*.yaml"))
    datasets = {f.stem.split("_16f")[0].split("_", 3)[-1] for f in files}
    assert {"finegym99", "finegym288", "diving48", "ntu60_xview", "ntu60_xsub", "k400"} <= datasets
    for f in files:
        cfg = load_config(f)
        assert cfg.model.name in list_models("art*") and cfg.train.strategy == "art"
        assert cfg.data.num_segments == 16 and cfg.train.epochs == 50
        assert (cfg.optim.lr, cfg.optim.step_size, cfg.optim.gamma) == (0.01, 20, 0.1)
