"""actionlab bench model: CPU forward latency of models side by side, as ratios to a baseline.

    actionlab bench model                                   # TSN-R50 vs TSM-R50, 8 x 224, batch 1
    actionlab bench model --models tsn_r50 tsm_r50 tefe_r50 --repeats 10
    actionlab bench model --channels-last --compile         # also those variants, each vs eager

All (model, variant) pairs are timed in one process, round-robin (one forward of each per
round), so a load change on a shared machine hits all of them alike.  Each pair's median,
minimum and interquartile range are printed; ratios are paired: the median over rounds of
(this forward / the baseline's forward in the same round), which cancels most of the load
drift that a ratio of medians keeps.  Ratios compare a model with the baseline in the same
variant, and a variant with eager execution of the same model; the effect of channels_last
and torch.compile is measured here, never assumed.  `--threads 1` gives steadier figures
on a machine whose cores are shared.

Beside the times, each model's cost: GMACs of one forward (FlopCounterMode, MACs = FLOPs / 2:
convolutions and matrix products, as the papers count them) and parameters, each with what it
adds to the baseline - a method's overhead over the model it is built on, e.g.
`--models tsn_r50 tsn_atr_r50 tsn_atr_graph_r50` or `--models tea_r50 art_tea_r50 --frames 16`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

DEFAULT_MODELS = ["tsn_r50", "tsm_r50"]
TSM_TARGET = 5.0  # TSM's claim: the shift adds at most 5% to TSN's CPU latency (zero FLOPs, little data movement)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="registered model names")
    p.add_argument("--baseline", default=None, help="model the ratios refer to (default: the first)")
    p.add_argument("--frames", type=int, default=8, help="T, frames per clip (default 8)")
    p.add_argument("--size", type=int, default=224, help="H = W of the clip (default 224)")
    p.add_argument("--num-classes", type=int, default=174, help="classifier size (default 174, SSv2)")
    p.add_argument("--kwargs", nargs="+", default=[], metavar="KEY=VALUE",
                   help="kwargs for every model, e.g. base_width=16")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first (compilation happens here)")
    p.add_argument("--repeats", type=int, default=7, help="timed rounds")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--channels-last", action="store_true", help="also time each model in channels_last")
    p.add_argument("--compile", action="store_true", help="also time each model under torch.compile")
    p.add_argument("--max-overhead", type=float, default=None,
                   help="percent over the baseline every model is checked against (default: only TSM against "
                        f"its TSN, with TSM's target of {TSM_TARGET:g}%%)")


@dataclass
class Entry:
    model: str
    variant: str
    module: Any
    runs_ms: list[float] = field(default_factory=list)
    temporal_ms: list[float] = field(default_factory=list)  # time inside temporal modules, per forward
    setup_s: float = 0.0
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def min(self) -> float:
        return min(self.runs_ms)

    @property
    def iqr(self) -> float:
        if len(self.runs_ms) < 4:
            return max(self.runs_ms) - min(self.runs_ms)
        q = statistics.quantiles(self.runs_ms, n=4)
        return q[2] - q[0]


def variants(channels_last: bool, compile_: bool) -> list[str]:
    out = ["eager"]
    if channels_last:
        out.append("channels_last")
    if compile_:
        out.append("compile")
        if channels_last:
            out.append("compile+channels_last")
    return out


def prepare(model: nn.Module, variant: str) -> Any:
    """The callable that runs `model` in `variant` (a compiled wrapper or the module itself)."""
    import torch

    from ..engine.runtime import to_channels_last
    if "channels_last" in variant:
        model = to_channels_last(model)  # 4D weights only: models with 3D convs (TEFE's FE, SlowOnly) keep theirs
    if "compile" in variant:
        return torch.compile(model)
    return model


def temporal_modules(module: Any) -> list[nn.Module]:
    """The outermost modules defined under actionlab.models.temporal (shift, TAM, FE, ATR, ...) of an eager model."""
    import torch.nn as nn

    if not isinstance(module, nn.Module):
        return []
    found: list[nn.Module] = []
    for m in module.modules():
        if type(m).__module__.startswith("actionlab.models.temporal") and not any(
                m is not f and any(m is sub for sub in f.modules()) for f in found):
            found.append(m)
    return found


class ModuleTimer:
    """Adds up the wall time spent inside a set of modules (forward hooks)."""

    def __init__(self, modules: list[nn.Module]):
        self.total = 0.0
        self._start: dict[int, float] = {}
        self.handles = []
        for m in modules:
            self.handles.append(m.register_forward_pre_hook(self._pre))
            self.handles.append(m.register_forward_hook(self._post))

    def _pre(self, module: nn.Module, args: Any) -> None:
        self._start[id(module)] = time.perf_counter()

    def _post(self, module: nn.Module, args: Any, out: Any) -> None:
        self.total += time.perf_counter() - self._start.pop(id(module))

    def take(self) -> float:
        total, self.total = self.total, 0.0
        return total


def time_round_robin(entries: list[Entry], clip: torch.Tensor, warmup: int, repeats: int) -> None:
    import torch

    with torch.inference_mode():
        for e in entries:  # first call separately: compilation time is setup, not latency
            start = time.perf_counter()
            try:
                e.module(clip)
            except Exception as err:  # noqa: BLE001 - a failing variant is reported, the others still run
                e.error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]
            e.setup_s = time.perf_counter() - start
        live = [e for e in entries if e.error is None]
        timers = {id(e): ModuleTimer(temporal_modules(e.module)) for e in live if e.variant == "eager"}
        for r in range(max(warmup - 1, 0) + repeats):
            for e in live:
                timer = timers.get(id(e))
                start = time.perf_counter()
                e.module(clip)
                elapsed = time.perf_counter() - start
                inside = timer.take() if timer is not None else 0.0
                if r >= max(warmup - 1, 0):
                    e.runs_ms.append(elapsed * 1e3)
                    if timer is not None and timer.handles:
                        e.temporal_ms.append(inside * 1e3)
        for timer in timers.values():
            for h in timer.handles:
                h.remove()


def paired_ratio(runs: list[float], base_runs: list[float]) -> tuple[float, float]:
    """Median and IQR of per-round ratios: the two forwards of a round ran back to back, under the same load."""
    ratios = [r / b for r, b in zip(runs, base_runs)]
    if len(ratios) < 4:
        return statistics.median(ratios), max(ratios) - min(ratios)
    q = statistics.quantiles(ratios, n=4)
    return statistics.median(ratios), q[2] - q[0]


def budget_for(model: str, baseline: str, max_overhead: float | None) -> float | None:
    """The overhead budget a model is held to: the user's, else TSM's 5% against its own TSN."""
    if max_overhead is not None:
        return max_overhead
    return TSM_TARGET if baseline.startswith("tsn_") and model == "tsm_" + baseline[4:] else None


def format_table(entries: list[Entry], baseline: str, max_overhead: float | None) -> str:
    by_key = {(e.model, e.variant): e for e in entries if e.error is None}
    lines = [f"{'model':<24} {'variant':<22} {'median ms':>10} {'min ms':>9} {'IQR ms':>8} "
             f"{'vs ' + baseline:>16} {'vs eager':>9} {'first call s':>12}"]
    for e in entries:
        if e.error is not None:
            lines.append(f"{e.model:<24} {e.variant:<22} failed: {e.error}")
            continue
        base = by_key.get((baseline, e.variant))
        eager = by_key.get((e.model, "eager"))
        vs_base = f"{paired_ratio(e.runs_ms, base.runs_ms)[0]:.3f}" if base else "-"
        vs_eager = f"{paired_ratio(e.runs_ms, eager.runs_ms)[0]:.3f}" if eager and e.variant != "eager" else "-"
        lines.append(f"{e.model:<24} {e.variant:<22} {e.median:>10.1f} {e.min:>9.1f} {e.iqr:>8.1f} {vs_base:>16} "
                     f"{vs_eager:>9} {e.setup_s:>12.2f}")
    for e in entries:
        if e.temporal_ms:
            share = statistics.median(t / r for t, r in zip(e.temporal_ms, e.runs_ms))
            lines.append(f"{e.model} ({e.variant}): time inside its temporal modules: median "
                         f"{statistics.median(e.temporal_ms):.1f} ms, min {min(e.temporal_ms):.1f} ms per forward "
                         f"= {100 * share:.2f}% of the forward (median over rounds)")
    lines += ["", "ratios: median over rounds of (this forward / the other's forward in the same round)"]
    for e in entries:
        base = by_key.get((baseline, e.variant))
        if e.error is None and base is not None and e.model != baseline:
            ratio, iqr = paired_ratio(e.runs_ms, base.runs_ms)
            overhead = 100 * (ratio - 1)
            line = (f"{e.model} vs {baseline} ({e.variant}): {overhead:+.1f}% (IQR of the ratio {iqr:.3f}; "
                    f"ratio of minima {e.min / base.min:.3f})")
            budget = budget_for(e.model, baseline, max_overhead)
            if budget is not None:
                line += f" -> {'within' if overhead <= budget else 'OVER'} the {budget:g}% budget"
            lines.append(line)
    return "\n".join(lines)


@dataclass
class Cost:
    model: str
    macs: int
    params: int


def format_costs(costs: list[Cost], baseline: str) -> str:
    """GMACs and parameters of each model, and what it adds to the baseline's."""
    base = next((c for c in costs if c.model == baseline), None)
    lines = [f"{'model':<24} {'GMACs':>9} {'params (M)':>11} {'GMACs vs ' + baseline:>24} "
             f"{'params vs ' + baseline:>24}"]
    for c in costs:
        vs_macs = vs_params = "-"
        if base is not None and c.model != baseline:
            vs_macs = f"{100 * (c.macs / base.macs - 1):+.1f}% ({(c.macs - base.macs) / 1e9:+.3f})"
            vs_params = f"{100 * (c.params / base.params - 1):+.1f}% ({(c.params - base.params) / 1e6:+.2f} M)"
        lines.append(f"{c.model:<24} {c.macs / 1e9:>9.3f} {c.params / 1e6:>11.2f} {vs_macs:>24} {vs_params:>24}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..commands.flops import parse_kwargs
    from ..models.registry import create_model, model_info
    from ..profile import count_macs, count_params

    if args.threads:
        torch.set_num_threads(args.threads)
    baseline = args.baseline or args.models[0]
    names = args.models if baseline in args.models else [baseline, *args.models]
    kwargs = parse_kwargs(args.kwargs)
    torch.manual_seed(0)
    clip = torch.randn(1, 3, args.frames, args.size, args.size)
    entries, costs = [], []
    for name in names:
        extra = {"num_segments": args.frames} if args.frames != model_info(name).num_frames else {}
        for variant in variants(args.channels_last, args.compile):
            model = create_model(name, num_classes=args.num_classes, **kwargs, **extra).eval()
            if variant == "eager":
                costs.append(Cost(name, count_macs(model, tuple(clip.shape))[0], count_params(model)[0]))
            entries.append(Entry(name, variant, prepare(model, variant)))
    print(f"cost of one forward, {args.frames} x 3 x {args.size} x {args.size}, {args.num_classes} classes:")
    print(format_costs(costs, baseline) + "\n")
    print(f"CPU forward latency, batch 1, {args.frames} x 3 x {args.size} x {args.size}, {args.num_classes} classes, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}; {args.repeats} timed rounds after "
          f"{args.warmup} warm-up, round-robin")
    time_round_robin(entries, clip, args.warmup, args.repeats)
    print(format_table(entries, baseline, args.max_overhead))
    return 0
