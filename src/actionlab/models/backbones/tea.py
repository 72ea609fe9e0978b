"""TEA-R50: Res2Net-50 (26w x 4s) with motion excitation (ME) and multiple temporal aggregation (MTA).

Li et al., "TEA: Temporal Excitation and Aggregation for Action Recognition", CVPR 2020 - the CNN
backbone of the ART paper. Reference read (not copied): Phoenix1327/tea-action-recognition `ops/tea50_*.py`.

Each bottleneck is a Res2Net block with two temporal pieces:

    x ─ conv1 ─ bn1 ─ relu ─► ME ─► split into `scale` groups x_1..x_s ─► MTA ─► conv3 ─ bn3 ─ (+x) ─ relu

- ME (Sec. 3.2): squeeze channels by r=16, motion = conv3x3(x_{t+1}) - x_t (zero for the last frame),
  spatial average, expand, BN, sigmoid; the attention is centred (sigma - 0.5) and applied residually,
  x + x * attention. Our choice (`zero_init_me`, default on; TEA's code keeps BN's default init): the
  expanding BN starts with zero scale, so an untrained ME is the identity and ImageNet weights start
  as the 2D network they were trained as; the BN scale still gets gradients and grows.
- MTA (Sec. 3.3): Res2Net's hierarchical split, each group first convolved over time (channel-wise,
  kernel 3) then over space (3x3): y_i = spatial_i(temporal_i(x_i + y_{i-1})). The last group is not
  convolved spatially (Res2Net passes it through) but still gets a temporal conv, initialised as a
  partial shift (half its channels from t+1, half from t-1); the other temporal convs start as the
  identity, so with ImageNet Res2Net weights the network starts as the 2D one plus that shift.

Parameter names follow Res2Net's (`conv1`, `bn1`, `convs.i`, `bns.i`, `conv3`, `bn3`, `downsample`),
so the official ImageNet `res2net50_26w_4s` checkpoint loads; the temporal modules (`me.*`,
`temporal.*`) are new. Frames come in as [N*T, C, H, W]; `num_segments` = T is fixed at construction.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ModelError
from .common import init_conv_bn, shortcut

RES2NET50_26W_4S_URL = "https://shanghuagao.oss-cn-beijing.aliyuncs.com/res2net/res2net50_26w_4s-06e79181.pth"


class MotionExcitation(nn.Module):
    """ME: channel attention from feature-level temporal differences (TEA Eqs. 1-4)."""

    def __init__(self, channels: int, num_segments: int, reduction: int = 16, zero_init: bool = True):
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.num_segments = num_segments
        self.conv1 = nn.Conv2d(channels, squeezed, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(squeezed)
        self.conv2 = nn.Conv2d(squeezed, squeezed, 3, padding=1, groups=squeezed, bias=False)  # transforms x_{t+1}
        self.conv3 = nn.Conv2d(squeezed, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)
        self.zero_init = zero_init

    def reset_parameters(self) -> None:
        if self.zero_init:
            nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, _, h, w = x.shape
        t = self.num_segments
        squeezed = self.bn1(self.conv1(x))
        now = squeezed.view(nt // t, t, -1, h, w)[:, :-1]
        following = self.conv2(squeezed).view(nt // t, t, -1, h, w)[:, 1:]
        motion = F.pad(following - now, (0, 0, 0, 0, 0, 0, 0, 1))  # the last frame has no successor: zeros
        attention = torch.sigmoid(self.bn3(self.conv3(motion.flatten(0, 1).mean((2, 3), keepdim=True))))
        return x + x * (attention - 0.5)


class TemporalChannelConv(nn.Module):
    """Channel-wise convolution over time (kernel 3) on [N*T, C, H, W]; 'identity' or 'shift' init."""

    def __init__(self, channels: int, num_segments: int, init: str = "identity", shift_div: int = 2):
        super().__init__()
        self.num_segments = num_segments
        self.weight = nn.Parameter(torch.zeros(channels, 1, 3))
        with torch.no_grad():
            if init == "shift":  # TEA's "part shift": `fold` channels from t+1, `fold` from t-1, rest kept
                fold = channels // shift_div
                self.weight[:fold, 0, 2] = 1.0
                self.weight[fold:2 * fold, 0, 0] = 1.0
                self.weight[2 * fold:, 0, 1] = 1.0
            elif init == "identity":
                self.weight[:, 0, 1] = 1.0
            else:
                raise ValueError(f"unknown temporal conv init '{init}'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        t = self.num_segments
        seq = x.view(nt // t, t, c, h * w).permute(0, 3, 2, 1).reshape(-1, c, t)  # [N*HW, C, T]
        seq = F.conv1d(seq, self.weight, padding=1, groups=c)
        return seq.view(nt // t, h * w, c, t).permute(0, 3, 2, 1).reshape(nt, c, h, w)


class TEABottleneck(nn.Module):
    """Res2Net bottleneck (scale groups of `width` channels) with ME and MTA."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, num_segments: int, stride: int = 1,
                 downsample: nn.Module | None = None, base_width: int = 26, scale: int = 4,
                 first_of_stage: bool = False, motion_excitation: bool = True, temporal_aggregation: bool = True,
                 zero_init_me: bool = True):
        super().__init__()
        width = int(math.floor(planes * base_width / 64.0))
        self.width, self.scale, self.first_of_stage = width, scale, first_of_stage
        self.in_channels, self.out_channels = in_ch, planes * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.me: nn.Module = (MotionExcitation(width * scale, num_segments, zero_init=zero_init_me)
                              if motion_excitation else nn.Identity())
        n_convs = max(1, scale - 1)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, stride, 1, bias=False) for _ in range(n_convs))
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(n_convs))
        if temporal_aggregation:
            self.temporal = nn.ModuleList(
                [TemporalChannelConv(width, num_segments, "identity") for _ in range(n_convs)]
                + [TemporalChannelConv(width, num_segments, "shift")])
        else:
            self.temporal = nn.ModuleList(nn.Identity() for _ in range(n_convs + 1))
        # the first block of a stage cannot add groups hierarchically (strides differ): its pass-through
        # group is average-pooled to the new resolution instead (Res2Net 'stage' blocks)
        self.pool = nn.AvgPool2d(3, stride, 1) if first_of_stage and scale > 1 else None
        self.conv3 = nn.Conv2d(width * scale, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.me(self.relu(self.bn1(self.conv1(x))))
        groups = torch.split(out, self.width, 1)
        outs = []
        y = None
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            inp = groups[i] if (y is None or self.first_of_stage) else y + groups[i]  # hierarchical residual
            y = self.relu(bn(conv(self.temporal[i](inp))))
            outs.append(y)
        if self.scale > 1:
            last = self.temporal[-1](groups[-1])
            outs.append(self.pool(last) if self.pool is not None else last)
        out = self.bn3(self.conv3(torch.cat(outs, 1)))
        return self.relu(out + identity)


class TEA(nn.Module):
    """TEA network on frames [N*T, 3, H, W]; `forward_features` gives [N*T, C, h, w].

    stem_width 64 with res2_width 26 and scale 4 is TEA-R50 (Res2Net-50 26w x 4s); small stem widths
    build tiny test/demo networks. `motion_excitation` / `temporal_aggregation` switch ME / MTA off
    (TEA's own ablations; with both off this is plain Res2Net-50); `zero_init_me` see the module doc.
    """

    def __init__(self, num_segments: int, layers: tuple[int, ...] = (3, 4, 6, 3), stem_width: int = 64,
                 res2_width: int = 26, scale: int = 4, num_classes: int = 0, motion_excitation: bool = True,
                 temporal_aggregation: bool = True, zero_init_me: bool = True):
        super().__init__()
        self.num_segments = num_segments
        self.conv1 = nn.Conv2d(3, stem_width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_ch = stem_width
        for i, n in enumerate(layers):
            planes = stem_width * 2**i
            stride = 1 if i == 0 else 2
            out_ch = planes * TEABottleneck.expansion
            down = shortcut(in_ch, out_ch, stride)
            blocks = []
            for j in range(n):
                blocks.append(TEABottleneck(in_ch if j == 0 else out_ch, planes, num_segments,
                                            stride if j == 0 else 1, down if j == 0 else None, res2_width, scale,
                                            first_of_stage=j == 0, motion_excitation=motion_excitation,
                                            temporal_aggregation=temporal_aggregation, zero_init_me=zero_init_me))
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_ch = out_ch
        self.num_features = in_ch
        self.fc: nn.Module = nn.Linear(in_ch, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        init_conv_bn(self)
        for m in self.modules():
            if isinstance(m, MotionExcitation):
                m.reset_parameters()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.num_segments:
            raise ValueError(f"TEA built for {self.num_segments} frames got a batch of {x.shape[0]} frames")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x).mean((2, 3)))


def load_res2net_imagenet(model: TEA, source: str = "imagenet") -> None:
    """Load ImageNet Res2Net-50 26w x 4s weights ('imagenet' = the official URL, or a local .pth /
    .safetensors file). The temporal modules (ME, temporal convs) keep their identity-like init."""
    if source == "imagenet":
        state = torch.hub.load_state_dict_from_url(RES2NET50_26W_4S_URL, map_location="cpu", weights_only=True)
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise ModelError(f"TEA weights: no such file {path} (use 'imagenet' or a local checkpoint)")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.") and ".me." not in k and ".temporal." not in k]
    if missing or result.unexpected_keys:
        raise ModelError(f"TEA weights from {source} do not fit Res2Net-50 26w x 4s: missing {missing[:3]}, "
                         f"unexpected {result.unexpected_keys[:3]}")


def build_tea(num_segments: int, pretrained: str | None = None, **kwargs) -> TEA:
    """TEA backbone (defaults: TEA-R50, Res2Net-50 26w x 4s + ME + MTA), optionally with ImageNet weights."""
    from ..registry import check_kwargs, options_of

    check_kwargs("TEA", kwargs, options_of(TEA.__init__, minus=("num_segments",)))
    model = TEA(num_segments, **kwargs)
    if pretrained:
        load_res2net_imagenet(model, pretrained)
    return model


def _register() -> None:
    # TSN-style TEA recognizers: the backbone alone, the baseline `art_tea_r50` (ART on this TEA) is compared to
    from ..registry import ModelInfo, register_model
    from ..tsn import TSN

    @register_model(ModelInfo(num_frames=16, weights="imagenet", paper="li2020tea",
                              description="TEA-R50: Res2Net-50 26w x 4s with ME and MTA, TSN consensus"))
    def tea_r50(num_classes: int, pretrained: str | None = None, num_segments: int = 16, dropout: float = 0.5,
                **kwargs) -> TSN:
        return TSN(build_tea(num_segments, pretrained, **kwargs), num_classes, num_segments, dropout)

    @register_model(ModelInfo(num_frames=4, input_size=64, paper="li2020tea",
                              description="tiny TEA (stem width 8, one block a stage) for tests and the demo"))
    def tea_tiny(num_classes: int, pretrained: str | None = None, num_segments: int = 4, dropout: float = 0.0,
                 **kwargs) -> TSN:
        kwargs = {"layers": (1, 1, 1, 1), "stem_width": 8, **kwargs}
        return TSN(build_tea(num_segments, pretrained, **kwargs), num_classes, num_segments, dropout)


_register()
