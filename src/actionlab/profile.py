"""What a model costs: multiply-accumulates, parameters, activation memory, CPU latency.

Conventions (the papers'): "GFLOPs" in TSN/TSM/TEFE/ATR tables are multiply-accumulates,
so we report MACs = FLOPs / 2 as counted by `torch.utils.flop_counter.FlopCounterMode`
(convolutions, linear layers, matrix products, attention; not BN, activations, pooling or
additions, which the papers leave out too).  Counting runs on the meta device (shapes only,
no arithmetic) and falls back to a real CPU forward for models whose code needs values.

Peak activation memory: the most bytes held at once by tensors created during one forward
(batch 1, inference mode), weights and the input excluded; tracked per storage with a
dispatch mode, so it is the same on any machine.  Latency: the median wall time of one
forward of one clip after warm-up, in inference mode, on the CPU threads torch uses.
"""

from __future__ import annotations

import copy
import gc
import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from .models.recognizer import evaluating


@dataclass
class LatencyStats:
    median_ms: float
    min_ms: float
    max_ms: float
    runs_ms: list[float]
    threads: int
    warmup: int

    @property
    def spread_ms(self) -> float:
        """Interquartile range of the runs (noise on a shared machine)."""
        if len(self.runs_ms) < 4:
            return self.max_ms - self.min_ms
        q = statistics.quantiles(self.runs_ms, n=4)
        return q[2] - q[0]


@dataclass
class Profile:
    model: str
    frames: int
    size: int
    num_classes: int
    macs: int
    params: int
    trainable_params: int
    counted_on: str  # "meta" or "cpu"
    peak_activation_bytes: int | None = None
    train_peak_bytes: int | None = None
    latency: LatencyStats | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(gmacs=self.gmacs, params_m=self.params_m)
        return d


def clip_shape(frames: int, size: int, batch: int = 1, channels: int = 3) -> tuple[int, int, int, int, int]:
    """The recognizer input [N, C, T, H, W]."""
    return (batch, channels, frames, size, size)


def _run(model: nn.Module, clip: torch.Tensor) -> Any:
    return model(clip)


def count_macs(model: nn.Module, input_shape: tuple[int, ...], device: str = "meta",
               forward: Callable[[nn.Module, torch.Tensor], Any] = _run, fallback: bool = True) -> tuple[int, str]:
    """Multiply-accumulates of one forward of a zero input of `input_shape`; returns (macs, device used).

    device='meta' copies the model to the meta device (no arithmetic, no memory) and falls
    back to the CPU when an op has no meta kernel or the code needs tensor values.
    """
    if device == "meta":
        try:
            first = next(iter(model.parameters()), None)
            meta_model = model if first is not None and first.is_meta else copy.deepcopy(model).to("meta")
            return _count(meta_model, torch.zeros(input_shape, device="meta"), forward), "meta"
        except Exception:  # noqa: BLE001 - any failure on meta means: measure for real
            if not fallback:
                raise
    return _count(model, torch.zeros(input_shape), forward), "cpu"


def _count(model: nn.Module, clip: torch.Tensor, forward: Callable[[nn.Module, torch.Tensor], Any]) -> int:
    counter = FlopCounterMode(display=False)
    with evaluating(model), counter:
        forward(model, clip)
    return counter.get_total_flops() // 2


def count_params(model: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable ones); shared parameters count once."""
    params = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


class _LiveTensorBytes(TorchDispatchMode):
    """Tracks bytes of storages created by ops while active; a storage leaves when it is freed."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._alive: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self._track(t.untyped_storage())
        return out

    def _track(self, storage: torch.UntypedStorage) -> None:
        key = storage.data_ptr()
        if key in self._alive or storage.nbytes() == 0:
            return  # a view of (or an in-place result in) a storage already counted
        self._alive.add(key)
        nbytes = storage.nbytes()
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._release, key, nbytes)

    def _release(self, key: int, nbytes: int) -> None:
        self._alive.discard(key)
        self.live -= nbytes


def peak_activation_memory(model: nn.Module, clip: torch.Tensor, train: bool = False) -> int:
    """Peak bytes of tensors alive at once during a forward (inference) or forward + backward (train=True).

    Inference: activations freed as soon as the next layer no longer needs them.  Train: what
    autograd keeps for backward plus the gradients, parameter gradients included.
    """
    was_training = model.training
    model.train(train)
    gc.collect()
    tracker = _LiveTensorBytes()
    try:
        if train:
            with tracker:
                out = model(clip)
                logits = out.logits if hasattr(out, "logits") else out
                logits.float().sum().backward()
            model.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode(), tracker:
                model(clip)
    finally:
        model.train(was_training)
    return tracker.peak


def cpu_latency(model: nn.Module, clip: torch.Tensor, warmup: int = 2, repeats: int = 5) -> LatencyStats:
    """Median wall time of one forward (inference mode) after `warmup` untimed runs."""
    model.eval()
    runs = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            model(clip)
            if i >= warmup:
                runs.append((time.perf_counter() - start) * 1e3)
    return LatencyStats(statistics.median(runs), min(runs), max(runs), runs, torch.get_num_threads(), warmup)


def profile_model(model: nn.Module, name: str, frames: int, size: int, num_classes: int, latency: bool = True,
                  memory: bool = True, train_memory: bool = False, warmup: int = 2, repeats: int = 5,
                  kwargs: dict[str, Any] | None = None) -> Profile:
    """Everything `actionlab flops` prints for one model at batch 1."""
    shape = clip_shape(frames, size)
    macs, counted_on = count_macs(model, shape)
    params, trainable = count_params(model)
    prof = Profile(name, frames, size, num_classes, macs, params, trainable, counted_on, kwargs=dict(kwargs or {}))
    clip = torch.randn(shape)
    if memory:
        prof.peak_activation_bytes = peak_activation_memory(model, clip)
    if train_memory:
        prof.train_peak_bytes = peak_activation_memory(model, clip, train=True)
    if latency:
        prof.latency = cpu_latency(model, clip, warmup, repeats)
    return prof


def paper_figures(name: str, frames: int | None = None, size: int | None = None) -> list[dict[str, Any]]:
    """The figures papers print for registered model `name`, optionally only those at frames x size.

    They live in the model's `ModelInfo.extra["paper_figures"]` (dicts with frames, size, gmacs,
    optional params_m, source, why), or the shorthand `extra["paper_gflops"]` at the default setting.
    """
    from .models.registry import model_info

    info = model_info(name)
    figures = [dict(f) for f in info.extra.get("paper_figures", []) or []]
    if info.extra.get("paper_gflops") is not None:
        figures.append({"frames": info.num_frames, "size": info.input_size, "gmacs": info.extra["paper_gflops"],
                        "source": info.paper or "paper", "why": info.extra.get("paper_why", "")})
    if frames is not None:
        figures = [f for f in figures if f.get("frames") == frames and f.get("size", size) == size]
    return figures


def build_for_counting(name: str, num_classes: int, **kwargs: Any) -> tuple[nn.Module, str]:
    """Build a registered model on the meta device (no weights drawn), else on the CPU."""
    from .models.registry import create_model

    try:
        with torch.device("meta"):
            return create_model(name, num_classes=num_classes, **kwargs), "meta"
    except Exception:  # noqa: BLE001 - a builder that needs real tensors: build it for real
        return create_model(name, num_classes=num_classes, **kwargs), "cpu"


@dataclass
class TableRow:
    model: str
    frames: int
    size: int
    gmacs: float | None
    params_m: float | None
    figures: list[dict[str, Any]]
    error: str | None = None


def model_table(names: list[str], num_classes: int = 174) -> list[TableRow]:
    """GMACs and parameters of registered models at their default frames x size (for benchmarks/models.md)."""
    from .models.registry import create_model, model_info

    rows = []
    for name in names:
        info = model_info(name)
        shape = clip_shape(info.num_frames, info.input_size)
        try:
            model, built_on = build_for_counting(name, num_classes)
            try:
                macs, _ = count_macs(model, shape, fallback=False)
            except Exception:  # noqa: BLE001 - the forward needs values: build and run it for real
                if built_on == "cpu":
                    raise
                model = create_model(name, num_classes=num_classes)
                macs, _ = count_macs(model, shape, device="cpu")
            rows.append(TableRow(name, info.num_frames, info.input_size, macs / 1e9, count_params(model)[0] / 1e6,
                                 paper_figures(name, info.num_frames, info.input_size)))
        except Exception as e:  # noqa: BLE001 - one model that cannot be built must not hide the others
            rows.append(TableRow(name, info.num_frames, info.input_size, None, None, [],
                                 f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:120]))
    return rows


def markdown_table(rows: list[TableRow], num_classes: int) -> str:
    lines = [f"| model | T x size | GMACs | params (M, {num_classes} classes) | paper GMACs | paper params (M) | "
             "paper source |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.error:
            lines.append(f"| {r.model} | {r.frames} x {r.size} | - | - | | | could not count: {r.error} |")
            continue
        pg = " / ".join(str(f["gmacs"]) for f in r.figures)
        pp = " / ".join(str(f["params_m"]) for f in r.figures if f.get("params_m") is not None)
        src = "; ".join(f.get("source", "") for f in r.figures)
        lines.append(f"| {r.model} | {r.frames} x {r.size} | {r.gmacs:.2f} | {r.params_m:.2f} | {pg} | {pp} | {src} |")
    return "\n".join(lines)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024  # type: ignore[assignment]  # bytes in, scaled units out
    return f"{n} B"  # pragma: no cover
