"""ATR block: Action-centric Temporal-relational Reasoning (Liang et al.), ARL + EAR.

Our copy of the paper lost its equations; the numbers below follow the order in
which the text introduces them (the text itself cites the graph reasoner as
Eq. 6), and `shared/METHODS.md` (ATR) gives the reading we chose:

    Eq. 1   M = F_a(X_r) + F_m(X_r)                         actionness, [N, T, 1, H, W]
    Eq. 2   F_m(X_r)_t = g(h_m(X_r[t+1] - X_r[t]))          motion: depthwise 3x3 h_m, condense g
    Eq. 3-4 F_a(X_r)_t = g(h_a(X_r[t]))                     appearance: depthwise 3x3 h_a, g shared
    Eq. 5   x_t = sum_ij softmax_ij(M_t) X_t[:, i, j]       action-centric aggregation -> [N, T, C]
    Eq. 6-7 Z = W_rel x W,  W_rel[p, q] = softmax_q(phi(x_p) . phi'(x_q))   graph reasoner (Wang & Gupta)
    Eq. 8-9 z_t = sum_{j=-k..k} w_j x_{t+j} W                efficient reasoner: 2k+1 shared scalars
    Eq. 10  D = BN(Z) * sigmoid(M)                           distribution, scaling form
    Eq. 11  D = BN(Z) + sigmoid(M)                           distribution, adding form (default)
    Eq. 12  Y = X + D                                        the residual ATR block

where X_r = BN(Conv1x1_{C -> C/r}(X)) (r = 16) and BN(Z) is broadcast over H, W.

Every module here sees what the ResNet slot `before_add` sees: frames
[N*T, C, H, W] after the block's last BN, T = `num_segments`.

Initialisation (a choice, `zero_init=True` by default): the gamma and beta of
the BN on Z start at 0, so BN(Z) = 0 at init. Then the scaling form and the
broadcast distribution (ATR_sim) start as the identity, Y = X, and a pretrained
backbone computes exactly what it computed before ATR was inserted. The adding
form cannot start as the identity: at init D = sigmoid(M), a per-position
value in (0, 1) added to every channel. That is the form the paper prints and
chooses; we keep it literal rather than invent a gate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ModelError

Cues = Literal["both", "motion", "appearance"]
Aggregation = Literal["actionness", "average"]
Distribution = Literal["add", "scale", "broadcast"]
ReasonerKind = Literal["efficient", "graph"]


def _frames_to_clips(x: torch.Tensor, num_segments: int) -> torch.Tensor:
    """[N*T, ...] -> [N, T, ...] with a clear error when the batch does not split into T frames."""
    if x.shape[0] % num_segments:
        raise ModelError(f"ATR built for {num_segments} frames got a batch of {x.shape[0]} frames")
    return x.view(x.shape[0] // num_segments, num_segments, *x.shape[1:])


class ActionRegionLocator(nn.Module):
    """ARL: frame-wise actionness maps from motion and appearance at the feature level (Eqs. 1-4).

    X [N*T, C, H, W] -> M [N, T, 1, H, W].  The 3x3 convs are depthwise so that each
    channel's temporal difference is not mixed with other channels' context; the
    condensing 1x1 conv (C/r -> 1) is shared by the two cues (Eq. 4).
    `cues` keeps the paper's Table 3 ablation: "motion" or "appearance" alone.
    """

    def __init__(self, channels: int, num_segments: int, reduction: int = 16, cues: Cues = "both",
                 kernel_size: int = 3):
        super().__init__()
        if cues not in ("both", "motion", "appearance"):
            raise ModelError(f"ATR locator cues must be both, motion or appearance, got {cues!r}")
        self.num_segments = num_segments
        self.cues = cues
        reduced = max(1, channels // reduction)
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=False)
        self.reduce_bn = nn.BatchNorm2d(reduced)
        pad = kernel_size // 2
        depthwise = lambda: nn.Conv2d(reduced, reduced, kernel_size, padding=pad, groups=reduced, bias=False)
        self.motion = depthwise() if cues != "appearance" else None
        self.appearance = depthwise() if cues != "motion" else None
        self.condense = nn.Conv2d(reduced, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xr = self.reduce_bn(self.reduce(x))  # X_r [N*T, C/r, H, W]
        actionness = 0
        if self.motion is not None:  # Eq. 2: difference to the next frame; the last frame has none
            clips = _frames_to_clips(xr, self.num_segments)
            diff = torch.cat([clips[:, 1:] - clips[:, :-1], torch.zeros_like(clips[:, :1])], dim=1)
            actionness = actionness + self.condense(self.motion(diff.flatten(0, 1)))
        if self.appearance is not None:  # Eqs. 3-4: the current frame only, same condensing conv
            actionness = actionness + self.condense(self.appearance(xr))
        assert isinstance(actionness, torch.Tensor)  # motion, appearance or both: at least one cue
        return _frames_to_clips(actionness, self.num_segments)


def actionness_aggregate(x: torch.Tensor, actionness: torch.Tensor) -> torch.Tensor:
    """Eq. 5: softmax of M over each frame's H*W positions, weighted sum of X -> [N, T, C]."""
    n, t = actionness.shape[:2]
    weights = actionness.flatten(2).softmax(-1)  # [N, T, H*W]
    feats = x.view(n, t, x.shape[1], -1)  # [N, T, C, H*W]
    return torch.einsum("ntcp,ntp->ntc", feats, weights)


class ChannelTransform(nn.Module):
    """The reasoner's channel transform W: a full C x C matrix, or C -> C/r -> C (low rank) when r > 1.

    The full form is the paper's; in ResNet-50 with n=2 reasoners in the last three
    stages it costs ~40 M parameters, hence the option.
    """

    def __init__(self, channels: int, reduction: int = 1):
        super().__init__()
        if reduction < 1:
            raise ModelError(f"ATR reasoner_reduction must be >= 1, got {reduction}")
        if reduction == 1:
            self.net: nn.Module = nn.Linear(channels, channels, bias=False)
        else:
            hidden = max(1, channels // reduction)
            self.net = nn.Sequential(nn.Linear(channels, hidden, bias=False), nn.Linear(hidden, channels, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EfficientReasoner(nn.Module):
    """Eqs. 8-9: z_t = sum_{j=-k..k} w_j x_{t+j} W on [N, T, C].

    The 2k+1 scalars w_j replace the banded rows of the graph reasoner's relation
    matrix: one local window shared by every time step and every video (the paper's
    Fig. 4 observation). Zero padding at both ends of the clip. The scalars start as
    a uniform mean over the window (our choice; the paper gives none).
    """

    def __init__(self, channels: int, window: int = 1, reduction: int = 1):
        super().__init__()
        self.window = window
        self.transform = ChannelTransform(channels, reduction)
        self.temporal = nn.Parameter(torch.full((2 * window + 1,), 1.0 / (2 * window + 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        y = F.pad(self.transform(x), (0, 0, self.window, self.window))  # zero frames beyond both ends
        # a temporal conv whose 2k+1 weights are shared by all channels and time steps
        return sum(w * y[:, j:j + t] for j, w in enumerate(self.temporal))


class GraphReasoner(nn.Module):
    """Eqs. 6-7 (Wang & Gupta 2018): Z = softmax_row((x phi)(x phi')^T) x W on [N, T, C].

    A per-video T x T relation matrix from pairwise dot products; the ablation the
    efficient reasoner is compared to. `embed_dim` is phi's output size (C by default).
    """

    def __init__(self, channels: int, embed_dim: int | None = None, reduction: int = 1):
        super().__init__()
        embed_dim = embed_dim or channels
        self.phi = nn.Linear(channels, embed_dim, bias=False)
        self.phi_prime = nn.Linear(channels, embed_dim, bias=False)
        self.transform = ChannelTransform(channels, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(torch.bmm(self.relation(x), x))

    def relation(self, x: torch.Tensor) -> torch.Tensor:
        """The relation matrix W_rel [N, T, T] (the paper's Fig. 4 averages it over a dataset)."""
        return torch.bmm(self.phi(x), self.phi_prime(x).transpose(1, 2)).softmax(-1)


class StackedReasoner(nn.Module):
    """n reasoners with LayerNorm + ReLU between adjacent ones (n=2 by default, as in the paper)."""

    def __init__(self, channels: int, num_reasoners: int = 2, kind: ReasonerKind = "efficient", window: int = 1,
                 reduction: int = 1, graph_embed_dim: int | None = None):
        super().__init__()
        if num_reasoners < 1:
            raise ModelError(f"ATR num_reasoners must be >= 1, got {num_reasoners}")
        make: Callable[[], nn.Module]
        if kind == "efficient":
            make = lambda: EfficientReasoner(channels, window, reduction)
        elif kind == "graph":
            make = lambda: GraphReasoner(channels, graph_embed_dim, reduction)
        else:
            raise ModelError(f"ATR reasoner must be 'efficient' or 'graph', got {kind!r}")
        self.reasoners = nn.ModuleList(make() for _ in range(num_reasoners))
        self.norms = nn.ModuleList(nn.LayerNorm(channels) for _ in range(num_reasoners - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reasoners[0](x)
        for norm, reasoner in zip(self.norms, self.reasoners[1:]):
            x = reasoner(F.relu(norm(x)))
        return x


class ATRBlock(nn.Module):
    """The residual ATR block (Eq. 12): Y = X + D, on frames [N*T, C, H, W].

    aggregation   "actionness" (Eq. 5) or "average" (global average pooling)
    distribution  "add" (Eq. 11, default), "scale" (Eq. 10) or "broadcast" (D = BN(Z) everywhere)
    ATR_sim (the paper's ablation without ARL) is aggregation="average",
    distribution="broadcast"; the locator is only built when one of the two needs M.
    After each forward the block keeps its map in `self.actionness` ([N, T, 1, H, W],
    None without ARL) until a recognizer collects it into `extras` (see models/atr.py).
    Its norms (ARL's `reduce_bn`, the zero-initialised BN of Eqs. 10-11) are new: TSN's partial BN
    leaves them trainable (`partial_bn_exempt`).
    """

    partial_bn_exempt = True

    def __init__(self, channels: int, num_segments: int, reduction: int = 16, cues: Cues = "both",
                 aggregation: Aggregation = "actionness", distribution: Distribution = "add",
                 reasoner: ReasonerKind = "efficient", num_reasoners: int = 2, window: int = 1,
                 reasoner_reduction: int = 1, graph_embed_dim: int | None = None, zero_init: bool = True):
        super().__init__()
        if aggregation not in ("actionness", "average"):
            raise ModelError(f"ATR aggregation must be 'actionness' or 'average', got {aggregation!r}")
        if distribution not in ("add", "scale", "broadcast"):
            raise ModelError(f"ATR distribution must be 'add', 'scale' or 'broadcast', got {distribution!r}")
        self.num_segments = num_segments
        self.aggregation = aggregation
        self.distribution = distribution
        needs_locator = aggregation == "actionness" or distribution != "broadcast"
        self.locator = ActionRegionLocator(channels, num_segments, reduction, cues) if needs_locator else None
        self.reasoner = StackedReasoner(channels, num_reasoners, reasoner, window, reasoner_reduction,
                                        graph_embed_dim)
        self.norm = nn.BatchNorm1d(channels)  # the BN of Eqs. 10-11
        if zero_init:
            nn.init.zeros_(self.norm.weight)
            nn.init.zeros_(self.norm.bias)
        self.actionness: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        actionness = self.locator(x) if self.locator is not None else None  # [N, T, 1, H, W]
        if self.aggregation == "actionness":
            assert actionness is not None  # the locator exists for this aggregation (__init__)
            vectors = actionness_aggregate(x, actionness)
        else:
            vectors = _frames_to_clips(x.mean((2, 3)), self.num_segments)
        z = self.reasoner(vectors)  # [N, T, C]
        reasoned = self.norm(z.flatten(0, 1))[:, :, None, None]  # [N*T, C, 1, 1], broadcast over H, W
        if self.distribution == "broadcast":
            delta = reasoned
        else:
            assert actionness is not None  # the locator exists for this distribution (__init__)
            gate = torch.sigmoid(actionness.flatten(0, 1))  # [N*T, 1, H, W], broadcast over C
            delta = reasoned * gate if self.distribution == "scale" else reasoned + gate
        self.actionness = actionness
        return x + delta

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, aggregation={self.aggregation}, distribution={self.distribution}"
