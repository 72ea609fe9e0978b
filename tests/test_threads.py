"""Thread defaults on a shared machine (actionlab.threads): set before torch loads, sleep-waiting, free cores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import actionlab

SRC = str(Path(actionlab.__file__).resolve().parent.parent)


def _cli_in_fresh_process(argv: list[str], env: dict[str, str]) -> dict:
    """Run the CLI's main in a fresh interpreter; what the environment held when torch was first imported."""
    code = (
        "import json, os, sys\n"
        "seen = {}\n"
        "def hook(event, args):\n"
        "    if event == 'import' and args[0] == 'torch' and not seen:\n"
        "        seen.update(policy=os.environ.get('OMP_WAIT_POLICY'), threads=os.environ.get('OMP_NUM_THREADS'))\n"
        "sys.addaudithook(hook)\n"
        "from actionlab.cli import main\n"
        f"code = main({argv!r})\n"
        "import torch\n"
        "print(json.dumps({**seen, 'code': code, 'torch_threads': torch.get_num_threads()}))\n"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "PYTHONPATH"))}
    full.update(env, PYTHONPATH=SRC)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


FLOPS = ["flops", "tsn_r18_tiny", "--frames", "2", "--size", "32", "--no-memory", "--json"]


def test_cli_sets_passive_waiting_and_a_thread_count_before_torch_loads():
    seen = _cli_in_fresh_process(FLOPS, {})
    assert seen["code"] == 0
    assert seen["policy"] == "PASSIVE"  # already in the environment when torch (and OpenMP) loaded
    assert seen["threads"] is not None and 1 <= int(seen["threads"]) <= (os.cpu_count() or 1)
    assert seen["torch_threads"] == int(seen["threads"])  # torch took it as its default
    # what the user set wins
    seen = _cli_in_fresh_process(FLOPS, {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"})
    assert (seen["policy"], seen["threads"], seen["torch_threads"]) == ("ACTIVE", "1", 1)
    seen = _cli_in_fresh_process([*FLOPS, "--threads", "2"], {})
    assert seen["torch_threads"] == 2  # --threads N after the default


def test_auto_threads_use_the_free_cores():
    from actionlab.threads import auto_threads

    assert auto_threads(cores=2, busy=0.0) == 2  # idle: every core
    assert auto_threads(cores=2, busy=0.3) == 2
    assert auto_threads(cores=2, busy=1.0) == 1  # one core taken by other work
    assert auto_threads(cores=2, busy=14.0) == 1  # far more work than cores: one thread, never zero
    assert auto_threads(cores=16, busy=4.2) == 12


def test_configure_leaves_given_values_and_a_process_with_torch_alone():
    from actionlab.threads import configure_openmp

    env = {"OMP_NUM_THREADS": "3"}
    assert configure_openmp(env, busy=0.0) == {"OMP_WAIT_POLICY": "PASSIVE"} and env["OMP_NUM_THREADS"] == "3"
    env = {}
    assert configure_openmp(env, busy=0.0)["OMP_NUM_THREADS"] == str(min(len(os.sched_getaffinity(0)),
                                                                         os.cpu_count() or 1))
    import torch  # noqa: F401 - this process has torch: its OpenMP has read the environment already

    before = dict(os.environ)
    assert configure_openmp() == {} and dict(os.environ) == before


def test_logs_say_how_many_threads_and_why(monkeypatch):
    from actionlab import threads

    env = {}
    monkeypatch.setattr(threads, "_CHOICE", {})
    threads.configure_openmp(env, busy=1.9)
    monkeypatch.setenv("OMP_NUM_THREADS", env["OMP_NUM_THREADS"])
    n = int(env["OMP_NUM_THREADS"])
    assert threads.describe(n).startswith(f"{n} torch thread")
    assert "1.9 of" in threads.describe(n) and "busy with other work" in threads.describe(n)
    assert threads.describe(n + 1) == f"{n + 1} torch threads"  # set by --threads: no reason to give
