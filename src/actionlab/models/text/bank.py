"""The text-constrained semantic bank S [N_prompts, N_classes, C_t] (ART, Sec. III-E).

`build_semantic_bank` encodes every class name with every prompt template once
and caches the result on disk, keyed by the encoder's identity, the templates
and the class names; later builds (and all inference) read the cache or the
checkpoint and never run the text encoder.

`SemanticBank` holds the three copies the paper's tuning needs (Eq. 12):
    initial  S0   buffer: the encoder's output, kept for the before/after t-SNE (Fig. 6)
    bank     S    buffer: what RSSA reads; no gradient ("truncate the gradients of S")
    agent    S^a  parameter: trained by L_sema (Eqs. 13-17)
and `ema_update(mu)`: S <- mu S + (1 - mu) S^a, called after each optimizer step
by the ART training strategy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError, ModelError
from ...paths import cache_root
from .encoders import TextEncoder, build_text_encoder, encoder_identity
from .prompts import expand_prompts, resolve_templates

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """text_banks/ in the cache root ($ACTIONLAB_CACHE_DIR, else ~/.cache/actionlab: `actionlab.paths`)."""
    return cache_root() / "text_banks"


def bank_cache_key(identity: str, templates: Sequence[str], class_names: Sequence[str]) -> str:
    blob = json.dumps({"encoder": identity, "templates": list(templates), "classes": list(class_names)})
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def read_class_names(names: str | Sequence[str]) -> list[str]:
    """A list of names, or the path of a file with one class name per line."""
    if isinstance(names, str):
        path = Path(names).expanduser()
        if not path.is_file():
            raise ConfigError(f"class names file not found: {path}")
        out = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        out = [str(n) for n in names]
    if not out:
        raise ConfigError("the list of class names is empty")
    return out


def build_semantic_bank(class_names: Sequence[str], templates: str | Sequence[str] = "art",
                        encoder: str | TextEncoder = "minilm", cache_dir: str | Path | None = None,
                        device: str = "cpu") -> torch.Tensor:
    """S0 [N_prompts, N_classes, C_t], L2-normalised; cached under `cache_dir` (None: `default_cache_dir()`).

    `encoder` is a spec string (see `encoders.build_text_encoder`) or an encoder object.
    With a spec, a cache hit does not even import the text model's library.
    """
    class_names = list(class_names)
    templates = resolve_templates(templates)
    identity = encoder.identity if isinstance(encoder, TextEncoder) else encoder_identity(encoder)
    key = bank_cache_key(identity, templates, class_names)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    file = path / f"bank-{key}.pt"
    if file.is_file():
        try:
            saved = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file: rebuild it
            log.warning("ignoring unreadable text bank cache %s (%s)", file, e)
        else:
            if (saved.get("encoder"), saved.get("templates"), saved.get("class_names")) == (
                    identity, templates, class_names):
                return saved["bank"]
    if isinstance(encoder, str):
        encoder = build_text_encoder(encoder, device)
    sentences = expand_prompts(class_names, templates)
    flat = encoder.encode([s for row in sentences for s in row])
    bank = flat.view(len(templates), len(class_names), -1).contiguous()
    path.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(f".tmp{os.getpid()}")
    torch.save({"bank": bank, "encoder": identity, "templates": templates, "class_names": class_names}, tmp)
    os.replace(tmp, file)  # atomic: a concurrent reader never sees half a file
    return bank


def random_bank(num_prompts: int, num_classes: int, dim: int, seed: int = 0) -> torch.Tensor:
    """Random unit vectors standing in for S0 when no class names are given: a model built
    only to load a checkpoint (whose buffers carry the real bank) or for a unit test."""
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(num_prompts, num_classes, dim, generator=g), dim=-1)


class SemanticBank(nn.Module):
    """S0, S and the agent S^a (Eq. 12), all [N_prompts, N_classes, C_t]."""

    initial: torch.Tensor  # buffers (registered in __init__)
    bank: torch.Tensor

    def __init__(self, initial: torch.Tensor, tune: bool = True):
        super().__init__()
        if initial.dim() != 3:
            raise ModelError(f"a semantic bank is [N_prompts, N_classes, C_t], got shape {tuple(initial.shape)}")
        initial = initial.detach().float()
        self.register_buffer("initial", initial.clone())
        self.register_buffer("bank", initial.clone())
        self.agent = nn.Parameter(initial.clone(), requires_grad=tune)

    @property
    def num_prompts(self) -> int:
        return self.bank.shape[0]

    @property
    def num_classes(self) -> int:
        return self.bank.shape[1]

    @property
    def dim(self) -> int:
        return self.bank.shape[2]

    @torch.no_grad()
    def ema_update(self, momentum: float) -> None:
        """Eq. 12: S <- mu S + (1 - mu) S^a' (after the optimizer has stepped S^a)."""
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"bank EMA momentum must be in [0, 1], got {momentum}")
        self.bank.mul_(momentum).add_(self.agent.detach().to(self.bank.dtype), alpha=1.0 - momentum)

    def class_semantics(self, which: str = "bank") -> torch.Tensor:
        """Per-class text vectors [N_classes, C_t]: the prompts' mean direction."""
        return F.normalize(F.normalize(getattr(self, which), dim=-1).mean(0), dim=-1)
