"""torch's CPU threads on a shared machine: set before torch is imported (this module imports nothing heavy).

torch's CPU kernels run on an OpenMP thread pool (GNU libgomp in the pip wheels), one thread per core by
default.  Two things go wrong when other jobs keep the cores busy (benchmarks/threads.md, `actionlab bench
threads`):

- a thread that reaches the end of a parallel region *spins* (busy-waits) for the others before it sleeps;
  the thread it waits for is often not running, and the spinning burns the CPU it needs: the demo's
  training step ran ~28x slower with 2 threads than with 1 on the shared 2-core machine, at ~14x the CPU
  time.  `OMP_WAIT_POLICY=PASSIVE` makes waiting threads sleep at once;
- even then every parallel region waits for its slowest thread, which waits for a core: 2 threads ran at
  0.5-0.6x the speed of 1 there.  So the thread count follows the cores that are free when the command
  starts (`auto_threads`): all of them on an idle machine, one on a busy one.

OpenMP reads both variables once, when its runtime loads with torch: `configure_openmp()` runs before the
first `import torch` (the CLI's entry point calls it first thing).  Values the user set (`OMP_WAIT_POLICY`,
`OMP_NUM_THREADS`, or `--threads N` / `runtime.threads`, which call torch.set_num_threads later) win.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import MutableMapping

WAIT_POLICY = "PASSIVE"
SAMPLE_SECONDS = 0.25  # how long `auto_threads` watches the CPUs


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask: taskset / containers), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat; None where there is no /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    return total - idle, total


def busy_cores(sample_seconds: float = SAMPLE_SECONDS) -> float:
    """How many cores other work keeps busy now: /proc/stat over `sample_seconds` (this process sleeps
    meanwhile), else the 1-minute load average; 0.0 when neither can be read."""
    first = _cpu_times()
    if first is not None:
        time.sleep(sample_seconds)
        second = _cpu_times()
        if second is not None and second[1] > first[1]:
            share = (second[0] - first[0]) / (second[1] - first[1])
            return max(0.0, share) * (os.cpu_count() or 1)
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def auto_threads(cores: int | None = None, busy: float | None = None) -> int:
    """Threads for torch now: the cores not busy with other work, rounded, at least 1 (every core when idle)."""
    cores = cpu_count() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    return max(1, min(cores, int(cores - busy + 0.5)))


# what configure_openmp chose, for logs (`describe`)
_CHOICE: dict[str, object] = {}


def configure_openmp(environ: MutableMapping[str, str] | None = None, busy: float | None = None
                     ) -> dict[str, str]:
    """Set OMP_WAIT_POLICY=PASSIVE and OMP_NUM_THREADS=`auto_threads()` where the environment leaves them unset;
    returns what it set (child processes inherit it).

    Does nothing once torch is imported (OpenMP has read its settings by then; setting them now would make the
    environment claim a setting the process does not run with).
    """
    env = os.environ if environ is None else environ
    if environ is None and "torch" in sys.modules:
        return {}
    changed: dict[str, str] = {}
    if not env.get("OMP_WAIT_POLICY"):
        changed["OMP_WAIT_POLICY"] = WAIT_POLICY
    if not env.get("OMP_NUM_THREADS"):
        cores = cpu_count()
        busy = busy_cores() if busy is None else busy
        changed["OMP_NUM_THREADS"] = str(auto_threads(cores, busy))
        _CHOICE.update(cores=cores, busy=busy)
    env.update(changed)
    return changed


def describe(threads: int) -> str:
    """torch's thread count and why, for logs: e.g. '1 torch thread (chosen: 1.8 of 2 cores busy with other work
    at start)'."""
    text = f"{threads} torch thread{'s' if threads != 1 else ''}"
    if _CHOICE and os.environ.get("OMP_NUM_THREADS") == str(threads):
        text += f" (chosen: {_CHOICE['busy']:.1f} of {_CHOICE['cores']} cores busy with other work at start)"
    return text
