"""ATR's overhead over its base models: GMACs, parameters, CPU latency, side by side.

    python benchmarks/atr_overhead.py                     # R50, 8 frames, 224 px, 174 classes
    python benchmarks/atr_overhead.py --size 112 --repeats 2

MACs come from torch.utils.flop_counter.FlopCounterMode (MACs = FLOPs / 2; it counts
convolutions and matrix products, not element-wise ops, softmax or norms). Latency is the
minimum over `--repeats` rounds that run each model of a group (a base and its ATR variants)
in turn on one clip [1, 3, T, S, S] in eval mode after a warm-up; compare the ratio column,
not the absolute times, across machines. The paper's numbers
(Table 2: the efficient reasoner has "90% less" overhead than the graph reasoner) are
compared in benchmarks/atr.md.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from actionlab.models import registry

# (label, registered model, kwargs, base label)
ROWS: list[tuple[str, str, dict, str | None]] = [
    ("TSN", "tsn_r50", {}, None),
    ("TSN+ATR", "tsn_atr_r50", {}, "TSN"),
    ("TSN+ATR (reasoner C->C/16->C)", "tsn_atr_lite_r50", {}, "TSN"),
    ("TSN+ATR_sim", "tsn_atr_sim_r50", {}, "TSN"),
    ("TSN+ATR_sim, ER x1", "tsn_atr_sim_r50", {"num_reasoners": 1}, "TSN"),
    ("TSN+ATR_sim, GR x1", "tsn_atr_sim_r50", {"num_reasoners": 1, "reasoner": "graph"}, "TSN"),
    ("TSN+ATR, ER x1", "tsn_atr_r50", {"num_reasoners": 1}, "TSN"),
    ("TSN+ATR, GR x1", "tsn_atr_graph_r50", {"num_reasoners": 1}, "TSN"),
    ("TSM", "tsm_r50", {}, None),
    ("TSM+ATR", "tsm_atr_r50", {}, "TSM"),
    ("SlowOnly", "slowonly_r50", {}, None),
    ("SlowOnly+ATR", "slowonly_atr_r50", {}, "SlowOnly"),
]


def build(name: str, kwargs: dict, classes: int, frames: int) -> torch.nn.Module:
    return registry.create_model(name, num_classes=classes, num_segments=frames, **kwargs).eval()


def count(model: torch.nn.Module, clip: torch.Tensor) -> dict[str, float]:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(clip)
    return {"gmacs": counter.get_total_flops() / 2e9, "params": sum(p.numel() for p in model.parameters()) / 1e6}


def latencies(models: dict[str, torch.nn.Module], clip: torch.Tensor, repeats: int) -> dict[str, float]:
    """Milliseconds per forward: the minimum over `repeats` rounds that visit the models in turn.

    Interleaving gives every model of a group the same share of a busy machine's noise, and the
    minimum is the run least disturbed by it.
    """
    times: dict[str, list[float]] = {label: [] for label in models}
    with torch.no_grad():
        for model in models.values():  # warm-up
            model(clip)
        for _ in range(repeats):
            for label, model in models.items():
                start = time.perf_counter()
                model(clip)
                times[label].append(time.perf_counter() - start)
    return {label: min(t) * 1e3 for label, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--classes", type=int, default=174)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--only", default="", help="comma-separated labels to run (default: all)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    results: dict[str, dict[str, float]] = {}
    clip = torch.randn(1, 3, args.frames, args.size, args.size)
    groups: dict[str, list[tuple[str, str, dict]]] = {}
    for label, name, kwargs, base in ROWS:
        if not wanted or label in wanted or (base is not None and base in wanted):
            groups.setdefault(base or label, []).append((label, name, kwargs))
    print(f"R50, {args.frames} frames, {args.size}x{args.size}, {args.classes} classes, batch 1, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}; latency: min of {args.repeats} "
          "interleaved rounds\n")
    print("| model | GMACs | +GMACs (%) | params (M) | +params (M) | CPU ms | x base |")
    print("|---|---|---|---|---|---|---|")
    for group, rows in groups.items():  # one group (a base and its ATR variants) in memory at a time
        models = {label: build(name, kwargs, args.classes, args.frames) for label, name, kwargs in rows}
        for label, model in models.items():
            results[label] = count(model, clip)
        for label, ms in latencies(models, clip, args.repeats).items():
            results[label]["ms"] = ms
        del models
        b = results[group]
        for label, _, _ in rows:
            r = results[label]
            if label == group:
                print(f"| {label} | {r['gmacs']:.2f} | - | {r['params']:.2f} | - | {r['ms']:.0f} | 1.00 |")
                continue
            dg, dp = r["gmacs"] - b["gmacs"], r["params"] - b["params"]
            print(f"| {label} | {r['gmacs']:.2f} | +{dg:.3f} ({100 * dg / b['gmacs']:.1f}%) | {r['params']:.2f} | "
                  f"+{dp:.2f} | {r['ms']:.0f} | {r['ms'] / b['ms']:.2f} |")
    for kind in ("ATR_sim", "ATR"):
        er, gr, base = results.get(f"TSN+{kind}, ER x1"), results.get(f"TSN+{kind}, GR x1"), results.get("TSN")
        if er and gr and base:
            d_er, d_gr = er["gmacs"] - base["gmacs"], gr["gmacs"] - base["gmacs"]
            p_er, p_gr = er["params"] - base["params"], gr["params"] - base["params"]
            print(f"\n{kind}: efficient vs graph reasoner (x1): overhead {d_er:.3f} vs {d_gr:.3f} GMACs "
                  f"({100 * (1 - d_er / d_gr):.0f}% less), {p_er:.2f} vs {p_gr:.2f} M params "
                  f"({100 * (1 - p_er / p_gr):.0f}% less)")


if __name__ == "__main__":
    main()
