"""Temporal heads over segment embeddings x [N, T, d]: the vanilla temporal attention model
and TFE's temporal disentanglement (TD) module with its approximators.

Paper: Xu et al., "Temporal fidelity enhancement for video action recognition", FITEE 2025.

Vanilla model (the baselines TFE plugs into: BIKE's / MSQNet's final temporal layers):
    `TemporalBlock` (pre-LN transformer layer over T) x L, then `AttentionPool` (a learned
    query attends over the T segments: the model's temporal attention [N, T]) and a classifier.

TFE (Section 3.2):
    TDHead, one per head h (Eqs. 8-11):
        alpha = (x W_Q)(x W_K)^T / sqrt(d)                          (Eq. 9)   [N, T, T]
        m     = k_h-hot Gumbel-softmax(alpha)                        (Eq. 8)   [N, T, T]
        z_S   = f_S(m x W_V + x),   z_N = f_N((1 - m) x W_V + x)    (Eqs. 10, 11)
    Disentangler (H heads, Eq. 6):
        z'_S = f_DS([z_S^1..z_S^H]) + x,   z'_N = f_DN([z_N^1..z_N^H]) + x
    Approximator A_S / A_N (Eq. 7): logits from z'_S / z'_N.

Readings where the paper is silent (each an option):
- Pre-LN: Q, K, V and the "+ x" of Eqs. 10-11 use LN(x), the residual of Eq. 6 uses x, as in
  a pre-LN transformer layer; f_S, f_N, f_DS, f_DN are LN -> Linear -> GELU -> Linear.
- `mask_norm="mean"` (default) divides m x W_V by the row sums of m and (1 - m) x W_V by those
  of (1 - m), so the salient and non-salient sums (k vs T - k segments) have one scale;
  `mask_norm="none"` is Eqs. 10-11 as printed.
- Per-head width: W_Q, W_K, W_V are d x d per head, as the paper writes; FFN widths are
  `ffn_ratio * d` (the paper gives none; 1 by default so that TD stays cheaper than the
  transformer layers it replaces, Table 4).
- The temporal attention per segment (what Fig. 4 draws) is the column mass of m: how much
  each segment is selected, averaged over query rows and heads, normalised to sum 1 over T.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------- k-hot Gumbel mask (Eq. 8)


def khot_gumbel_mask(scores: torch.Tensor, k: int, tau: float = 0.5, hard: bool = False) -> torch.Tensor:
    """k-hot mask over the last dim of `scores` (Eq. 8).

    Training (hard=False): the "concrete" k-hot sampler of L2X / AIL: k independent draws of
    softmax((scores + g) / tau) with Gumbel noise g, combined by element-wise max, so every
    row holds about k values near 1 (fewer when two draws pick the same entry) and is
    differentiable in `scores`.  Inference (hard=True): exactly the top-k entries set to 1.
    """
    t = scores.shape[-1]
    if not 0 < k <= t:
        raise ValueError(f"k must satisfy 0 < k <= {t}, got {k}")
    if hard:
        idx = scores.topk(k, dim=-1).indices
        return torch.zeros_like(scores).scatter_(-1, idx, 1.0)
    uniform = torch.rand((k, *scores.shape), device=scores.device, dtype=scores.dtype)
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
    draws = torch.softmax((scores.unsqueeze(0) + gumbel) / tau, dim=-1)
    return draws.amax(0)


def segment_attention(masks: torch.Tensor) -> torch.Tensor:
    """Per-segment attention from row masks [N, ..., T, T] -> [N, T]: the share of selection
    each segment (column) receives, averaged over query rows and heads, summing to 1."""
    n, t = masks.shape[0], masks.shape[-1]
    mass = masks.reshape(n, -1, t).mean(1)
    return mass / mass.sum(-1, keepdim=True).clamp_min(1e-12)


# ---------------------------------------------------------------------------- building blocks


class FFN(nn.Module):
    """LN -> Linear -> GELU -> (dropout) -> Linear: the f_S / f_N / f_DS / f_DN networks."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.fc1 = nn.Linear(in_dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(F.gelu(self.fc1(self.norm(x)))))


class TemporalBlock(nn.Module):
    """Pre-LN transformer layer over the T segments (explicit matmul attention, so that
    FLOP counters see it on every device).  Returns the attention probabilities too."""

    def __init__(self, dim: int, heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, int(dim * mlp_ratio)), nn.GELU(), nn.Linear(int(dim * mlp_ratio), dim))
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)  # [N, h, T, T]
        y = (attn @ v).transpose(1, 2).reshape(n, t, d)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.norm2(x)))
        return x, attn


class AttentionPool(nn.Module):
    """Attention pooling over T: a learned query per head, softmax over segments.

    Returns the pooled embedding [N, d] and the temporal attention [N, T] (mean over heads)."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Parameter(torch.zeros(heads, dim // heads))
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, t, d = x.shape
        h = self.norm(x)
        k = self.key(h).view(n, t, self.heads, d // self.heads)
        v = self.value(h).view(n, t, self.heads, d // self.heads)
        logits = torch.einsum("nthc,hc->nht", k, self.query) / math.sqrt(d // self.heads)
        attn = torch.softmax(logits, dim=-1)  # [N, heads, T]
        pooled = torch.einsum("nht,nthc->nhc", attn, v).reshape(n, d)
        return self.proj(pooled), attn.mean(1)


class AttentionHead(nn.Module):
    """The vanilla model's final layer: attention pooling, LN, dropout, linear classifier."""

    def __init__(self, dim: int, num_classes: int, heads: int = 1, dropout: float = 0.0):
        super().__init__()
        self.pool = AttentionPool(dim, heads)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, attn = self.pool(x)
        return self.fc(self.drop(self.norm(pooled))), attn


class Approximator(nn.Module):
    """A_S / A_N (Eq. 7): video embedding z' [N, T, d] -> logits [N, K].

    pool="mean": LN, temporal mean, dropout, linear (the paper's "simple fully connected
    layers"); pool="attention": the vanilla model's own attention head (the paper's
    "the original approximator structure can be reused")."""

    def __init__(self, dim: int, num_classes: int, pool: Literal["mean", "attention"] = "mean",
                 dropout: float = 0.0, heads: int = 1):
        super().__init__()
        if pool not in ("mean", "attention"):
            raise ValueError(f"unknown approximator pool '{pool}', expected mean or attention")
        self.pool = pool
        if pool == "attention":
            self.head = AttentionHead(dim, num_classes, heads, dropout)
        else:
            self.norm = nn.LayerNorm(dim)
            self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
            self.fc = nn.Linear(dim, num_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.pool == "attention":
            return self.head(z)[0]
        return self.fc(self.drop(self.norm(z).mean(1)))


# ---------------------------------------------------------------------------- TD module (Eqs. 6, 8-11)


class TDHead(nn.Module):
    """One temporal disentanglement head with its own k (Eqs. 8-11)."""

    def __init__(self, dim: int, k: int, tau: float = 0.5, ffn_ratio: float = 1.0,
                 mask_norm: Literal["mean", "none"] = "mean", dropout: float = 0.0):
        super().__init__()
        if mask_norm not in ("mean", "none"):
            raise ValueError(f"unknown mask_norm '{mask_norm}', expected mean or none")
        self.k, self.tau, self.mask_norm, self.dim = k, tau, mask_norm, dim
        self.norm = nn.LayerNorm(dim)
        self.w_q = nn.Linear(dim, dim, bias=False)
        self.w_k = nn.Linear(dim, dim, bias=False)
        self.w_v = nn.Linear(dim, dim, bias=False)
        hidden = max(1, int(dim * ffn_ratio))
        self.f_s = FFN(dim, dim, hidden, dropout)
        self.f_n = FFN(dim, dim, hidden, dropout)

    def forward(self, x: torch.Tensor, nonsalient: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """x [N, T, d] -> z_S [N, T, d], z_N [N, T, d] (None when not `nonsalient`), mask m [N, T, T]."""
        t = x.shape[1]
        if self.k > t:
            raise ValueError(f"TD head k={self.k} exceeds the {t} segments")
        h = self.norm(x)
        alpha = self.w_q(h) @ self.w_k(h).transpose(-2, -1) / math.sqrt(self.dim)  # Eq. 9
        m = khot_gumbel_mask(alpha, self.k, self.tau, hard=not self.training)  # Eq. 8
        keep, drop = m, 1.0 - m
        if self.mask_norm == "mean":  # weighted means instead of sums over k vs T - k segments
            keep = keep / keep.sum(-1, keepdim=True).clamp_min(1e-6)
            drop = drop / drop.sum(-1, keepdim=True).clamp_min(1e-6)
        v = self.w_v(h)
        z_s = self.f_s(keep @ v + h)  # Eq. 10
        z_n = self.f_n(drop @ v + h) if nonsalient else None  # Eq. 11
        return z_s, z_n, m


@dataclass
class Disentangled:
    z_salient: torch.Tensor  # z'_S [N, T, d]
    z_nonsalient: torch.Tensor | None  # z'_N [N, T, d] (None: salient path only, at inference)
    attention: torch.Tensor  # [N, T] per-segment temporal attention, sums to 1
    masks: torch.Tensor | None = None  # [N, H, T, T] TD masks (None without TD)


class TDModule(nn.Module):
    """The disentangler's TD layer: H heads with their own k_h, f_DS / f_DN and Eq. 6's residuals."""

    def __init__(self, dim: int, ks: list[int], tau: float = 0.5, ffn_ratio: float = 1.0,
                 mask_norm: Literal["mean", "none"] = "mean", dropout: float = 0.0):
        super().__init__()
        if not ks:
            raise ValueError("TD needs at least one head (k list is empty)")
        self.heads = nn.ModuleList(TDHead(dim, k, tau, ffn_ratio, mask_norm, dropout) for k in ks)
        self._ks = list(ks)
        hidden = max(1, int(dim * ffn_ratio))
        self.f_ds = FFN(dim * len(ks), dim, hidden, dropout)
        self.f_dn = FFN(dim * len(ks), dim, hidden, dropout)

    @property
    def ks(self) -> list[int]:
        return list(self._ks)

    def forward(self, x: torch.Tensor, nonsalient: bool = True) -> Disentangled:
        outs = [head(x, nonsalient) for head in self.heads]
        z_s = self.f_ds(torch.cat([o[0] for o in outs], dim=-1)) + x  # Eq. 6
        z_n = self.f_dn(torch.cat([o[1] for o in outs], dim=-1)) + x if nonsalient else None
        masks = torch.stack([o[2] for o in outs], dim=1)  # [N, H, T, T]
        return Disentangled(z_s, z_n, segment_attention(masks), masks)


class TwoStreamModule(nn.Module):
    """Table 3's "no TD" variants: the dual-stream structure without TD, i.e. two plain
    transformer layers give z'_S and z'_N; its temporal attention is the salient stream's
    self-attention column mass."""

    def __init__(self, dim: int, heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.salient = TemporalBlock(dim, heads, mlp_ratio, dropout)
        self.nonsalient = TemporalBlock(dim, heads, mlp_ratio, dropout)

    def forward(self, x: torch.Tensor, nonsalient: bool = True) -> Disentangled:
        z_s, attn = self.salient(x)
        z_n = self.nonsalient(x)[0] if nonsalient else None
        return Disentangled(z_s, z_n, segment_attention(attn))
