"""DataLoader worker failures as one-line errors.

With `num_workers > 0` an error raised in a worker reaches the main process re-wrapped by
PyTorch as `Caught DataError in DataLoader worker process 1. Original Traceback ...` (25
lines); `Loader` re-raises it with the worker's own one-line message, the same error as with
0 workers.  A worker killed by the OS (out of memory, a crashed decoder) becomes PyTorch's
`RuntimeError: DataLoader worker (pid(s) N) exited unexpectedly` - raised wherever the main
process happens to be, so the trainer asks `worker_died` to translate it and adds where the
last checkpoint is and how to resume.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader

from ..errors import ActionlabError

_WRAPPED = re.compile(r"^Caught \w+ in DataLoader worker process (\d+)")
_PIDS = re.compile(r"DataLoader worker \(pids?(?:\(s\))? ([\d, ]+)\)")
_SIGNAL = re.compile(r"killed by signal: (.+?)\.?\s*$")


class WorkerDiedError(ActionlabError):
    """A DataLoader worker process died (killed by the OS, or crashed): the machine's state, not the input."""

    exit_code = 1


def worker_message(e: BaseException) -> str | None:
    """The worker's own one-line message of an error PyTorch re-raised in the main process, else None."""
    text = str(e)
    if not _WRAPPED.match(text):
        return None
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else text
    return re.sub(r"^[\w.]+: ", "", last, count=1)  # "actionlab.errors.DataError: cannot read ..." -> the message


def _translated(iterator: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from iterator
    except ActionlabError as e:
        message = worker_message(e)
        if message is None:
            raise
        raise type(e)(message) from None


class Loader(DataLoader):
    """A DataLoader whose workers' user errors arrive as the same one-line errors as with 0 workers."""

    worker_pids: list[int] = []
    worker_processes: list[Any] = []

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]  # torch types it as _BaseDataLoaderIter
        iterator = super().__iter__()
        self.worker_processes = list(getattr(iterator, "_workers", []))
        self.worker_pids = [int(w.pid) for w in self.worker_processes if w.pid is not None]
        return _translated(iterator)


def worker_died(e: BaseException, loaders: list[Any] | tuple[Any, ...] = ()) -> str | None:
    """'DataLoader worker 1 (pid 4242) was killed by signal SIGKILL ...' for PyTorch's worker-death
    RuntimeError (None for any other error); `loaders` (the `Loader`s in use) tell which worker it was."""
    if not isinstance(e, RuntimeError):
        return None
    text = str(e)
    found = _PIDS.search(text)
    if found is None or ("exited unexpectedly" not in text and "killed by signal" not in text):
        return None
    pids = [int(p) for p in re.findall(r"\d+", found.group(1))]
    names = []
    exit_code = None
    for pid in pids:
        worker = next((f"DataLoader worker {ids.index(pid)}" for ids in
                       (getattr(ld, "worker_pids", []) for ld in loaders) if pid in ids), "a DataLoader worker")
        names.append(f"{worker} (pid {pid})")
        for proc in (p for ld in loaders for p in getattr(ld, "worker_processes", [])):
            if proc.pid == pid and proc.exitcode is not None:
                exit_code = proc.exitcode  # negative: the signal that ended it
    how = _SIGNAL.search(text)
    sig = how.group(1).strip() if how else (str(-exit_code) if exit_code is not None and exit_code < 0 else None)
    if sig is None:  # "exited unexpectedly": the exit status is gone; SIGKILL (the OOM killer) is the usual cause
        return f"{', '.join(names)} died unexpectedly (killed by the system, e.g. out of memory, or crashed)"
    if sig.isdigit():
        try:
            sig = signal.Signals(int(sig)).name
        except ValueError:
            pass
    hint = " - the system may have run out of memory" if "kill" in sig.lower() else ""
    return f"{', '.join(names)} was killed by signal {sig}{hint}"
