"""ART recognizer: a backbone's per-frame tokens + the ART head (paper: Sun et al., ART).

    clip [N, C, T, H, W] --frame encoder--> tokens [N, T, h*w, C], x_cls [N, C], backbone logits (Eq. 10)
                         --ARTHead-------> logits (Eq. 11), regions [N, T, K, h, w], tracklets, MTC terms
    loss = L_v + L_con + gamma1 L_MTC + gamma2 L_sema                                        (Eq. 18)

Frame encoders:
- any TSN-like registered CNN (`frame_features`, `head`, `fc`: TSN, TSM, TEA, ...): the last
  stage's feature map gives the tokens, its spatial mean (averaged over T) the class token, and the
  model's own classifier and consensus the backbone prediction of Eq. 10;
- TEA-R50 (`backbones/tea.py`), the paper's CNN;
- a CLIP ViT (`backbones/clip_vit.py`): patch tokens per frame, the frames' class tokens averaged
  over T as x_cls, a new linear classifier for Eq. 10.

The semantic bank is built lazily: at the first forward, if the model knows its class names and
its bank buffers were not filled yet (`bank_ready`), the bank is read from the on-disk cache or
encoded once. A model loaded from a checkpoint has `bank_ready` set by the checkpoint, so inference
never runs the text encoder. Without class names the bank stays random (unit tests, or a model
built only to receive a checkpoint).

Training: `train.strategy: art` adds the EMA update of the bank after each optimizer step (Eq. 12).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from ..errors import ConfigError, ModelError
from ..norms import CLIP_MEAN, CLIP_STD
from ..strategy import TrainStrategy, register_strategy, unwrap
from .heads.art import ARTHead, ARTHeadOutput, soft_cross_entropy
from .recognizer import Output, Recognizer, param_groups
from .registry import ModelInfo, _entry, check_kwargs, create_model, options_of, register_model
from .text.bank import build_semantic_bank, random_bank, read_class_names
from .text.encoders import build_text_encoder, embedding_dim
from .text.prompts import resolve_templates
from .tsn import TSN

log = logging.getLogger(__name__)

PAPER = "sun2025art"


@dataclass
class FrameTokens:
    tokens: torch.Tensor  # [N, T, h*w, C]
    grid: tuple[int, int]
    x_cls: torch.Tensor  # [N, C] the video's class token
    logits: torch.Tensor  # [N, K] the backbone's own prediction (Eq. 10)


class CNNFrames(nn.Module):
    """Tokens from a TSN-like recognizer: its last feature map, its pooled features, its own head."""

    base: Any  # a TSN-like recognizer (frame_features, head, fc: checked in __init__)

    def __init__(self, base: nn.Module):
        super().__init__()
        for attr in ("frame_features", "head", "fc"):
            if not hasattr(base, attr):
                raise ModelError(f"ART needs a TSN-like backbone model (frame_features, head, fc); "
                                 f"{type(base).__name__} has no '{attr}'")
        self.base = base
        self.num_features = int(self.base.fc.in_features)

    @property
    def prototype_weight(self) -> torch.Tensor:
        return self.base.fc.weight

    def forward(self, clip: torch.Tensor) -> FrameTokens:
        n, t = clip.shape[0], clip.shape[2]
        maps = self.base.frame_features(clip)  # [N*T, C, h, w]
        pooled = maps.mean((2, 3))
        logits = self.base.head(pooled, n)
        _, c, h, w = maps.shape
        tokens = maps.flatten(2).transpose(1, 2).reshape(n, t, h * w, c)
        return FrameTokens(tokens, (h, w), pooled.view(n, t, c).mean(1), logits)


class ViTFrames(nn.Module):
    """Tokens from a per-frame ViT with `forward_tokens(frames) -> (cls, patches, grid)` (CLIPViT)."""

    vit: Any  # forward_tokens, hidden_size

    def __init__(self, vit: nn.Module, num_classes: int, num_segments: int, dropout: float = 0.5):
        super().__init__()
        self.vit = vit
        self.num_segments = num_segments
        self.num_features = int(self.vit.hidden_size)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, 0.001)
        nn.init.zeros_(self.fc.bias)

    @property
    def prototype_weight(self) -> torch.Tensor:
        return self.fc.weight

    @property
    def text_projection(self) -> nn.Module | None:
        """CLIP's `visual_projection` (class token -> the joint image-text space), if the tower has one."""
        tower = getattr(self.vit, "tower", None)
        return getattr(tower, "visual_projection", None)

    def forward(self, clip: torch.Tensor) -> FrameTokens:
        n, c, t, h, w = clip.shape
        if t != self.num_segments:
            raise ValueError(f"model built for {self.num_segments} frames got a clip of {t}")
        cls, patches, grid = self.vit.forward_tokens(clip.transpose(1, 2).reshape(n * t, c, h, w))
        x_cls = cls.view(n, t, -1).mean(1)
        return FrameTokens(patches.reshape(n, t, patches.shape[1], -1), grid, x_cls, self.fc(self.dropout(x_cls)))


def _forget_ready(module: ART, incompatible_keys: Any) -> None:
    module._ready_seen = False  # a loaded state dict may change bank_ready


class ART(Recognizer):
    """Backbone (frame encoder) + ART head; `forward(clip) -> Output(logits Eq. 11, extras)`.

    extras: "regions" [N, T, K, h, w] (region responses, softmax over h*w), "backbone_logits" (Eq. 10),
    "saliency" [N, T, K] (Eq. 9 weights), "topk_classes" [N, K], "art" (the full `ARTHeadOutput`).
    """

    explain_kind = "tracklets"
    eval_metrics = ("pointing_game",)  # the tracklet regions against the data's boxes (localisation.py)

    def __init__(self, frames: nn.Module, head: ARTHead, num_classes: int, num_segments: int,
                 mtc_weight: float = 5.0, sema_weight: float = 5.0, backbone_lr_mult: float = 1.0,
                 class_names: Sequence[str] | None = None, templates: str | Sequence[str] = "all",
                 text_encoder: str = "minilm", bank_cache_dir: str | None = None, text_bank: str = "encoder",
                 freeze_backbone: bool = False):
        super().__init__()
        if text_bank not in ("encoder", "random"):
            raise ConfigError(f"ART: text_bank must be 'encoder' or 'random', got {text_bank!r}")
        self.frames = frames
        self.head = head
        self.num_classes = num_classes
        self.num_segments = num_segments
        self.mtc_weight = mtc_weight  # gamma1 (Eq. 18)
        self.sema_weight = sema_weight  # gamma2 (Eq. 18)
        self.backbone_lr_mult = backbone_lr_mult
        self.class_names = list(class_names) if class_names is not None else None
        self.templates = resolve_templates(templates)
        self.text_encoder = text_encoder
        self.bank_cache_dir = bank_cache_dir
        self.text_bank = text_bank  # "random": unit vectors instead of the class names' text (an ablation)
        self.freeze_backbone = freeze_backbone
        if freeze_backbone:  # only the head trains; the backbone also keeps its BN statistics (see train())
            frames.requires_grad_(False)
        self.bank_ready: torch.Tensor
        self.register_buffer("bank_ready", torch.tensor(False))
        self._warned_random = False
        self._ready_seen = False  # python copy of bank_ready: no device sync per forward once set
        self.register_load_state_dict_post_hook(_forget_ready)

    # ------------------------------------------------------------------ the text bank
    def train(self, mode: bool = True) -> ART:
        super().train(mode)
        if self.freeze_backbone:
            self.frames.eval()  # a frozen backbone: its BN layers keep their running statistics
        return self

    def prepare_text_bank(self) -> None:
        """Fill S0, S and S^a from the cache or the text encoder (once; a checkpoint also fills them)."""
        if self.class_names is None:
            raise ConfigError("ART: no class names to build the semantic bank from (model.kwargs.class_names)")
        target = self.head.bank
        if self.text_bank == "random":  # the ablation without text: fixed random unit vectors, same shape
            bank = random_bank(target.num_prompts, target.num_classes, target.dim, seed=1)
        else:
            bank = build_semantic_bank(self.class_names, self.templates, self.text_encoder, self.bank_cache_dir)
        if bank.shape != target.bank.shape:
            raise ModelError(f"ART: the text encoder gives a bank of {tuple(bank.shape)}, the model was built for "
                             f"{tuple(target.bank.shape)} (set model.kwargs.text_dim)")
        with torch.no_grad():
            for t in (target.initial, target.bank, target.agent):
                t.copy_(bank.to(t.device, t.dtype))
            self.bank_ready.fill_(True)
        self._ready_seen = True

    def _ensure_bank(self) -> None:
        if self._ready_seen:
            return
        # While exporting, the bank is whatever the checkpoint holds: a static graph cannot branch on a buffer.
        if torch.compiler.is_exporting() or bool(self.bank_ready):
            self._ready_seen = True
            return
        if self.class_names is not None:
            self.prepare_text_bank()
        elif not self._warned_random:
            log.warning(f"ART model ({self.num_classes} classes) built without class names "
                        "(model.kwargs.class_names): its semantic bank is random, not text")
            self._warned_random = True

    # ------------------------------------------------------------------ forward and loss
    def forward(self, clip: torch.Tensor) -> Output:
        self._ensure_bank()
        frames: FrameTokens = self.frames(clip)
        out: ARTHeadOutput = self.head(frames.tokens, frames.grid, frames.x_cls)
        extras = {"regions": out.regions, "backbone_logits": frames.logits, "saliency": out.saliency,
                  "topk_classes": out.topk_classes, "art": out}
        return Output(out.logits, extras)

    def loss(self, output: Output, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. 18: L = L_v + L_con + gamma1 L_MTC + gamma2 L_sema, with the unweighted parts for the logs."""
        out: ARTHeadOutput = output.extras["art"]
        terms = {"cls": soft_cross_entropy(output.logits, target),  # L_con (Eq. 11)
                 "backbone": soft_cross_entropy(output.extras["backbone_logits"], target)}  # L_v (Eq. 10)
        if self.head.mtc_terms:
            terms["mtc"] = self.mtc_weight * self.head.mtc_loss(out)
        sema = self.head.sema_losses(out, target, getattr(self.frames, "prototype_weight", None))
        if sema:
            terms["sema"] = self.sema_weight * torch.stack(list(sema.values())).sum()
        if not self.head.video_consistency:  # keep the top-K selection map trained (see heads/art.py)
            terms["select"] = self.head.selection_loss(out, target)
        total = torch.stack(list(terms.values())).sum()
        for name, value in out.mtc.items():
            terms[f"mtc_{name}"] = value.detach()
        for name, value in sema.items():
            terms[f"sema_{name}"] = value.detach()
        terms["loss"] = total
        return terms

    def update_bank(self, momentum: float | None = None) -> None:
        """The EMA step of Eq. 12 (called by the 'art' training strategy after each optimizer step)."""
        self.head.update_bank(momentum)

    def param_groups(self, weight_decay: float, no_bn_decay: bool = True, no_bias_decay: bool = False,
                     bias_lr_mult: float = 1.0) -> list[dict[str, Any]]:
        """TSN-style groups; the agent bank and the prompts get no weight decay (decay would shrink
        the text vectors the EMA copies into S); backbone groups get lr x `backbone_lr_mult`."""
        text_params = {id(self.head.bank.agent), id(self.head.prompts)}
        seen: set[int] = set()  # a CLIP visual projection is in both parts (video_to_text): one group only
        groups = []
        for part, mult in ((self.frames, self.backbone_lr_mult), (self.head, 1.0)):
            for g in param_groups(part, weight_decay, no_bn_decay, no_bias_decay, bias_lr_mult):
                g["params"] = [p for p in g["params"] if id(p) not in text_params and id(p) not in seen]
                seen.update(id(p) for p in g["params"])
                g["lr_mult"] = g.get("lr_mult", 1.0) * mult
                g["name"] = f"{'backbone' if part is self.frames else 'head'}_{g['name']}"
                groups.append(g)
        text = [p for p in (self.head.bank.agent, self.head.prompts) if p.requires_grad]
        groups.append({"params": text, "weight_decay": 0.0, "name": "text"})
        return [g for g in groups if g["params"]]


# ---------------------------------------------------------------------------- builders

# ARTHead's own options; its `dropout` is `head_dropout` here, so `dropout` stays the backbone's (TSN's)
_HEAD_KEYS = set(inspect.signature(ARTHead.__init__).parameters) - {"self", "visual_dim", "num_classes", "bank",
                                                                   "dropout", "video_to_text"}


def build_art(frames: CNNFrames | ViTFrames, num_classes: int, num_segments: int,
              class_names: str | Sequence[str] | None = None,
              templates: str | Sequence[str] = "all", text_encoder: str = "minilm", text_dim: int | None = None,
              bank_cache_dir: str | None = None, mtc_weight: float = 5.0, sema_weight: float = 5.0,
              backbone_lr_mult: float = 1.0, head_dropout: float = 0.5, text_bank: str = "encoder",
              freeze_backbone: bool = False, **head_kwargs: Any) -> ART:
    """An ART recognizer around a frame encoder (`CNNFrames` / `ViTFrames`).

    Text: `class_names` (list or file, one per line), `templates` ('art', 'actionclip', 'all' or a
    list), `text_encoder` (spec, see `models.text.encoders`), `text_dim` (C_t; read from the
    encoder's config when omitted), `bank_cache_dir`; `text_bank="random"` fills the bank with random
    unit vectors instead (the ablation without text). `freeze_backbone`: only the head trains (with
    `model.pretrained` naming a trained backbone's checkpoint). Head and ablation options: see `ARTHead`.
    """
    check_kwargs("ART", head_kwargs, _HEAD_KEYS)
    names = read_class_names(class_names) if class_names is not None else None
    if names is not None and len(names) != num_classes:
        raise ConfigError(f"ART: {len(names)} class names for {num_classes} classes")
    prompts = resolve_templates(templates)
    if text_dim is None:  # read from the encoder's config files (no weights): the same with or without names
        text_dim = embedding_dim(text_encoder)
        if text_dim is None:  # a hub encoder we know nothing about: ask it (only when a bank will be built)
            text_dim = build_text_encoder(text_encoder).dim if names is not None else 512
    # A CLIP tower already maps its class token into the text space: the top-K selection starts there
    # instead of behind a new random map (only when the bank is in that same space, i.e. the dims agree).
    projection = getattr(frames, "text_projection", None)
    if isinstance(projection, nn.Linear) and (projection.in_features, projection.out_features) != (
            frames.num_features, text_dim):
        projection = None
    head = ARTHead(frames.num_features, num_classes, random_bank(len(prompts), num_classes, text_dim),
                   dropout=head_dropout, video_to_text=projection, **head_kwargs)
    return ART(frames, head, num_classes, num_segments, mtc_weight, sema_weight, backbone_lr_mult, names,
               prompts, text_encoder, bank_cache_dir, text_bank, freeze_backbone)


def _art_keys() -> set[str]:
    """ART's own options: the head's and `build_art`'s (the frame encoder and sizes come from the builder)."""
    return _HEAD_KEYS | options_of(build_art, minus=("frames", "num_classes", "num_segments", "head_kwargs"))


def _split_backbone_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    art_keys = _art_keys()
    return ({k: v for k, v in kwargs.items() if k in art_keys},
            {k: v for k, v in kwargs.items() if k not in art_keys})


def art_on(backbone: str, num_classes: int, pretrained: str | None = None, num_segments: int = 8,
           backbone_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> ART:
    """ART on any registered TSN-like model (by name), e.g. `art_on("tsm_r50", 99, num_segments=16)`.

    kwargs that are not ART's (see `build_art`, `ARTHead`) go to the backbone's builder too, so a
    config written for the backbone (e.g. `dropout`, `base_width`) works unchanged.
    """
    if backbone.startswith("art"):
        raise ConfigError(f"ART: backbone '{backbone}' is itself an ART model")
    art_kwargs, extra = _split_backbone_kwargs(kwargs)
    builder = _entry(backbone).builder
    bkw = {**extra, **(backbone_kwargs or {})}
    params = inspect.signature(builder).parameters
    if "num_segments" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        bkw.setdefault("num_segments", num_segments)
    base = create_model(backbone, num_classes=num_classes, pretrained=pretrained, **bkw)
    segments = int(getattr(base, "num_segments", num_segments))
    return build_art(CNNFrames(base), num_classes, segments, **art_kwargs)


def _tsn_frames(backbone: nn.Module, num_classes: int, num_segments: int, dropout: float) -> CNNFrames:
    return CNNFrames(TSN(backbone, num_classes, num_segments, dropout))


@register_model(ModelInfo(num_frames=8, paper=PAPER, description="ART on any registered TSN-like model: "
                          "model.kwargs.backbone names it (e.g. tsm_r50), backbone_kwargs its options"))
def art(num_classes: int, pretrained: str | None = None, backbone: str = "", num_segments: int = 8,
        class_names: str | Sequence[str] | None = None, **kwargs: Any) -> ART:
    if not backbone:
        raise ConfigError("model 'art' needs model.kwargs.backbone: a registered TSN-like model, e.g. tsm_r50")
    return art_on(backbone, num_classes, pretrained, num_segments, class_names=class_names, **kwargs)


@register_model(ModelInfo(num_frames=16, weights="imagenet", paper=PAPER,
                          description="ART on TEA-R50 (Res2Net-50 26w x 4s + ME + MTA), the paper's CNN"))
def art_tea_r50(num_classes: int, pretrained: str | None = None, num_segments: int = 16, dropout: float = 0.5,
                class_names: str | Sequence[str] | None = None,
                text_encoder: str = "clip:openai/clip-vit-base-patch16", **kwargs: Any) -> ART:
    from .backbones.tea import build_tea

    art_kwargs, tea_kwargs = _split_backbone_kwargs(kwargs)
    frames = _tsn_frames(build_tea(num_segments, pretrained, **tea_kwargs), num_classes, num_segments, dropout)
    return build_art(frames, num_classes, num_segments, class_names, text_encoder=text_encoder, **art_kwargs)


@register_model(ModelInfo(num_frames=16, weights="imagenet", paper=PAPER,
                          description="ART on TSM-R50 (the registered tsm_r50)"))
def art_tsm_r50(num_classes: int, pretrained: str | None = None, num_segments: int = 16,
                class_names: str | Sequence[str] | None = None,
                text_encoder: str = "clip:openai/clip-vit-base-patch16", backbone_kwargs: dict | None = None,
                **kwargs: Any) -> ART:
    return art_on("tsm_r50", num_classes, pretrained, num_segments, backbone_kwargs, class_names=class_names,
                  text_encoder=text_encoder, **kwargs)


def _clip_frames(num_classes: int, num_segments: int, pretrained: str | None, arch: str, dropout: float,
                 freeze_backbone: bool, unfreeze_last: int) -> ViTFrames:
    from .backbones.clip_vit import CLIPViT

    vit = CLIPViT.create(pretrained=pretrained, arch=arch, freeze=freeze_backbone, unfreeze_last=unfreeze_last)
    return ViTFrames(vit, num_classes, num_segments, dropout)


@register_model(ModelInfo(num_frames=16, mean=CLIP_MEAN, std=CLIP_STD, weights="openai/clip-vit-base-patch16",
                          paper=PAPER, description="ART on a CLIP ViT-B/16 image tower (per-frame patch tokens)"))
def art_clip_vit_b16(num_classes: int, pretrained: str | None = None, num_segments: int = 16, dropout: float = 0.5,
                     class_names: str | Sequence[str] | None = None, freeze_backbone: bool = False,
                     unfreeze_last: int = 0, text_encoder: str = "clip:openai/clip-vit-base-patch16",
                     **kwargs: Any) -> ART:
    check_kwargs("art_clip_vit_b16", kwargs, _art_keys())  # before the tower is built
    frames = _clip_frames(num_classes, num_segments, pretrained, "vit_b16", dropout, freeze_backbone, unfreeze_last)
    return build_art(frames, num_classes, num_segments, class_names, text_encoder=text_encoder, **kwargs)


# ---------------------------------------------------------------------------- tiny variants (tests, demo)


def remove_stage_strides(backbone: nn.Module, stages: Sequence[str]) -> None:
    """Set the stride-2 convs of the named ResNet stages ("layer3", ...) to stride 1 (no dilation).

    Each stage so treated doubles the size of the last feature map: the tiny ResNet at 32 px ends on
    a 1x1 map, where a region or actionness map is identically 1; without the strides of layer3 and
    layer4 (output stride 8) it ends on 4x4.
    """
    for name in stages:
        stage = getattr(backbone, name, None)
        if stage is None:
            raise ModelError(f"remove_stage_strides: the backbone has no stage '{name}'")
        for m in stage.modules():
            if isinstance(m, nn.Conv2d) and m.stride != (1, 1):
                m.stride = (1, 1)


@register_model(ModelInfo(num_frames=8, input_size=32, weights=None, paper=PAPER,
                          description="tiny TSM (ResNet-18, base width 16) with output stride 8: a 4x4 last "
                                      "feature map at 32 px; ART's backbone on the finegrained benchmark"))
def tsm_r18_tiny_os8(num_classes: int, pretrained: str | None = None, **kwargs: Any) -> nn.Module:
    model = create_model("tsm_r18_tiny", num_classes=num_classes, pretrained=pretrained, **kwargs)
    assert isinstance(model, TSN)
    remove_stage_strides(model.backbone, ("layer3", "layer4"))
    return model


_TINY_HEAD = {"dim": 32, "se_layers": 1, "rssa_layers": 1, "heads": 4, "head_dropout": 0.0}


@register_model(ModelInfo(num_frames=4, input_size=64, paper=PAPER,
                          description="tiny ART on a TSN ResNet-18 of base width 8 (tests, demo)"))
def art_r18_tiny(num_classes: int, pretrained: str | None = None, num_segments: int = 4, base_width: int = 8,
                 dropout: float = 0.0, class_names: str | Sequence[str] | None = None, **kwargs: Any) -> ART:
    from .backbones.resnet import ResNet

    check_kwargs("art_r18_tiny", kwargs, _art_keys())
    frames = _tsn_frames(ResNet("resnet18", base_width=base_width), num_classes, num_segments, dropout)
    return build_art(frames, num_classes, num_segments, class_names, **{**_TINY_HEAD, **kwargs})


@register_model(ModelInfo(num_frames=4, input_size=64, paper=PAPER,
                          description="tiny ART on a tiny TEA (stem width 8, one block a stage)"))
def art_tea_tiny(num_classes: int, pretrained: str | None = None, num_segments: int = 4, dropout: float = 0.0,
                 class_names: str | Sequence[str] | None = None, **kwargs: Any) -> ART:
    from .backbones.tea import build_tea

    art_kwargs, tea_kwargs = _split_backbone_kwargs(kwargs)
    tea = build_tea(num_segments, None, **{"layers": (1, 1, 1, 1), "stem_width": 8, **tea_kwargs})
    frames = _tsn_frames(tea, num_classes, num_segments, dropout)
    return build_art(frames, num_classes, num_segments, class_names, **{**_TINY_HEAD, **art_kwargs})


@register_model(ModelInfo(num_frames=4, input_size=64, mean=CLIP_MEAN, std=CLIP_STD, paper=PAPER,
                          description="tiny ART on a tiny random CLIP ViT (tests)"))
def art_clip_vit_tiny(num_classes: int, pretrained: str | None = None, num_segments: int = 4, dropout: float = 0.0,
                      class_names: str | Sequence[str] | None = None, freeze_backbone: bool = False,
                      **kwargs: Any) -> ART:
    check_kwargs("art_clip_vit_tiny", kwargs, _art_keys())
    frames = _clip_frames(num_classes, num_segments, pretrained, "tiny", dropout, freeze_backbone, 0)
    return build_art(frames, num_classes, num_segments, class_names, **{**_TINY_HEAD, **kwargs})


# ---------------------------------------------------------------------------- training strategy


@register_strategy("art")
class ARTStrategy(TrainStrategy):
    """The standard step, then the EMA update of the semantic bank after each optimizer step (Eq. 12).

    strategy_kwargs: `momentum` (mu; default: the model's `bank_momentum`, 0.999).
    """

    def __init__(self, momentum: float | None = None):
        super().__init__()
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"train.strategy_kwargs.momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum

    def after_optimizer_step(self, model: nn.Module) -> None:
        inner = unwrap(model)
        if not isinstance(inner, ART):
            raise ConfigError(f"train.strategy 'art' needs an ART model, got {type(inner).__name__}")
        inner.update_bank(self.momentum)


register_strategy("art_bank_ema")(ARTStrategy)  # the name config.py's comment uses
