"""actionlab bench export: PyTorch eager vs ONNX Runtime CPU latency per clip, side by side in one run.

    actionlab bench export                      # TSM-R50, 8 x 224, batch 1 (the figure in benchmarks/deploy.md)
    actionlab bench export --methods            # instead: which methods export (default exporter), with parity

The same graph runs in both: the exported `clip uint8 -> logits` module (the
normalisation inside it) in PyTorch eager mode and its ONNX export in ONNX
Runtime on the CPU, with the same number of threads.  Calls alternate between
the two (eager, ORT, eager, ORT, ...) so that load from other processes on a
shared machine hits both alike; the medians and their ratio are printed.
Weights are random (latency does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


#: models for --methods: one per method at its paper setting (frames), smaller crops to keep the run short
METHOD_MODELS = (("TSN", "tsn_r50"), ("TSM", "tsm_r50"), ("TEFE", "tefe_r50"), ("ATR", "tsn_atr_r50"),
                 ("ART", "art_tsm_r50"), ("TFE", "tfe_r50"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="tsm_r50", help="registered model (default tsm_r50)")
    p.add_argument("--frames", type=int, default=8, help="T (default 8)")
    p.add_argument("--size", type=int, default=224, help="crop size (default 224)")
    p.add_argument("--batch", type=int, default=1, help="clips per call (default 1)")
    p.add_argument("--classes", type=int, default=400, help="classifier size (default 400, Kinetics)")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per runtime (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per runtime first (default 3)")
    p.add_argument("--threads", default=None,
                   help="threads for both runtimes, or a comma list measured one after the other (default: torch's)")
    p.add_argument("--onnx", default=None, metavar="PATH",
                   help="keep the export here and reuse it when it exists (exporting R50 takes minutes)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo", help="ONNX exporter")
    p.add_argument("--methods", action="store_true",
                   help="instead of latency: export one model per method with the default exporter, check parity")
    p.add_argument("--methods-size", type=int, default=112, help="crop size for --methods (default 112)")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line(threads: list[int]) -> str:
    import onnxruntime as ort
    import torch

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs, load average {load} (1/5/15 min); "
            f"torch {torch.__version__}, onnxruntime {ort.__version__}; threads per runtime: "
            f"{', '.join(map(str, threads))}")


def _build(name: str, classes: int, frames: int) -> torch.nn.Module:
    from ..config import load_config
    from ..engine.build import build_model

    cfg = load_config(None, [f"model.name={name}", f"data.num_segments={frames}"])
    return build_model(cfg, classes, load_pretrained=False).eval()


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:8.1f} ms (mean {statistics.mean(samples) * 1e3:7.1f} " \
           f"+- {statistics.pstdev(samples) * 1e3:5.1f})"


def export_once(args: argparse.Namespace, workdir: Path) -> tuple[torch.nn.Module, Path, str]:
    """The model and its ONNX file (exported now, or reused from --onnx), and a line on the export."""
    from ..export import ExportedModel, export_model
    from ..models.registry import model_info

    info = model_info(args.model)
    model = _build(args.model, args.classes, args.frames)
    path = Path(args.onnx) if args.onnx else workdir / f"{args.model}.onnx"
    if path.is_file():
        meta = ExportedModel(path).metadata
        want = {"model": args.model, "num_frames": args.frames, "size": args.size, "num_classes": args.classes}
        if any(meta.get(k) != v for k, v in want.items()):
            raise SystemExit(f"{path} holds another export ({meta.get('model')}); remove it or pick another --onnx")
        # the weights differ from the ones exported (random either way): latency does not depend on them
        return model, path, f"  export: reused {path} ({path.stat().st_size / 2**20:.1f} MiB)"
    print(f"  exporting {args.model} to ONNX ({args.exporter} exporter, then the parity check): minutes for an R50 "
          "model ...", flush=True)
    t0 = time.perf_counter()
    r = export_model(model, path, num_frames=args.frames, size=args.size, mean=info.mean, std=info.std,
                     exporter=args.exporter)
    return model, path, (f"  export ({args.exporter}): {time.perf_counter() - t0:.1f}s, "
                         f"{path.stat().st_size / 2**20:.1f} MiB, max abs logit diff vs PyTorch "
                         f"{r.max_abs_diff:.2g} (tol {r.tolerance:.2g})")


def latency(model: torch.nn.Module, path: Path, args: argparse.Namespace, threads: int) -> dict[str, list[float]]:
    """Time eager and ONNX Runtime calls alternately on the same uint8 clip."""
    import onnxruntime as ort
    import torch

    from ..engine.logs import Progress
    from ..export import ExportableClassifier, example_clip
    from ..models.registry import model_info

    info = model_info(args.model)
    torch.set_num_threads(threads)
    eager = ExportableClassifier(model, info.mean, info.std).eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    clip = example_clip(args.frames, args.size, "uint8", "ncthw", batch=args.batch, seed=0)
    feed = {session.get_inputs()[0].name: clip.numpy()}
    times: dict[str, list[float]] = {"eager": [], "ort": []}
    bar = Progress(f"  {threads} thread(s): warm-up + timed call pairs (eager, ORT)", args.warmup + args.repeats,
                   stream=sys.stdout)
    with torch.inference_mode():
        for i in range(args.warmup):
            eager(clip)
            session.run(None, feed)
            bar.update(i + 1)
        for i in range(args.repeats):
            t = time.perf_counter()
            eager(clip)
            times["eager"].append(time.perf_counter() - t)
            t = time.perf_counter()
            session.run(None, feed)
            times["ort"].append(time.perf_counter() - t)
            bar.update(args.warmup + i + 1)
    bar.close()
    return times


def methods_table(args: argparse.Namespace, workdir: Path) -> list[str]:
    """One model per method through `export_model` (default exporter): exported + parity, or the blocker."""
    from ..errors import ActionlabError
    from ..export import export_model
    from ..models.registry import model_info

    lines = [f"{'method':6s} {'model':14s} {'T':>3s} {'export':>8s}  result"]
    for k, (method, name) in enumerate(METHOD_MODELS, 1):
        info = model_info(name)
        print(f"  [{k}/{len(METHOD_MODELS)}] exporting {name} ({method}) ...", flush=True)
        t0 = time.perf_counter()
        try:
            model = _build(name, 10, info.num_frames)
            r = export_model(model, workdir / f"m_{name}.onnx", num_frames=info.num_frames, size=args.methods_size,
                             mean=info.mean, std=info.std)
            status = f"ONNX ok, onnxruntime vs PyTorch max abs logit diff {r.max_abs_diff:.2g} (tol {r.tolerance:.2g})"
        except ActionlabError as e:
            status = f"NOT exported: {e}"
        lines.append(f"{method:6s} {name:14s} {info.num_frames:3d} {time.perf_counter() - t0:7.1f}s  {status}")
        print(lines[-1], flush=True)
    return lines


def run(args: argparse.Namespace) -> int:
    import torch

    thread_counts = [int(t) for t in str(args.threads).split(",")] if args.threads else [torch.get_num_threads()]
    print(machine_line(thread_counts), flush=True)
    with tempfile.TemporaryDirectory(prefix="actionlab-bench-export-") as tmp:
        if args.methods:
            torch.set_num_threads(thread_counts[0])
            print(f"export per method ({args.methods_size}x{args.methods_size}, default exporter, random weights):")
            methods_table(args, Path(tmp))
            return 0
        model, path, export_line = export_once(args, Path(tmp))
        print(f"{args.model} {args.frames}x{args.size}, batch {args.batch}, uint8 input (normalisation in the graph), "
              f"{args.repeats} alternating calls each after {args.warmup} warm-up")
        print(export_line, flush=True)
        for threads in thread_counts:
            times = latency(model, path, args, threads)
            e, o = statistics.median(times["eager"]), statistics.median(times["ort"])
            print(f"  {threads} thread{'s' if threads > 1 else ''}:")
            print(f"    PyTorch eager (CPU)    {_ms(times['eager'])}")
            print(f"    ONNX Runtime (CPU EP)  {_ms(times['ort'])}")
            print(f"    ratio eager / ORT (medians): {e / o:.2f}x ({'ORT faster' if o < e else 'eager faster'})",
                  flush=True)
    return 0
