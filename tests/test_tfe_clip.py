"""CLIP ViT image tower (transformers) with a tiny random config saved to a tmp directory."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the CLIP ViT encoder needs transformers")

from actionlab.errors import ModelError  # noqa: E402
from actionlab.models.backbones.clip_vit import ARCHS, CLIPViT  # noqa: E402

TINY = dict(ARCHS["tiny"], image_size=32, patch_size=8)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny CLIPVisionModelWithProjection and a full CLIPModel, saved like hub checkpoints."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("clip")
    tower = transformers.CLIPVisionModelWithProjection(transformers.CLIPVisionConfig(**TINY)).eval()
    tower.save_pretrained(root / "vision")
    text = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, projection_dim=TINY["projection_dim"])
    full = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=TINY,
                                                          projection_dim=TINY["projection_dim"])).eval()
    full.save_pretrained(root / "full")
    return root, tower, full


def test_tokens_and_embedding_match_transformers(saved):
    root, tower, _ = saved
    enc = CLIPViT.create(pretrained=str(root / "vision"))
    frames = torch.randn(3, 3, 32, 32)
    cls_token, patches, grid = enc.forward_tokens(frames)
    assert cls_token.shape == (3, 64) and patches.shape == (3, 16, 64) and grid == (4, 4)
    with torch.no_grad():
        ref = tower(pixel_values=frames)
    assert torch.allclose(enc.embed(frames), ref.image_embeds, atol=1e-5)
    assert torch.allclose(patches, tower.vision_model.post_layernorm(ref.last_hidden_state[:, 1:]), atol=1e-5)
    assert enc.project(patches).shape == (3, 16, TINY["projection_dim"])
    # other input sizes interpolate the position embedding
    _, patches, grid = enc.forward_tokens(torch.randn(1, 3, 48, 32))
    assert grid == (6, 4) and patches.shape == (1, 24, 64)


def test_full_clip_checkpoint_loads_vision_tower(saved):
    root, _, full = saved
    enc = CLIPViT.create(pretrained=str(root / "full"))
    frames = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = full.get_image_features(pixel_values=frames)
    ref = getattr(ref, "pooler_output", ref)
    assert torch.allclose(enc.embed(frames), ref, atol=1e-5)


def test_frozen_and_fine_tuned(saved):
    root, _, _ = saved
    frozen = CLIPViT.create(pretrained=str(root / "vision")).train()
    assert not any(p.requires_grad for p in frozen.parameters()) and not frozen.tower.training
    assert not frozen.embed(torch.randn(1, 3, 32, 32)).requires_grad
    partial = CLIPViT.create(pretrained=str(root / "vision"), unfreeze_last=1)
    trainable = {n.split(".")[2] if "layers" in n else n for n, p in partial.named_parameters() if p.requires_grad}
    assert any("layers.1." in n for n, p in partial.named_parameters() if p.requires_grad)
    assert not any("layers.0." in n for n, p in partial.named_parameters() if p.requires_grad)
    assert trainable
    tuned = CLIPViT.create(pretrained=str(root / "vision"), freeze=False).train()
    tuned.embed(torch.randn(1, 3, 32, 32)).sum().backward()
    assert tuned.tower.vision_model.embeddings.patch_embedding.weight.grad is not None


def test_missing_weights_raise_model_error(tmp_path):
    with pytest.raises(ModelError):
        CLIPViT.create(pretrained=str(tmp_path / "nowhere"))
    with pytest.raises(ModelError):
        CLIPViT.create(arch="vit_z99")


def test_tfe_on_clip_encoder(saved):
    from actionlab.models.registry import create_model

    root, _, _ = saved
    model = create_model("tfe_clip_tiny", num_classes=3, pretrained=str(root / "vision"), num_segments=4, k=[1, 2])
    vanilla = create_model("vanilla_temporal_clip_tiny", num_classes=3, pretrained=str(root / "vision"),
                           num_segments=4)
    clip = torch.randn(2, 3, 4, 32, 32)
    out = model(clip)
    assert out.logits.shape == (2, 3) and out.extras["attention"].shape == (2, 4)
    assert vanilla(clip).extras["attention"].shape == (2, 4)
    model.loss(out, torch.tensor([0, 2]))["loss"].backward()
    assert all(p.grad is None for p in model.encoder.parameters())  # frozen tower by default
    assert model.disentangler.heads[0].w_q.weight.grad is not None
