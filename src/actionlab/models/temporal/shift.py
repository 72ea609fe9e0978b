"""TSM: the temporal shift module (Lin, Gan, Han, ICCV 2019).

Frames arrive as [N*T, C, H, W].  Of the C channels, C/shift_div move one frame
back in time (frame t receives frame t+1), another C/shift_div move one frame
forward (frame t receives frame t-1), and the rest stay.  The frames at the ends
receive zeros ("zero padding", paper Sec. 3.2), never values from the other end
of the clip (the paper's "truncate", not "circulant").

Placement (paper Sec. 3.3, Fig. 3b, "residual shift"): the shift sits on the
residual branch of every block, before its first conv, so the identity path
keeps the unshifted spatial features.  `insert_shift` fills that slot
(`before_conv1`) of every block of a ResNet or an EfficientNet-Lite without
touching their code.  The shift has no parameters and costs no multiply-adds.

`inplace=True` is the memory-saving option.  The official code's in-place shift
writes into the block input, which in a residual block is also the identity
path (so it silently shifts the identity too).  Here it instead fuses the shift
into the branch's first conv (`ShiftConv2d`, same parameter names).  Training:
autograd keeps only the block input, which is alive anyway for the identity, and
the shifted copy is rebuilt in the backward pass.  Inference: the two shifted
folds are moved in place in the block input, convolved, and put back before the
identity add (only those folds are copied aside).  Forward values and gradients
equal the plain residual shift bit for bit; memory drops by about one block
input (see benchmarks/models.md).

`temporal_shift` is the one shift, in the form that suits who runs it: eager PyTorch writes
slices into an empty tensor (one pass over memory); torch.compile gets one pointwise
expression (`shift_functional`, fused into one loop); torch.export and the ONNX exporters get
slices, pads and a concat (`shift_by_padding`, a handful of graph nodes).  The forms are equal
bit for bit (tests/test_models_shift.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...errors import ModelError
from ..backbones.resnet import BlockLocation


def temporal_shift(x: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """Residual-branch shift of [N*T, C, H, W]: C/shift_div channels each way, zero-filled ends."""
    nt, c, h, w = x.shape
    if nt % num_segments:
        raise ValueError(f"temporal shift: batch {nt} is not a multiple of num_segments={num_segments}")
    fold = c // shift_div
    if exporting():  # torch.export / ONNX: slices, pads and a concat, a handful of graph nodes
        return shift_by_padding(x, num_segments, fold)
    if torch.compiler.is_compiling():  # torch.compile: one pointwise expression, fused into one loop
        return shift_functional(x, num_segments, fold)
    x5 = x.view(nt // num_segments, num_segments, c, h, w)
    # Eager: empty_like + slice copies cost one pass over memory (a clone's worth; zeros_like would
    # add a second) and keep channels_last strides; only the boundary frames of the folds are zeroed.
    out = torch.empty_like(x5)
    out[:, :-1, :fold] = x5[:, 1:, :fold]  # frame t <- frame t+1
    out[:, -1, :fold] = 0
    out[:, 1:, fold:2 * fold] = x5[:, :-1, fold:2 * fold]  # frame t <- frame t-1
    out[:, 0, fold:2 * fold] = 0
    out[:, :, 2 * fold:] = x5[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


def exporting() -> bool:
    """True while torch.export or an ONNX exporter (dynamo or TorchScript) traces the model."""
    return torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


def shift_by_padding(x: torch.Tensor, num_segments: int, fold: int) -> torch.Tensor:
    """The same shift of [N*T, C, H, W] as slices, zero pads and one concat: the form for exported graphs.

    The eager form's slice writes into an empty tensor trace into scatter ops (about 90 ONNX nodes per
    block, slow to export and to run); this is the same function in 6 nodes, with no writes into a tensor.
    """
    nt, c, h, w = x.shape
    x5 = x.view(-1, num_segments, c, h, w)
    back = F.pad(x5[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))  # frame t <- frame t+1, zeros at the end
    forward = F.pad(x5[:, :-1, fold:2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))  # frame t <- frame t-1
    return torch.cat([back, forward, x5[:, :, 2 * fold:]], dim=2).view(nt, c, h, w)


def shift_functional(x: torch.Tensor, num_segments: int, fold: int) -> torch.Tensor:
    """The same shift of [N*T, C, H, W] as one pointwise expression (what graph compilers handle well).

    Each output element selects x[n+1] (first fold), x[n-1] (second fold) or x[n] by its
    channel, zero where that frame lies outside the clip.  No in-place writes, 5D views or
    concatenation: a compiler fuses it into one loop and keeps whatever layout (channels_last)
    it picked for the convolutions around it.
    """
    frame = (torch.arange(x.shape[0], device=x.device) % num_segments).view(-1, 1, 1, 1)
    channel = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    following = F.pad(x[1:], (0, 0, 0, 0, 0, 0, 0, 1))  # x[n+1]
    preceding = F.pad(x[:-1], (0, 0, 0, 0, 0, 0, 1, 0))  # x[n-1]
    from_next = torch.where(frame < num_segments - 1, following, 0.0)
    from_prev = torch.where(frame > 0, preceding, 0.0)
    return torch.where(channel < fold, from_next, torch.where(channel < 2 * fold, from_prev, x))


def temporal_shift_back(grad: torch.Tensor, num_segments: int, shift_div: int = 8) -> torch.Tensor:
    """The adjoint of `temporal_shift` (the gradient w.r.t. its input): each fold moves the other way."""
    nt, c, h, w = grad.shape
    fold = c // shift_div
    g5 = grad.view(nt // num_segments, num_segments, c, h, w)
    out = torch.empty_like(g5)
    out[:, 1:, :fold] = g5[:, :-1, :fold]
    out[:, 0, :fold] = 0
    out[:, :-1, fold:2 * fold] = g5[:, 1:, fold:2 * fold]
    out[:, -1, fold:2 * fold] = 0
    out[:, :, 2 * fold:] = g5[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """The shift as a parameter-free module for a block's `before_conv1` slot."""

    def __init__(self, num_segments: int, shift_div: int = 8):
        super().__init__()
        if shift_div < 2:
            raise ModelError(f"shift_div must be >= 2 (two folds are shifted), got {shift_div}")
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.num_segments, self.shift_div)

    def extra_repr(self) -> str:
        return f"num_segments={self.num_segments}, shift_div={self.shift_div}"


class _ShiftConvFunction(torch.autograd.Function):
    """conv2d(shift(x)) that saves x rather than shift(x) for backward."""

    @staticmethod
    def forward(ctx, x, weight, bias, num_segments, shift_div, stride, padding, dilation, groups):
        shifted = temporal_shift(x, num_segments, shift_div)
        out = F.conv2d(shifted, weight, bias, stride, padding, dilation, groups)
        ctx.save_for_backward(x, weight)
        ctx.conf = (num_segments, shift_div, stride, padding, dilation, groups, bias is not None)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        num_segments, shift_div, stride, padding, dilation, groups, has_bias = ctx.conf
        shifted = temporal_shift(x, num_segments, shift_div)  # rebuilt, never stored
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
        grad_shifted, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_out, shifted, weight, [weight.shape[0]] if has_bias else None, list(stride), list(padding),
            list(dilation), False, [0, 0], groups, mask)
        grad_x = temporal_shift_back(grad_shifted, num_segments, shift_div) if mask[0] else None
        return grad_x, grad_w, grad_b if has_bias else None, None, None, None, None, None, None


class ShiftConv2d(nn.Conv2d):
    """A block's first conv with the residual shift fused in (the `inplace` memory-saving option).

    Subclasses Conv2d so that `weight`/`bias` keep their state-dict names and
    pretrained files load unchanged.
    """

    def __init__(self, conv: nn.Conv2d, num_segments: int, shift_div: int = 8):
        pair = lambda v: cast(tuple[int, int], v)  # a Conv2d's sizes are pairs
        super().__init__(conv.in_channels, conv.out_channels, pair(conv.kernel_size), pair(conv.stride),
                         conv.padding if isinstance(conv.padding, str) else pair(conv.padding), pair(conv.dilation),
                         conv.groups, conv.bias is not None, conv.padding_mode,
                         device=conv.weight.device, dtype=conv.weight.dtype)
        if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ModelError("the in-place shift needs a conv with numeric zero padding")
        self.weight = conv.weight
        self.bias = conv.bias
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if exporting():  # an exported graph: conv(shift(x)), no writes into x
            return F.conv2d(temporal_shift(x, self.num_segments, self.shift_div), self.weight, self.bias,
                            self.stride, self.padding, self.dilation, self.groups)
        if not torch.is_grad_enabled() and not x.requires_grad:
            return self._forward_in_place(x)
        return _ShiftConvFunction.apply(x, self.weight, self.bias, self.num_segments, self.shift_div, self.stride,
                                        self.padding, self.dilation, self.groups)

    def _forward_in_place(self, x: torch.Tensor) -> torch.Tensor:
        """Inference: shift the input's two folds in place, convolve, put them back.

        Only the 2/shift_div shifted channels are copied aside (a quarter of the input at
        shift_div 8, instead of a whole shifted copy), and the input is bitwise restored
        before the block adds it as its identity.
        """
        nt, c, h, w = x.shape
        fold = c // self.shift_div
        x5 = x.view(nt // self.num_segments, self.num_segments, c, h, w)
        saved = x5[:, :, :2 * fold].clone()
        x5[:, :-1, :fold] = saved[:, 1:, :fold]
        x5[:, -1, :fold] = 0
        x5[:, 1:, fold:2 * fold] = saved[:, :-1, fold:]
        x5[:, 0, fold:2 * fold] = 0
        try:
            return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        finally:
            x5[:, :, :2 * fold] = saved

    def extra_repr(self) -> str:
        return super().extra_repr() + f", shift: num_segments={self.num_segments}, shift_div={self.shift_div}"


def _shift_targets(backbone: nn.Module) -> Iterator[tuple[nn.Module, str, BlockLocation]]:
    """(block, name of its first residual-branch conv attribute, location) for every shiftable block."""
    from ..backbones.efficientnet import EfficientNetLite
    from ..backbones.efficientnet import blocks as effnet_blocks
    from ..backbones.resnet import ResNet
    from ..backbones.resnet import blocks as resnet_blocks

    if isinstance(backbone, ResNet):
        for blk, loc in resnet_blocks(backbone):
            yield blk, "conv1", loc
    elif isinstance(backbone, EfficientNetLite):
        # TSM on MobileNetV2 shifts only the blocks with a residual connection: elsewhere the
        # shift would sit on the only path and destroy spatial features (the in-place placement).
        for blk, loc in effnet_blocks(backbone):
            if blk.has_skip:
                yield blk, blk.first_conv_name, loc
    else:
        raise ModelError(f"temporal shift: no insertion points known for {type(backbone).__name__}")


def insert_shift(backbone: nn.Module, num_segments: int, shift_div: int = 8, inplace: bool = False,
                 every: int | None = None) -> list[str]:
    """Put the residual shift into every block's `before_conv1` slot; returns the names of the shifted blocks.

    every: shift every k-th block of a stage (the official code uses 2 for ResNet-101, whose
    third stage has 23 blocks; None picks that rule). inplace: fuse the shift into the first
    conv instead (`ShiftConv2d`), which saves memory in training (see the module docstring).
    """
    targets = list(_shift_targets(backbone))
    if every is None:
        every = 2 if any(len(stage) >= 23 for stage in _stages(backbone)) else 1
    if every < 1:
        raise ModelError(f"shift every: must be >= 1, got {every}")
    shifted = []
    for blk, conv_name, loc in targets:
        name = loc.name
        if loc.index % every:
            continue
        if not isinstance(blk.before_conv1, nn.Identity):
            raise ModelError(f"{name}.before_conv1 is already filled by {type(blk.before_conv1).__name__}")
        if inplace:
            conv = getattr(blk, conv_name)
            # a plain conv (EfficientNet's stride-1 Conv2dSame pads like one); not one already wrapped
            if not isinstance(conv, nn.Conv2d) or isinstance(conv, ShiftConv2d) or getattr(conv, "tf_pad", False):
                raise ModelError(f"in-place shift needs a plain Conv2d at {name}.{conv_name}, "
                                 f"got {type(conv).__name__}")
            setattr(blk, conv_name, ShiftConv2d(conv, num_segments, shift_div))
        else:
            blk.before_conv1 = TemporalShift(num_segments, shift_div)
        shifted.append(name)
    return shifted


def _stages(backbone: nn.Module) -> list[nn.Sequential]:
    return [m for n, m in backbone.named_children() if n.startswith("layer") and isinstance(m, nn.Sequential)]
