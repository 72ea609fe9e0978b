"""TFE: temporal fidelity enhancement (Xu et al., FITEE 2025) and its vanilla baseline.

Both are segment-embedding models:

    clip [N, C, T, H, W] -> frame encoder on N*T frames -> x [N, T, d] (+ learned position embedding)
      vanilla:  L x TemporalBlock -> AttentionHead (attention pooling over T) -> logits
      TFE:      L' x TemporalBlock -> TD module (Eqs. 6, 8-11) -> A_S(z'_S) = logits, A_N(z'_N)

The frame encoder is the CLIP ViT image tower (`backbones/clip_vit.py`, frozen by default:
the paper keeps the baselines' visual encoders) or any 2D CNN: a ResNet arch name, efficientnet_lite0, or a
registered model whose `.backbone` has `forward_features` (e.g. `tsn_r50`), pooled per frame.
TFE replaces the baseline's last layer(s) by the TD module, so it has fewer layers (Table 4:
BIKE 6 -> 2): by default the vanilla model has 6 temporal layers, TFE 1 + TD.

Training (Eq. 12) is the `tfe` strategy below (also registered as `tfe_two_phase`):
each batch, (1) the approximators A_S, A_N step on L_S + L_N with the disentangler frozen,
(2) the disentangler (temporal layers, TD, and the encoder when it is trainable) steps on
L_S - L_N with the approximators frozen.  -L_N is unbounded; `adversary` picks the plain
form ("negative", Eq. 12 as printed) or a bounded surrogate as AIL does: cross entropy of A_N
against the uniform distribution ("uniform", the default) or against the flipped target
("flipped").  Measured (benchmarks/tfe.md): with an encoder that trains, the plain form is
unstable (L_N jumps to 2x chance in the first epochs of every seed, and on a 16-video set it
climbed 2.2 -> 6.3 over 20 epochs) and ends below "uniform" in accuracy and fidelity, hence the
default; with a frozen encoder it stayed near chance for 100 epochs and gave the highest temporal
fidelity, so "negative" is worth trying there.

Table 3's ablations (model kwarg `disentangler`, strategy kwarg `objective`):
    Variant 1  disentangler="none", objective="eq5"     Variant 4  disentangler="td", objective="eq4"
    Variant 2  disentangler="none", objective="eq4"     Variant 5  disentangler="td", objective="eq5"
    Variant 3  disentangler="none", objective="adversarial"   TFE  disentangler="td", "adversarial"
"eq4"/"eq5" train all parameters in one phase on L_S - L_N (bounded as configured) / L_S + L_N.
The plain `standard` strategy on a TFE model optimises `loss` = L_S + L_N, i.e. Variant 5.
Single-label targets use cross entropy, multi-hot float targets BCE (Charades).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError, ModelError
from ..norms import CLIP_MEAN, CLIP_STD
from ..strategy import StepContext, TrainStrategy, backward_and_step, frozen, register_strategy, unwrap
from .heads.tfe import Approximator, AttentionHead, Disentangled, TDModule, TemporalBlock, TwoStreamModule
from .recognizer import Output, Recognizer, classification_loss
from .registry import ModelInfo, check_kwargs, options_of, register_model

PAPER = "xu2025tfe"
CLIP_ENCODERS = {"clip_vit_b16": "vit_b16", "clip_vit_b32": "vit_b32", "clip_vit_l14": "vit_l14",
                 "clip_vit_tiny": "tiny"}
RESNET_ENCODERS = ("resnet18", "resnet34", "resnet50", "resnet101")
CNN_ENCODERS = (*RESNET_ENCODERS, "efficientnet_lite0")

# ---------------------------------------------------------------------------- frame encoder


class FrameEncoder(nn.Module):
    """Frames [B, 3, H, W] -> embeddings [B, out_dim]; `freeze` keeps it frozen and in eval mode."""

    net: Any  # CLIPViT (embed) or a 2D backbone (forward_features)

    def __init__(self, net: nn.Module, kind: Literal["clip", "cnn"], out_dim: int, freeze: bool):
        super().__init__()
        self.net = net
        self.kind = kind
        self.out_dim = out_dim
        self.freeze = freeze
        if freeze:
            net.requires_grad_(False)

    @property
    def trainable(self) -> bool:
        return any(p.requires_grad for p in self.parameters())

    def train(self, mode: bool = True) -> FrameEncoder:
        super().train(mode)
        if self.freeze:  # frozen BN statistics / dropout
            self.net.eval()
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trainable):
            if self.kind == "clip":
                return self.net.embed(frames)
            return self.net.forward_features(frames).mean((2, 3))


def build_frame_encoder(encoder: str, pretrained: str | None = None, freeze: bool | None = None,
                        **encoder_kwargs: Any) -> FrameEncoder:
    """`encoder`: clip_vit_b16 | clip_vit_b32 | clip_vit_l14 | clip_vit_tiny (CLIP tower, frozen by default),
    resnet18..101 (kwarg base_width), efficientnet_lite0 (weights 'lite0' ship with the package), or a
    registered model name whose `.backbone` is a 2D CNN.  `pretrained` goes to the CLIP loader (hub id
    or directory) or to `models.weights` ('imagenet', URL, local file)."""
    if encoder in CLIP_ENCODERS:
        from .backbones.clip_vit import CLIPViT

        freeze = True if freeze is None else freeze
        net = CLIPViT.create(pretrained, arch=encoder_kwargs.pop("arch", CLIP_ENCODERS[encoder]), freeze=freeze,
                             **encoder_kwargs)
        return FrameEncoder(net, "clip", net.embed_dim, freeze=freeze and net.unfreeze_last == 0)
    freeze = False if freeze is None else freeze
    if encoder in CNN_ENCODERS:
        from .weights import build_efficientnet_lite0, build_resnet

        if encoder == "efficientnet_lite0":
            net = build_efficientnet_lite0(pretrained, **encoder_kwargs)
        else:
            net = build_resnet(encoder, pretrained=pretrained, **encoder_kwargs)
        return FrameEncoder(net, "cnn", int(net.num_features), freeze)
    from .registry import create_model, list_models

    if encoder not in list_models():
        raise ModelError(f"unknown frame encoder '{encoder}': expected {sorted(CLIP_ENCODERS)}, "
                         f"{list(CNN_ENCODERS)} or a registered model with a .backbone")
    donor = create_model(encoder, num_classes=1, pretrained=pretrained, **encoder_kwargs)
    backbone = getattr(donor, "backbone", None)
    if backbone is None or not hasattr(backbone, "forward_features") or not hasattr(backbone, "num_features"):
        raise ModelError(f"model '{encoder}' has no .backbone with forward_features/num_features to encode frames")
    return FrameEncoder(backbone, "cnn", int(backbone.num_features), freeze)


# ---------------------------------------------------------------------------- models


class PositionEmbedding(nn.Module):
    """Learned temporal position embedding added to the T segment embeddings."""

    def __init__(self, num_segments: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, num_segments, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SegmentEmbeddingModel(Recognizer):
    """Shared trunk: frame encoder -> (projection to `width`) -> position embedding -> temporal layers."""

    explain_kind = "attention"
    eval_metrics = ("temporal_fidelity",)  # the attention against the annotated action frames (fidelity.py)

    def __init__(self, encoder: FrameEncoder, num_classes: int, num_segments: int, num_layers: int,
                 width: int | None = None, heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0):
        super().__init__()
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.encoder = encoder
        width = width or encoder.out_dim
        self.width = width
        self.embed_proj = nn.Linear(encoder.out_dim, width) if width != encoder.out_dim else nn.Identity()
        self.pos = PositionEmbedding(num_segments, width)
        self.blocks = nn.ModuleList(TemporalBlock(width, heads, mlp_ratio, dropout) for _ in range(num_layers))

    def segment_embeddings(self, clip: torch.Tensor) -> torch.Tensor:
        """[N, C, T, H, W] -> refined segment embeddings x [N, T, width]."""
        n, c, t, h, w = clip.shape
        if t != self.num_segments:
            raise ValueError(f"model built for {self.num_segments} segments got a clip of {t}")
        frames = clip.transpose(1, 2).reshape(n * t, c, h, w)
        x = self.pos(self.embed_proj(self.encoder(frames).view(n, t, -1)))
        for block in self.blocks:
            x, _ = block(x)
        return x


class VanillaTemporalModel(SegmentEmbeddingModel):
    """The baseline: temporal transformer + attention pooling; extras["attention"] [N, T]."""

    def __init__(self, encoder: FrameEncoder, num_classes: int, num_segments: int, num_layers: int = 6,
                 width: int | None = None, heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 pool_heads: int = 1, head_dropout: float = 0.0):
        super().__init__(encoder, num_classes, num_segments, num_layers, width, heads, mlp_ratio, dropout)
        self.head = AttentionHead(self.width, num_classes, pool_heads, head_dropout)

    def forward(self, clip: torch.Tensor) -> Output:
        logits, attention = self.head(self.segment_embeddings(clip))
        return Output(logits, {"attention": attention})


class TFEModel(SegmentEmbeddingModel):
    """Disentangler D (encoder, temporal layers, TD) and approximators A_S, A_N (Eqs. 6-11)."""

    def __init__(self, encoder: FrameEncoder, num_classes: int, num_segments: int, num_layers: int = 1,
                 width: int | None = None, heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.0,
                 disentangler: Literal["td", "none"] = "td", k: int | list[int] | None = None, tau: float = 0.5,
                 ffn_ratio: float = 1.0, mask_norm: Literal["mean", "none"] = "mean",
                 approximator: Literal["mean", "attention"] = "mean", head_dropout: float = 0.0):
        super().__init__(encoder, num_classes, num_segments, num_layers, width, heads, mlp_ratio, dropout)
        self.ks = _resolve_ks(k, num_segments)
        if disentangler == "td":
            self.disentangler: nn.Module = TDModule(self.width, self.ks, tau, ffn_ratio, mask_norm, dropout)
        elif disentangler == "none":
            self.disentangler = TwoStreamModule(self.width, heads, mlp_ratio, dropout)
        else:
            raise ModelError(f"unknown disentangler '{disentangler}', expected td or none")
        self.approx_s = Approximator(self.width, num_classes, approximator, head_dropout)
        self.approx_n = Approximator(self.width, num_classes, approximator, head_dropout)
        # Prediction needs only z'_S -> A_S; True skips f_N, f_DN and A_N in eval mode (then there
        # is no L_N to report).  Off by default so that validation reports both losses.
        self.salient_only_at_inference = False

    # the two parameter sets of Eq. 12 ------------------------------------------------
    def approximator_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.approx_s, self.approx_n])

    def disentangler_modules(self, include_encoder: bool = True) -> nn.ModuleList:
        parts = [self.embed_proj, self.pos, self.blocks, self.disentangler]
        return nn.ModuleList(([self.encoder] if include_encoder else []) + parts)

    # forward -------------------------------------------------------------------------
    def disentangle(self, clip: torch.Tensor) -> Disentangled:
        """D(x) = (z'_S, z'_N) (Eq. 6) with the temporal attention [N, T]."""
        nonsalient = self.training or not self.salient_only_at_inference
        return self.disentangler(self.segment_embeddings(clip), nonsalient=nonsalient)

    def approximate(self, parts: Disentangled) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(A_S(z'_S), A_N(z'_N)) logits (Eq. 7)."""
        logits_n = self.approx_n(parts.z_nonsalient) if parts.z_nonsalient is not None else None
        return self.approx_s(parts.z_salient), logits_n

    def forward(self, clip: torch.Tensor) -> Output:
        parts = self.disentangle(clip)
        logits_s, logits_n = self.approximate(parts)
        extras: dict[str, Any] = {"attention": parts.attention}
        if logits_n is not None:
            extras["logits_nonsalient"] = logits_n
        if parts.masks is not None:
            extras["td_masks"] = parts.masks
        return Output(logits_s, extras)

    def loss(self, output: Output, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_S, L_N (Eq. 7) and their sum (the approximators' objective, Eq. 5)."""
        l_s = classification_loss(output.logits, target)
        if "logits_nonsalient" not in output.extras:  # salient-only inference
            return {"cls": l_s, "loss": l_s}
        l_n = classification_loss(output.extras["logits_nonsalient"], target)
        return {"cls": l_s, "nonsalient": l_n, "loss": l_s + l_n}


def _resolve_ks(k: int | list[int] | None, num_segments: int) -> list[int]:
    """k per TD head; default two heads with k = T/4 and T/2 (the paper gives no values)."""
    if k is None:
        ks = [max(1, num_segments // 4), max(1, num_segments // 2)]
    elif isinstance(k, int):
        ks = [k]
    else:
        ks = [int(v) for v in k]
    bad = [v for v in ks if not 0 < v <= num_segments]
    if bad or not ks:
        raise ModelError(f"model kwarg 'k' must hold integers in 1..{num_segments} (one per TD head), got {k!r}")
    return ks


# ---------------------------------------------------------------------------- losses of Eq. 12


Adversary = Literal["negative", "uniform", "flipped"]


def adversarial_term(logits_n: torch.Tensor, target: torch.Tensor, kind: Adversary) -> torch.Tensor:
    """What the disentangler minimises in place of -L_N.

    negative: -L_N as in Eq. 12 (unbounded below);
    uniform:  cross entropy of A_N against the uniform distribution (BCE against 0.5 for
              multi-label), minimal when A_N cannot tell the classes apart;
    flipped:  cross entropy against the flipped target: the other classes uniformly
              (single-label) or 1 - y (multi-label)."""
    multi_label = target.dtype.is_floating_point and target.dim() == logits_n.dim()
    if kind == "negative":
        return -classification_loss(logits_n, target)
    if kind == "uniform":
        if multi_label:
            return F.binary_cross_entropy_with_logits(logits_n, torch.full_like(logits_n, 0.5))
        return -F.log_softmax(logits_n, dim=-1).mean(-1).mean()
    if kind == "flipped":
        if multi_label:
            return F.binary_cross_entropy_with_logits(logits_n, 1.0 - target)
        k = logits_n.shape[-1]
        soft = (1.0 - F.one_hot(target, k).to(logits_n.dtype)) / max(k - 1, 1)
        return -(soft * F.log_softmax(logits_n, dim=-1)).sum(-1).mean()
    raise ValueError(f"unknown adversary '{kind}'")


# ---------------------------------------------------------------------------- two-phase strategy (Eq. 12)


OBJECTIVES = ("adversarial", "eq4", "eq5")
ADVERSARIES = ("uniform", "flipped", "negative")


def _distributed() -> bool:
    return (torch.distributed.is_available() and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1)


@register_strategy("tfe_two_phase")
@register_strategy("tfe")
class TFEStrategy(TrainStrategy):
    """Eq. 12 per batch: approximators on L_S + L_N (D frozen), then D on L_S - L_N (A frozen).

    Each phase has its own optimizer, built with `make_optimizer(module)`: 'approximators'
    (A_S, A_N) and 'disentangler' (position embedding, temporal layers, TD, and the encoder
    when it is trainable and `train_encoder`).

    shared_forward=True (default, one process): one forward of the encoder and D per batch;
    phase 1 trains A_S, A_N on the detached (z'_S, z'_N), phase 2 runs the updated, frozen
    approximators on the same (z'_S, z'_N), so both phases see one Gumbel sample.  Under DDP
    (or shared_forward=False) each phase does its own forward through the wrapped model with
    the other parameter set frozen, so DDP all-reduces exactly that phase's gradients.

    kwargs (train.strategy_kwargs):
      objective: adversarial (TFE) | eq4 | eq5 (Table 3 ablations, one phase over all parameters)
      adversary: uniform (default) | flipped | negative (the plain -L_N, see `adversarial_term`)
      nonsalient_weight: weight of the adversarial term (1.0)
      train_encoder: whether phase 2 also updates a trainable encoder (True)
      shared_forward: one forward per batch for both phases (True; ignored under DDP)
    """

    ddp_find_unused_parameters = True  # each phase's backward leaves the other set out

    def __init__(self, objective: str = "adversarial", adversary: str = "uniform", nonsalient_weight: float = 1.0,
                 train_encoder: bool = True, shared_forward: bool = True):
        if objective not in OBJECTIVES:
            raise ConfigError(f"train.strategy_kwargs.objective must be one of {OBJECTIVES}, got {objective!r}")
        if adversary not in ADVERSARIES:
            raise ConfigError(f"train.strategy_kwargs.adversary must be one of {ADVERSARIES}, got {adversary!r}")
        self.objective = objective
        self.adversary = cast(Adversary, adversary)  # one of ADVERSARIES (checked above)
        self.nonsalient_weight = float(nonsalient_weight)
        self.train_encoder = bool(train_encoder)
        self.shared_forward = bool(shared_forward)

    @staticmethod
    def _tfe(model: nn.Module) -> TFEModel:
        inner = unwrap(model)
        if not isinstance(inner, TFEModel):
            raise ConfigError(f"train.strategy 'tfe' needs a TFE model (tfe_*), got {type(inner).__name__}")
        return inner

    def build_optimizers(self, model: nn.Module, make_optimizer: Callable[[nn.Module], torch.optim.Optimizer]
                         ) -> dict[str, torch.optim.Optimizer]:
        tfe = self._tfe(model)
        if not self.train_encoder:  # the encoder then stays as it is for the whole run
            tfe.encoder.requires_grad_(False)
        if self.objective != "adversarial":
            return {"main": make_optimizer(tfe)}
        return {"approximators": make_optimizer(tfe.approximator_modules()),
                "disentangler": make_optimizer(tfe.disentangler_modules(self.train_encoder))}

    def _adversary(self, logits_n: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.nonsalient_weight * adversarial_term(logits_n, target, self.adversary)

    # phases ---------------------------------------------------------------------------
    def approximator_phase(self, ctx: StepContext, clip: torch.Tensor, target: torch.Tensor,
                           parts: Disentangled | None = None) -> dict[str, float]:
        """Phase 1: A_S, A_N minimise L_S + L_N (Eq. 5) with D frozen.

        `parts`: a shared forward's D(x), used detached; None: forward through `ctx.model`."""
        tfe = self._tfe(ctx.model)
        with ctx.autocast():
            if parts is None:
                with frozen(tfe.disentangler_modules()):
                    out = ctx.model(clip)
                logits_s, logits_n = out.logits, out.extras["logits_nonsalient"]
            else:
                assert parts.z_nonsalient is not None  # a training forward gives both paths
                detached = Disentangled(parts.z_salient.detach(), parts.z_nonsalient.detach(), parts.attention)
                logits_s, logits_n = tfe.approximate(detached)
            l_s, l_n = classification_loss(logits_s, target), classification_loss(logits_n, target)
        backward_and_step(ctx, l_s + l_n, ["approximators"])
        return {"cls": float(l_s.detach()), "nonsalient": float(l_n.detach()), "loss": float((l_s + l_n).detach())}

    def disentangler_phase(self, ctx: StepContext, clip: torch.Tensor, target: torch.Tensor,
                           parts: Disentangled | None = None) -> dict[str, float]:
        """Phase 2: D minimises L_S - L_N (Eq. 4; -L_N per `adversary`) with A_S, A_N frozen."""
        tfe = self._tfe(ctx.model)
        with ctx.autocast(), frozen(tfe.approximator_modules()):
            if parts is None:
                out = ctx.model(clip)
                logits_s, logits_n = out.logits, out.extras["logits_nonsalient"]
            else:
                logits_s, logits_n = tfe.approximate(parts)
            l_s = classification_loss(logits_s, target)
            adv = self._adversary(logits_n, target)
            total = l_s + adv
        backward_and_step(ctx, total, ["disentangler"])
        return {"cls_d": float(l_s.detach()), "adversary": float(adv.detach()), "disentangler": float(total.detach())}

    def train_step(self, ctx: StepContext, clip: torch.Tensor, target: torch.Tensor
                   ) -> dict[str, float | torch.Tensor]:
        tfe = self._tfe(ctx.model)
        logs: dict[str, float | torch.Tensor] = {}
        if self.objective != "adversarial":
            logs.update(self._single_phase(ctx, clip, target))
            return logs
        parts = None
        if self.shared_forward and not _distributed():
            with ctx.autocast():
                parts = tfe.disentangle(clip)
        logs.update(self.approximator_phase(ctx, clip, target, parts))
        logs.update(self.disentangler_phase(ctx, clip, target, parts))
        return logs

    def _single_phase(self, ctx: StepContext, clip: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
        with ctx.autocast():
            out = ctx.model(clip)
            logits_s, logits_n = out.logits, out.extras["logits_nonsalient"]
            l_s, l_n = classification_loss(logits_s, target), classification_loss(logits_n, target)
            total = l_s + (l_n if self.objective == "eq5" else self._adversary(logits_n, target))
        backward_and_step(ctx, total, ["main"])
        return {"cls": float(l_s.detach()), "nonsalient": float(l_n.detach()), "loss": float(total.detach())}


# ---------------------------------------------------------------------------- registered models

_TFE_KEYS = {"disentangler", "k", "tau", "ffn_ratio", "mask_norm", "approximator"}


def _build(cls: type[SegmentEmbeddingModel], num_classes: int, pretrained: str | None, defaults: dict[str, Any],
           kwargs: dict[str, Any]) -> SegmentEmbeddingModel:
    if cls is VanillaTemporalModel:
        stray = _TFE_KEYS & set(kwargs)
        if stray:
            raise ModelError(f"model kwargs {sorted(stray)} are TFE options; the vanilla model does not take them")
    check_kwargs(cls.__name__, kwargs, options_of(cls.__init__, minus=("encoder", "num_classes"))
                 | {"encoder", "freeze_encoder", "encoder_kwargs"})
    opts = {**defaults, **kwargs}
    encoder = build_frame_encoder(opts.pop("encoder"), pretrained=pretrained, freeze=opts.pop("freeze_encoder", None),
                                  **opts.pop("encoder_kwargs", {}))
    return cls(encoder, num_classes=num_classes, **opts)


CLIP_INFO: dict[str, Any] = dict(num_frames=16, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, paper=PAPER)
# BIKE / the paper: CLIP ViT-B/16 segment embeddings (d = 512), 16 segments; vanilla 6 layers, TFE 1 + TD.
_CLIP_B16 = dict(encoder="clip_vit_b16", num_segments=16, heads=8)
_CLIP_L14 = dict(encoder="clip_vit_l14", num_segments=16, heads=12)
_R50 = dict(encoder="resnet50", num_segments=16, width=512, heads=8, freeze_encoder=False)
_TINY = dict(encoder="resnet18", encoder_kwargs={"base_width": 16}, num_segments=8, heads=4, freeze_encoder=False)
_CLIP_TINY = dict(encoder="clip_vit_tiny", num_segments=8, heads=4)


@register_model(ModelInfo(**CLIP_INFO, weights="openai/clip-vit-base-patch16",
                          description="vanilla temporal transformer (6 layers) + attention pooling on CLIP ViT-B/16"))
def vanilla_temporal_clip_vit_b16(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(VanillaTemporalModel, num_classes, pretrained, {**_CLIP_B16, "num_layers": 6}, kwargs)


@register_model(ModelInfo(**CLIP_INFO, weights="openai/clip-vit-base-patch16",
                          description="TFE (1 temporal layer + TD, dual approximators) on CLIP ViT-B/16"))
def tfe_clip_vit_b16(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(TFEModel, num_classes, pretrained, {**_CLIP_B16, "num_layers": 1}, kwargs)


@register_model(ModelInfo(**CLIP_INFO, weights="openai/clip-vit-large-patch14",
                          description="vanilla temporal transformer (6 layers) + attention pooling on CLIP ViT-L/14"))
def vanilla_temporal_clip_vit_l14(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(VanillaTemporalModel, num_classes, pretrained, {**_CLIP_L14, "num_layers": 6}, kwargs)


@register_model(ModelInfo(**CLIP_INFO, weights="openai/clip-vit-large-patch14",
                          description="TFE (1 temporal layer + TD, dual approximators) on CLIP ViT-L/14"))
def tfe_clip_vit_l14(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(TFEModel, num_classes, pretrained, {**_CLIP_L14, "num_layers": 1}, kwargs)


@register_model(ModelInfo(num_frames=16, weights="imagenet", paper=PAPER,
                          description="vanilla temporal transformer (6 layers, width 512) on ResNet-50 frame features"))
def vanilla_temporal_r50(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(VanillaTemporalModel, num_classes, pretrained, {**_R50, "num_layers": 6}, kwargs)


@register_model(ModelInfo(num_frames=16, weights="imagenet", paper=PAPER,
                          description="TFE (1 temporal layer + TD) on ResNet-50 frame features"))
def tfe_r50(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(TFEModel, num_classes, pretrained, {**_R50, "num_layers": 1}, kwargs)


@register_model(ModelInfo(num_frames=8, input_size=64, paper=PAPER,
                          description="tiny vanilla temporal model (ResNet-18 width 16, 2 layers) for the demo"))
def vanilla_temporal_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(VanillaTemporalModel, num_classes, pretrained, {**_TINY, "num_layers": 2}, kwargs)


@register_model(ModelInfo(num_frames=8, input_size=64, paper=PAPER,
                          description="tiny TFE (ResNet-18 width 16, 1 layer + TD) for the demo"))
def tfe_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(TFEModel, num_classes, pretrained, {**_TINY, "num_layers": 1}, kwargs)


@register_model(ModelInfo(num_frames=8, input_size=64, mean=CLIP_MEAN, std=CLIP_STD, paper=PAPER,
                          description="tiny vanilla temporal model on a tiny random CLIP ViT (tests)"))
def vanilla_temporal_clip_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(VanillaTemporalModel, num_classes, pretrained, {**_CLIP_TINY, "num_layers": 2}, kwargs)


@register_model(ModelInfo(num_frames=8, input_size=64, mean=CLIP_MEAN, std=CLIP_STD, paper=PAPER,
                          description="tiny TFE on a tiny random CLIP ViT (tests)"))
def tfe_clip_tiny(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    return _build(TFEModel, num_classes, pretrained, {**_CLIP_TINY, "num_layers": 1}, kwargs)
