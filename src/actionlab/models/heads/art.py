"""ART head: text-constrained region queries, action tracklets, MTC loss and semantic bank tuning.

Paper: Sun et al., "Towards an Effective Action-Region Tracking Framework for Fine-grained Video
Action Recognition" (ART). Input: per-frame visual tokens X [N, T, HW, C] of any backbone and the
video's class token x_cls [N, C]; text: the semantic bank S [N_prompts, N_classes, C_t].

    top-K semantics      S^topk = the K classes whose text is closest to x_cls      (Sec. III-B.1)
    spatial enhancement  X^_t, S^_t = MSA(concat(X_t, S^topk))                     (Eq. 1)
    region queries       Q_t = P + S^_t                                            (Eq. 2)
    region responses     R_t = MCA(Q_t, X^_t) + Q_t; its softmax over HW = regions (Eq. 3)
    tracklets            Tr_k = (r_1k, ..., r_Tk)                                  (Eq. 4)
    MTC loss             spatial + temporal + tracklet                             (Eqs. 5-8)
    aggregation          text-based temporal saliency                              (Eq. 9)
    prediction           classifier on concat(x_cls, Tr_1^agg .. Tr_K^agg)         (Eq. 11)
    bank tuning          L_sema = L_video + L_prot on the agent bank S^a           (Eqs. 12-17)

Readings chosen where the paper is silent or ambiguous (see METHODS.md, ART):
- Top-K selection: no ground truth is used, so training and inference select alike. x_cls is mapped
  into the text space (`video_to_text`, the same map the video consistency loss (Eq. 13) trains);
  a class's score is its best prompt's cosine with the EMA bank S; the K best classes' semantics are
  their prompts' mean direction. K (semantics) = K (queries) = K (tracklets), as Eq. 2 requires.
- The prompts P are shared by all frames, so query k (and tracklet k) means the same thing in every
  frame. Visual tokens get a fixed 2D sine position code (as DETR's) so that queries can tell places.
- Transformer layers are pre-norm (LayerNorm before attention/FFN); RSSA layers are cross-attention
  + FFN with the residual of Eq. 3 (R = MCA(Q, X^) + Q), no self-attention among queries. The
  region response maps are the last RSSA layer's attention weights, averaged over heads.
- Eq. 6 as printed (cos - lambda, minimised) would push adjacent responses apart; the text says it
  attracts them "up to" a correlation lambda, so L_temporal = mean relu(lambda - cos), lambda = 0.6.
  Eqs. 5-7 are averaged over every index they sum (frames, pairs, tracklets).
- Eq. 9: <s_i, r_tk> is a cosine divided by `saliency_temperature` (0.1): plain cosines in [-1, 1]
  make a near-uniform softmax over T. The printed (1/T) sum_t S_t r_tk is the saliency-weighted mean
  divided by T (the weights sum to 1 over t); we use the weighted mean, so the tracklet feature keeps
  the responses' scale whatever T is. `tracklet_aggregation="mean"` is Table IV's setting without TA.
- Eq. 11: the aggregated tracklets pass a LayerNorm before the concat, so the d-dim tracklets and the
  C-dim class token enter the classifier at comparable scales.
- Eqs. 13-16 compare cosines; the CE over them uses a temperature (`sema_temperature`, 0.07, CLIP's
  initial value). Eq. 16's class prototypes W are "decoupled from the prediction head": by default
  the Eq. 10 classifier's weight rows, detached (`prototypes="head"`), mapped to C_t by an MLP;
  `prototypes="free"` gives W its own parameters instead.
- With a CNN the class token and the text live in different spaces, so the map `video_to_text` that
  the top-K selection uses is learnt, by L_video (Eq. 14). When L_video is ablated (Table VI), the same
  CE against the untuned bank S (`selection_loss`, no gradient to any bank) still trains that map, so
  the ablation removes the bank's tuning and not the selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ConfigError
from ..text.bank import SemanticBank

MTC_TERMS = ("spatial", "temporal", "tracklet")
# where Eqs. 5-7 are measured (ARTHead's `mtc_on`): the paper's R_t first (the default)
MTC_ON = ("responses", "readout", "responses_via_readout")


# ---------------------------------------------------------------------------- building blocks


def sine_position_code(h: int, w: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """Fixed 2D sine-cosine position code [h*w, dim] (half the channels for y, half for x)."""
    quarter = max(1, dim // 4)
    freq = 1.0 / (10000 ** (torch.arange(quarter, device=device, dtype=torch.float32) / quarter))
    ys = torch.arange(h, device=device, dtype=torch.float32)[:, None] * freq  # [h, q]
    xs = torch.arange(w, device=device, dtype=torch.float32)[:, None] * freq  # [w, q]
    code_y = torch.cat([ys.sin(), ys.cos()], -1)[:, None, :].expand(h, w, -1)
    code_x = torch.cat([xs.sin(), xs.cos()], -1)[None, :, :].expand(h, w, -1)
    code = torch.cat([code_y, code_x], -1).reshape(h * w, -1)
    return F.pad(code, (0, dim - code.shape[1])) if code.shape[1] < dim else code[:, :dim]


class FeedForward(nn.Sequential):
    def __init__(self, dim: int, ratio: float = 4.0, dropout: float = 0.0):
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim))


class SelfAttentionLayer(nn.Module):
    """Pre-norm transformer encoder layer (MSA + FFN): one layer of the spatial enhancement (Eq. 1)."""

    def __init__(self, dim: int, heads: int, ffn_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_ratio, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.ffn(self.norm2(x))


class RegionActivationLayer(nn.Module):
    """Pre-norm cross-attention layer: R = MCA(Q, X^) + Q (Eq. 3), then an FFN.

    Returns the updated queries, the attention of each query over the HW tokens (softmax over HW,
    averaged over heads): the region response map, and the attention's read-out alone.
    """

    def __init__(self, dim: int, heads: int, ffn_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = FeedForward(dim, ffn_ratio, dropout)

    def forward(self, queries: torch.Tensor, tokens: torch.Tensor, pos: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(updated queries, region response maps, the read-out MCA(Q, X^) alone - Eq. 3 without its + Q)."""
        x = self.norm_x(tokens)
        out, weights = self.attn(self.norm_q(queries), x + pos, x, need_weights=True, average_attn_weights=True)
        queries = queries + out
        return queries + self.ffn(self.norm2(queries)), weights, out


# ---------------------------------------------------------------------------- losses (Eqs. 5-8, 13-16)


def _mean_offdiagonal(gram: torch.Tensor) -> torch.Tensor:
    """Mean of the off-diagonal entries of [..., K, K] matrices (K >= 2)."""
    k = gram.shape[-1]
    total = gram.sum((-1, -2)) - gram.diagonal(dim1=-2, dim2=-1).sum(-1)
    return (total / (k * (k - 1))).mean()


def mtc_losses(responses: torch.Tensor, correlation: float = 0.6) -> dict[str, torch.Tensor]:
    """Multi-level tracklet contrastive terms on region responses R [N, T, K, d] (Eqs. 5-7).

    spatial  = mean cos(r_ti, r_tj), i != j                 (Eq. 5: repel regions of one frame)
    temporal = mean relu(lambda - cos(r_tk, r_(t+1)k))      (Eq. 6, sign fixed: attract, up to lambda)
    tracklet = mean cos(Tr_i, Tr_j), i != j, Tr = (r_1..r_T) flattened  (Eq. 7: diverse tracklets)
    Terms that need K >= 2 (or T >= 2) are zero otherwise.
    """
    n, t, k, _ = responses.shape
    r = F.normalize(responses, dim=-1)
    zero = responses.new_zeros(())
    spatial = _mean_offdiagonal(r @ r.transpose(-1, -2)) if k > 1 else zero
    temporal = F.relu(correlation - (r[:, 1:] * r[:, :-1]).sum(-1)).mean() if t > 1 else zero
    if k > 1:
        tr = F.normalize(responses.transpose(1, 2).reshape(n, k, -1), dim=-1)
        tracklet = _mean_offdiagonal(tr @ tr.transpose(-1, -2))
    else:
        tracklet = zero
    return {"spatial": spatial, "temporal": temporal, "tracklet": tracklet}


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CE for class indices, or for multi-hot targets spread evenly over their classes."""
    if target.dtype.is_floating_point and target.dim() == logits.dim():
        weights = target / target.sum(-1, keepdim=True).clamp_min(1e-6)
        return -(weights * logits.log_softmax(-1)).sum(-1).mean()
    return F.cross_entropy(logits, target)


def video_consistency_logits(video_text: torch.Tensor, agent: torch.Tensor) -> torch.Tensor:
    """Eq. 13: S_cls^i = max over prompts j of cos(x_cls, S^a_(j,i)) -> [N, N_classes]."""
    sims = torch.einsum("nc,pkc->npk", F.normalize(video_text, dim=-1), F.normalize(agent, dim=-1))
    return sims.amax(1)


def prototype_consistency_logits(prototypes_text: torch.Tensor, agent: torch.Tensor) -> torch.Tensor:
    """Eq. 15: S_prot^(i,j) = mean over prompts of cos(MLP(W)_i, S^a_(p,j)) -> [N_classes, N_classes]."""
    sims = torch.einsum("ic,pjc->pij", F.normalize(prototypes_text, dim=-1), F.normalize(agent, dim=-1))
    return sims.mean(0)


# ---------------------------------------------------------------------------- the head


@dataclass
class ARTHeadOutput:
    logits: torch.Tensor  # [N, K_cls] Eq. 11 prediction
    regions: torch.Tensor  # [N, T, K, h, w] region response maps (softmax over h*w)
    responses: torch.Tensor  # [N, T, K, d] region responses r_tk (tracklet k = responses[:, :, k])
    aggregated: torch.Tensor  # [N, K, d] Tr_k^agg (Eq. 9)
    saliency: torch.Tensor  # [N, T, K] temporal saliency S_t^temp of each tracklet
    topk_classes: torch.Tensor  # [N, K] indices of the selected semantics
    video_text: torch.Tensor  # [N, C_t] x_cls mapped into the text space (Eq. 13)
    mtc: dict[str, torch.Tensor]  # unweighted MTC terms (Eqs. 5-7)
    readout: torch.Tensor | None = None  # [N, T, K, d] MCA(Q_t, X^_t) of the last RSSA layer (R without + Q)


class ARTHead(nn.Module):
    """Everything ART adds on top of a backbone's per-frame tokens and class token.

    Ablation switches (paper Tables IV-VI): `spatial_enhancement` (SE), `tracklet_aggregation`
    ("saliency" = TA, "mean" = without TA), `mtc_terms` (any subset of spatial / temporal /
    tracklet), `video_consistency` / `prototype_consistency` (the two bank losses; with both off
    the bank is not tuned).

    `query_source` (the text constraint): "text" (default) seeds the queries with the top-K classes' text
    semantics; "learned" replaces those K semantics by K free parameters (DETR-style learned queries: no
    text in Eqs. 1, 2 and 9); a random bank in place of the text ("random" text) is `ART(text_bank="random")`.

    `mtc_on` (where Eqs. 5-7 are measured): "responses" (default, the paper: R_t of Eq. 3), "readout"
    (MCA(Q_t, X^_t) alone, without Eq. 3's residual + Q_t) or "responses_via_readout" (the values of R_t, their
    gradient only through the read-out). R_t = MCA + Q_t, and Q_t = P + S^_t is nearly the same in every
    frame: the terms on R are satisfied by the prompts alone (with K = 2, P_2 = -P_1 gives spatial = tracklet =
    -1 and temporal = 0, whatever the frames show), so they stop shaping what the queries read. On the read-out
    alone the terms start at their maximum when the attention is near uniform (every query reads the frame's
    mean: cos = 1, where the cosine's gradient is zero) and stay there (benchmarks/art.md). "responses_via_readout"
    keeps the paper's values on R but lets their gradient reach only what the attention reads, not the
    residual + Q: the prompts cannot satisfy the terms by themselves, and the queries' difference gives the
    read-outs a gradient from the start.

    `couple_sema` (default False): L_sema (Eqs. 12-17) trains the agent bank S^a and the map
    `video_to_text`; by default x_cls is detached before that map, so L_sema sends no gradient into
    the backbone. With `couple_sema=True` it does: 5 x L_sema at temperature 0.07 then sends ~200x the
    classification loss's gradient norm into a random-init backbone at initialisation (measured on
    the tiny TSM), which drowns the classification signal under gradient clipping.
    `video_to_text`: the map of x_cls into the text space; default a new linear map, a CLIP ViT
    passes its pretrained `visual_projection` so that the top-K selection starts in CLIP's space.
    """

    def __init__(self, visual_dim: int, num_classes: int, bank: torch.Tensor, dim: int = 256,
                 num_tracklets: int = 2, se_layers: int = 4, rssa_layers: int = 4, heads: int = 8,
                 ffn_ratio: float = 4.0, attn_dropout: float = 0.0, dropout: float = 0.5,
                 spatial_enhancement: bool = True,
                 tracklet_aggregation: Literal["saliency", "mean"] = "saliency",
                 saliency_temperature: float = 0.1, mtc_correlation: float = 0.6,
                 mtc_terms: tuple[str, ...] | list[str] = MTC_TERMS, video_consistency: bool = True,
                 prototype_consistency: bool = True, prototypes: Literal["head", "free"] = "head",
                 sema_temperature: float = 0.07, bank_momentum: float = 0.999, position_code: bool = True,
                 couple_sema: bool = False, video_to_text: nn.Module | None = None,
                 query_source: Literal["text", "learned"] = "text",
                 mtc_on: Literal["responses", "readout", "responses_via_readout"] = "responses"):
        super().__init__()
        if bank.dim() != 3 or bank.shape[1] != num_classes:
            raise ConfigError(f"ART: the semantic bank is {tuple(bank.shape)}, expected [prompts, {num_classes}, C_t]")
        if not 1 <= num_tracklets <= num_classes:
            raise ConfigError(f"ART: num_tracklets (K) must be in [1, num_classes={num_classes}], got {num_tracklets}")
        if dim % heads:
            raise ConfigError(f"ART: dim {dim} must be a multiple of heads {heads}")
        unknown = set(mtc_terms) - set(MTC_TERMS)
        if unknown:
            raise ConfigError(f"ART: unknown mtc_terms {sorted(unknown)}, expected a subset of {list(MTC_TERMS)}")
        if tracklet_aggregation not in ("saliency", "mean"):
            raise ConfigError(f"ART: tracklet_aggregation must be 'saliency' or 'mean', got {tracklet_aggregation!r}")
        if prototypes not in ("head", "free"):
            raise ConfigError(f"ART: prototypes must be 'head' or 'free', got {prototypes!r}")
        if query_source not in ("text", "learned"):
            raise ConfigError(f"ART: query_source must be 'text' or 'learned', got {query_source!r}")
        if mtc_on not in MTC_ON:
            raise ConfigError(f"ART: mtc_on must be one of {', '.join(MTC_ON)} ('responses': the paper's R_t), "
                              f"got {mtc_on!r}")
        self.num_classes, self.dim, self.num_tracklets = num_classes, dim, num_tracklets
        self.visual_dim = visual_dim
        self.spatial_enhancement = spatial_enhancement
        self.tracklet_aggregation = tracklet_aggregation
        self.saliency_temperature = saliency_temperature
        self.mtc_correlation = mtc_correlation
        self.mtc_terms = tuple(mtc_terms)
        self.video_consistency = video_consistency
        self.prototype_consistency = prototype_consistency
        self.prototypes_mode = prototypes
        self.sema_temperature = sema_temperature
        self.bank_momentum = bank_momentum
        self.position_code = position_code
        self.couple_sema = couple_sema
        self.query_source = query_source
        self.mtc_on = mtc_on

        self.bank = SemanticBank(bank, tune=video_consistency or prototype_consistency)
        text_dim = self.bank.dim
        self.visual_proj = nn.Linear(visual_dim, dim)
        self.text_proj = nn.Linear(text_dim, dim) if query_source == "text" else None
        # a ViT that shares CLIP's space with the text passes its own visual projection (ViTFrames)
        self.video_to_text = video_to_text if video_to_text is not None else nn.Linear(visual_dim, text_dim)
        self.enhance = nn.ModuleList(SelfAttentionLayer(dim, heads, ffn_ratio, attn_dropout)
                                     for _ in range(se_layers if spatial_enhancement else 0))
        self.prompts = nn.Parameter(torch.randn(num_tracklets, dim) * 0.02)
        # "learned" queries: K free vectors where the top-K text semantics would go (no text constraint)
        self.learned_semantics = (nn.Parameter(torch.randn(num_tracklets, dim) * 0.02) if query_source == "learned"
                                  else None)
        if rssa_layers < 1:
            raise ConfigError("ART: rssa_layers must be >= 1 (the region responses come from it)")
        self.activate = nn.ModuleList(RegionActivationLayer(dim, heads, ffn_ratio, attn_dropout)
                                      for _ in range(rssa_layers))
        self.tracklet_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(visual_dim + num_tracklets * dim, num_classes)
        nn.init.normal_(self.classifier.weight, 0.0, 0.001)
        nn.init.zeros_(self.classifier.bias)
        # built only when used, so that every parameter gets a gradient (DDP without find_unused_parameters)
        self.prototype_mlp = (nn.Sequential(nn.Linear(visual_dim, text_dim), nn.GELU(), nn.Linear(text_dim, text_dim))
                              if prototype_consistency else None)
        self.free_prototypes = (nn.Parameter(torch.randn(num_classes, visual_dim) * visual_dim**-0.5)
                                if prototype_consistency and prototypes == "free" else None)

    # ------------------------------------------------------------------ Sec. III-B: RSSA
    def select_semantics(self, x_cls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-K action-related semantics: (indices [N, K], projected semantics [N, K, d], x_cls in text space).

        x_cls is detached first unless `couple_sema` (see the class docstring): L_sema trains the agent
        bank and the map into the text space, not the backbone.
        """
        video_text = self.video_to_text(x_cls if self.couple_sema else x_cls.detach())
        with torch.no_grad():
            scores = video_consistency_logits(video_text.detach(), self.bank.bank)  # the EMA bank S, no grad
            top = scores.topk(self.num_tracklets, dim=-1).indices
        if self.learned_semantics is not None:  # no text constraint: the same K learned vectors for every video
            return top, self.learned_semantics[None].expand(len(x_cls), -1, -1), video_text
        class_text = self.bank.class_semantics("bank")  # [K_cls, C_t]
        assert self.text_proj is not None
        semantics = self.text_proj(class_text[top])  # [N, K, d]
        return top, semantics, video_text

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int], x_cls: torch.Tensor) -> ARTHeadOutput:
        """tokens [N, T, HW, C], grid (h, w) with h*w = HW, x_cls [N, C]."""
        n, t, hw, _ = tokens.shape
        h, w = grid
        if h * w != hw:
            raise ValueError(f"ART: grid {grid} does not hold {hw} tokens")
        k = self.num_tracklets
        top, semantics, video_text = self.select_semantics(x_cls)

        x = self.visual_proj(tokens).reshape(n * t, hw, self.dim)
        pos = (sine_position_code(h, w, self.dim, x.device).to(x.dtype)[None] if self.position_code
               else x.new_zeros(1, hw, self.dim))
        sem = semantics[:, None].expand(n, t, k, self.dim).reshape(n * t, k, self.dim)
        if self.enhance:  # Eq. 1: self-attention over the frame's tokens and the K semantics
            joint = torch.cat([x + pos, sem], 1)
            for layer in self.enhance:
                joint = layer(joint)
            x, sem = joint[:, :hw], joint[:, hw:]
        queries = self.prompts[None] + sem  # Eq. 2
        for layer in self.activate:  # Eq. 3
            queries, attn, readout = layer(queries, x, pos)
        responses = queries.view(n, t, k, self.dim)  # R_t; tracklet k = responses[:, :, k] (Eq. 4)
        regions = attn.view(n, t, k, h, w)

        readout = readout.view(n, t, k, self.dim)
        measured = {"responses": responses, "readout": readout,
                    # R's values, R's gradient only through the read-out (not through the residual + Q)
                    "responses_via_readout": readout + (responses - readout).detach()}[self.mtc_on]
        mtc = mtc_losses(measured, self.mtc_correlation)
        saliency = self.temporal_saliency(responses, semantics)
        aggregated = (saliency[..., None] * responses).sum(1)  # [N, K, d] (Eq. 9)
        features = torch.cat([x_cls, self.tracklet_norm(aggregated).flatten(1)], 1)
        logits = self.classifier(self.dropout(features))  # Eq. 11
        return ARTHeadOutput(logits, regions, responses, aggregated, saliency, top, video_text, mtc, readout)

    # ------------------------------------------------------------------ Sec. III-D.1: aggregation
    def temporal_saliency(self, responses: torch.Tensor, semantics: torch.Tensor) -> torch.Tensor:
        """Eq. 9 weights [N, T, K] (sum to 1 over T): mean over the K semantics s_i of softmax_t <s_i, r_tk>."""
        n, t, k, _ = responses.shape
        if self.tracklet_aggregation == "mean":
            return responses.new_full((n, t, k), 1.0 / t)
        sims = torch.einsum("ntkd,nid->ntki", F.normalize(responses, dim=-1), F.normalize(semantics, dim=-1))
        return (sims / self.saliency_temperature).softmax(1).mean(-1)

    # ------------------------------------------------------------------ Eqs. 5-8, 13-17
    def mtc_loss(self, out: ARTHeadOutput) -> torch.Tensor:
        """Eq. 8 over the enabled terms."""
        terms = [out.mtc[name] for name in self.mtc_terms]
        return torch.stack(terms).sum() if terms else out.logits.new_zeros(())

    def sema_losses(self, out: ARTHeadOutput, target: torch.Tensor, head_weight: torch.Tensor | None
                    ) -> dict[str, torch.Tensor]:
        """L_video (Eq. 14) and L_prot (Eq. 16) on the agent bank S^a; their sum is L_sema (Eq. 17)."""
        agent = self.bank.agent
        terms: dict[str, torch.Tensor] = {}
        if self.video_consistency:
            logits = video_consistency_logits(out.video_text, agent) / self.sema_temperature
            terms["video"] = soft_cross_entropy(logits, target)
        if self.prototype_consistency and self.prototype_mlp is not None:
            w: torch.Tensor
            if self.free_prototypes is not None:
                w = self.free_prototypes
            elif head_weight is not None:
                w = head_weight.detach()  # decoupled from the head: no gradient reaches the classifier
            else:
                raise ConfigError("ART: prototypes='head' needs the backbone classifier's weight")
            logits = prototype_consistency_logits(self.prototype_mlp(w), agent) / self.sema_temperature
            if target.dtype.is_floating_point and target.dim() == 2:  # multi-hot: every positive class's row
                labels = target.nonzero(as_tuple=True)[1]
            else:
                labels = target
            terms["prot"] = F.cross_entropy(logits[labels], labels)  # Eq. 16: row y scored against column y
        return terms

    def selection_loss(self, out: ARTHeadOutput, target: torch.Tensor) -> torch.Tensor:
        """Trains `video_to_text` (the map the top-K selection uses) when L_video is ablated: the same CE
        as Eq. 14 but against the EMA bank S, which gets no gradient, so the bank stays untuned."""
        logits = video_consistency_logits(out.video_text, self.bank.bank.detach()) / self.sema_temperature
        return soft_cross_entropy(logits, target)

    @torch.no_grad()
    def update_bank(self, momentum: float | None = None) -> None:
        """Eq. 12: S <- mu S + (1 - mu) S^a, after an optimizer step has updated S^a."""
        if self.video_consistency or self.prototype_consistency:
            self.bank.ema_update(self.bank_momentum if momentum is None else momentum)

