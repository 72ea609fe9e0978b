"""CLIP ViT image tower (through `transformers`) as a per-frame encoder.

    frames [B, 3, H, W] (CLIP-normalised) --CLIPViT.forward_tokens--> cls [B, D], patches [B, h*w, D], (h, w)
                                          --CLIPViT.embed----------> [B, d]   (visual projection of cls)

D is the tower's width (768 for ViT-B), d the joint image-text space (512 for ViT-B/16).
Both the class token and the patch tokens go through the tower's final LayerNorm
(`post_layernorm`); CLIP itself applies it to the class token only, and applying the
same norm to the patch tokens puts them in the space `project` maps into the joint
embedding (as MaskCLIP-style dense uses of CLIP do).

Weights: a hub id (`openai/clip-vit-base-patch16`) or a local directory written by
`save_pretrained`, holding a `CLIPModel`, `CLIPVisionModel` or
`CLIPVisionModelWithProjection` checkpoint.  `transformers` is imported lazily, so
importing this module stays cheap.

Frozen (default) or fine-tuned: `freeze=True` turns off gradients of the whole tower
and keeps it in eval mode; `unfreeze_last=n` fine-tunes the last n encoder layers
(plus the final LayerNorm and the projection) on top of a frozen tower.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ...errors import ModelError, require

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {
    "vit_b16": "openai/clip-vit-base-patch16",
    "vit_b32": "openai/clip-vit-base-patch32",
    "vit_l14": "openai/clip-vit-large-patch14",
}

# CLIPVisionConfig fields of the public towers, for random initialisation (and FLOP counts)
# without downloading anything; "tiny" is for tests and the CPU demo.
ARCHS: dict[str, dict[str, Any]] = {
    "vit_b16": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    patch_size=16, image_size=224, projection_dim=512),
    "vit_b32": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    patch_size=32, image_size=224, projection_dim=512),
    "vit_l14": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                    patch_size=14, image_size=224, projection_dim=768),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 patch_size=8, image_size=64, projection_dim=32),
}


def _transformers():
    return require("transformers", "clip", "the CLIP ViT encoder")


def load_tower(source: str, attn_implementation: str | None = None) -> nn.Module:
    """A `CLIPVisionModelWithProjection` from a hub id or a local `save_pretrained` directory."""
    tf = _transformers()
    kwargs: dict[str, Any] = {}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    local = Path(source).expanduser()
    looks_local = source.startswith(("/", ".", "~")) or source.count("/") > 1
    if looks_local and not local.is_dir():
        raise ModelError(f"CLIP weights directory not found: {source}")
    where = str(local) if local.is_dir() else source
    try:
        tower, info = tf.CLIPVisionModelWithProjection.from_pretrained(where, output_loading_info=True, **kwargs)
    except (OSError, ValueError) as e:
        kind = "directory" if local.is_dir() else "hub id (no local directory of that name)"
        raise ModelError(f"cannot load CLIP vision weights from {kind} '{source}': {str(e).splitlines()[0]}") from None
    missing = [k for k in info.get("missing_keys", []) if "visual_projection" not in k]
    if missing:
        raise ModelError(f"CLIP checkpoint '{source}' lacks {len(missing)} vision tower weights, e.g. {missing[0]}")
    if any("visual_projection" in k for k in info.get("missing_keys", [])):
        log.warning("CLIP checkpoint '%s' has no visual projection (a CLIPVisionModel); it stays random", source)
    return tower


def build_tower(arch: str | dict[str, Any] = "vit_b16", attn_implementation: str | None = None) -> nn.Module:
    """A randomly initialised tower of a known architecture (ARCHS key) or of explicit config fields."""
    tf = _transformers()
    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ModelError(f"unknown CLIP ViT arch '{arch}', expected one of {sorted(ARCHS)} or a config dict")
        fields = ARCHS[arch]
    else:
        fields = dict(arch)
    config = tf.CLIPVisionConfig(**fields)
    if attn_implementation:
        config._attn_implementation = attn_implementation
    return tf.CLIPVisionModelWithProjection(config)


class CLIPViT(nn.Module):
    """Per-frame CLIP image tower: class token, patch tokens and the projected embedding."""

    tower: Any  # a transformers CLIPVisionModelWithProjection (no type information)

    def __init__(self, tower: Any, freeze: bool = True, unfreeze_last: int = 0):
        super().__init__()
        self.tower = tower
        cfg = tower.config
        self.hidden_size: int = cfg.hidden_size
        self.embed_dim: int = cfg.projection_dim
        self.num_features: int = cfg.projection_dim  # what `embed` returns (frame encoders read this)
        self.patch_size: int = cfg.patch_size
        self.image_size: int = cfg.image_size
        self.freeze = freeze
        self.unfreeze_last = unfreeze_last
        self._apply_freeze()

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, pretrained: str | None = None, arch: str | dict[str, Any] = "vit_b16", freeze: bool = True,
               unfreeze_last: int = 0, attn_implementation: str | None = None) -> CLIPViT:
        """From weights (hub id or directory) when `pretrained` is given, else random init of `arch`."""
        if pretrained:
            tower = load_tower(pretrained, attn_implementation)
        else:
            tower = build_tower(arch, attn_implementation)
        return cls(tower, freeze=freeze, unfreeze_last=unfreeze_last)

    def _apply_freeze(self) -> None:
        if not self.freeze:
            return
        self.tower.requires_grad_(False)
        if self.unfreeze_last > 0:
            layers = self.tower.vision_model.encoder.layers
            if self.unfreeze_last > len(layers):
                raise ModelError(f"unfreeze_last={self.unfreeze_last} but the tower has {len(layers)} layers")
            for layer in layers[len(layers) - self.unfreeze_last:]:
                layer.requires_grad_(True)
            self.tower.vision_model.post_layernorm.requires_grad_(True)
            self.tower.visual_projection.requires_grad_(True)

    @property
    def fully_frozen(self) -> bool:
        return self.freeze and self.unfreeze_last == 0

    def train(self, mode: bool = True) -> CLIPViT:
        super().train(mode)
        if self.fully_frozen:  # a frozen tower never leaves eval mode (no dropout / stat drift)
            self.tower.eval()
        return self

    # ------------------------------------------------------------------ forward
    def _hidden(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.dim() != 4 or frames.shape[1] != 3:
            raise ValueError(f"CLIPViT expects frames [B, 3, H, W], got {tuple(frames.shape)}")
        h, w = frames.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f"frame size {h}x{w} is not a multiple of the patch size {self.patch_size}")
        interpolate = (h, w) != (self.image_size, self.image_size)
        grad = contextlib.nullcontext() if not self.fully_frozen else torch.no_grad()
        with grad:
            out = self.tower.vision_model(pixel_values=frames, interpolate_pos_encoding=interpolate)
        return out.last_hidden_state

    def forward_tokens(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
        """frames [B, 3, H, W] -> (cls [B, D], patches [B, h*w, D], (h, w)); both after post_layernorm."""
        hidden = self.tower.vision_model.post_layernorm(self._hidden(frames))
        grid = (frames.shape[-2] // self.patch_size, frames.shape[-1] // self.patch_size)
        return hidden[:, 0], hidden[:, 1:], grid

    def project(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens [..., D] -> the joint image-text space [..., d] (CLIP's visual projection)."""
        return self.tower.visual_projection(tokens)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames [B, 3, H, W] -> CLIP image embedding [B, d] (projected class token)."""
        cls_token, _, _ = self.forward_tokens(frames)
        return self.project(cls_token)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.embed(frames)
