"""actionlab bench threads: torch CPU threads on a busy machine - 1 thread vs torch's default vs actionlab's.

    actionlab bench threads                  # the machine as it is
    actionlab bench threads --load 2         # plus 2 busy-looping processes (a machine whose cores are taken)

Each setting runs the same work in a fresh process (OpenMP reads its environment when torch loads):

  1 thread        torch.set_num_threads(1)
  torch default   one thread per core, OpenMP threads spin while they wait (actionlab's default before)
  cores, passive  one thread per core, OMP_WAIT_POLICY=PASSIVE
  actionlab       actionlab's default (`actionlab.threads`): OMP_WAIT_POLICY=PASSIVE and as many threads as
                  cores are free of other work when the process starts

Work: `train` and `test` are the demo recipe's (`tsm_r18_tiny`, batches of 16 clips of 8 x 32 x 32 in memory:
a training step - forward, cross-entropy, backward, SGD - or a forward without gradients); `r50` is one clip
of TSM-R50 at 8 x 112 x 112 without gradients (a model big enough for threads to pay off on an idle machine).
The settings take turns (`--rounds`), so a load that changes during the run touches all of them alike; each
measurement runs `--seconds` (at least 3 steps after 2 warm-up steps).  Printed: clips/s (wall clock) and CPU
ms per clip, medians over the rounds, and both as ratios to 1 thread of the same round (median and range over the
rounds: on a busy machine the wall clock follows the load, the CPU time much less).  The figures:
benchmarks/threads.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

_UNSET = {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": None}
SETTINGS: dict[str, dict[str, Any]] = {
    "1 thread": {"threads": 1, "env": _UNSET},
    "torch default": {"threads": 0, "env": _UNSET},
    "cores, passive": {"threads": 0, "env": {**_UNSET, "OMP_WAIT_POLICY": "PASSIVE"}},
    "actionlab": {"threads": 0, "env": _UNSET, "configure": True},
}
# work -> (model, clips per step, crop size, training step?)
WORKLOADS: dict[str, tuple[str, int, int, bool]] = {
    "train": ("tsm_r18_tiny", 16, 32, True),
    "test": ("tsm_r18_tiny", 16, 32, False),
    "r50": ("tsm_r50", 1, 112, False),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--load", type=int, default=0, metavar="N",
                   help="start N busy-looping processes for the whole run (a machine whose cores are taken)")
    p.add_argument("--rounds", type=int, default=3, help="turns of every setting (medians are printed)")
    p.add_argument("--seconds", type=float, default=15.0, help="measured seconds per setting and round")
    p.add_argument("--work", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS), help="what is timed")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), help="which settings")


def measure(work: str, threads: int, seconds: float, configure: bool = False) -> dict[str, float]:
    """In this process (torch imported here): steps of `work` for about `seconds`; clips/s and CPU s/clip."""
    if configure:
        from ..threads import configure_openmp

        configure_openmp()
    import torch

    from ..models.registry import create_model

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    name, batch, size, training = WORKLOADS[work]
    model = create_model(name, num_classes=8 if training else 400)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 3, 8, size, size), torch.randint(0, 8, (batch,))

    def step() -> None:
        if training:
            loss = torch.nn.functional.cross_entropy(model(x).logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    model.train(training)
    for _ in range(2):  # warm-up: allocator, kernels, thread pool
        step()
    steps, wall0, cpu0 = 0, time.perf_counter(), time.process_time()
    while steps < 3 or time.perf_counter() - wall0 < seconds:
        step()
        steps += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"clips_per_s": steps * batch / wall, "cpu_ms_per_clip": cpu * 1e3 / (steps * batch),
            "threads": torch.get_num_threads(), "steps": steps}


def _run_setting(name: str, work: str, args: argparse.Namespace) -> dict[str, float]:
    """`measure` in a fresh interpreter with the setting's environment."""
    setting = SETTINGS[name]
    env = dict(os.environ)
    for key, value in setting["env"].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    code = ("import json, sys; from actionlab.bench.threads import measure; "
            f"print(json.dumps(measure({work!r}, {setting['threads']}, {args.seconds}, "
            f"{setting.get('configure', False)})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _busy_loops(n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def _ratio(values: list[float], base: list[float]) -> str:
    """Median of the per-round ratios, with their range: 'median (min-max)'."""
    ratios = sorted(v / b for v, b in zip(values, base))
    return f"{statistics.median(ratios):.2f}x" + (f" ({ratios[0]:.2f}-{ratios[-1]:.2f})" if len(ratios) > 1 else "")


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def run(args: argparse.Namespace) -> int:
    from ..engine.reports import format_table

    total = args.rounds * len(args.work) * len(args.settings)
    print(f"bench threads: {os.cpu_count()} cores, load average {_load()} (1/5/15 min) before; "
          f"{args.load} busy loop(s) added; {total} measurements of ~{args.seconds:g} s "
          f"(each in a fresh process)", flush=True)
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    loops = _busy_loops(args.load)
    started, done = time.perf_counter(), 0
    try:
        for r in range(args.rounds):
            for work in args.work:
                for name in args.settings:
                    res = _run_setting(name, work, args)
                    results.setdefault((work, name), []).append(res)
                    done += 1
                    eta = (time.perf_counter() - started) / done * (total - done)
                    print(f"  [{done}/{total}] round {r + 1} {work:5s} {name:14s} {res['threads']} thread(s): "
                          f"{res['clips_per_s']:7.1f} clips/s, {res['cpu_ms_per_clip']:6.1f} CPU ms/clip "
                          f"(load {_load()}; about {eta / 60:.1f} min left)", flush=True)
    finally:
        for p in loops:
            p.kill()
            p.wait()
    print(f"\nload average after: {_load()}; clips/s and CPU: medians over {args.rounds} round(s); ratios to "
          "'1 thread': median of the rounds' ratios (range)")
    for work in args.work:
        base = results.get((work, "1 thread"))
        rows = []
        for name in args.settings:
            measured = results[(work, name)]
            speed = statistics.median(r["clips_per_s"] for r in measured)
            cpu = statistics.median(r["cpu_ms_per_clip"] for r in measured)
            row = {"setting": name, "threads": str(measured[0]["threads"]), "clips/s": f"{speed:.1f}",
                   "CPU ms/clip": f"{cpu:.1f}"}
            if base:  # per round (the settings of a round ran back to back, under about the same load), then median
                row["speed vs 1 thread"] = _ratio([r["clips_per_s"] for r in measured],
                                                  [b["clips_per_s"] for b in base])
                row["CPU vs 1 thread"] = _ratio([r["cpu_ms_per_clip"] for r in measured],
                                                [b["cpu_ms_per_clip"] for b in base])
            rows.append(row)
        model, batch, size, training = WORKLOADS[work]
        what = "training step" if training else "forward"
        print(f"\n{work}: {model}, {what}, {batch} clip(s) of 8 x {size} x {size}")
        print(format_table(rows, list(rows[0])))
    return 0
