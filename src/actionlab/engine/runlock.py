"""One training process per run directory: an advisory lock file naming its holder.

Two `train --resume auto` runs of one config resolve to the same run directory; without a
lock both would write its checkpoints and logs.  The lock is `flock` on `<run>/.lock`, held
for the whole run and released by the kernel when the process ends (a SIGKILLed run leaves
no stale lock; `--resume` works at once).  The file holds the holder's pid, host, start time
and command line, which the refused second run prints.  Where `fcntl` does not exist
(Windows) runs are not locked.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import ActionlabError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]  # no fcntl on Windows: the module or None, checked where used

_HELD: dict[str, RunLock] = {}  # this process's locks, by directory


class RunDirectoryInUse(ActionlabError):
    """Another process trains into the same run directory."""


class RunLock:
    def __init__(self, run_dir: Path, fd: int | None):
        self.run_dir = run_dir
        self.fd = fd

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunLock:
        """Lock `run_dir` for this process or raise `RunDirectoryInUse` naming the holder."""
        run_dir = Path(run_dir)
        key = str(run_dir.resolve())
        if key in _HELD:  # this process again (an earlier train() in it failed before releasing): take it over
            _HELD.pop(key).release()
        if fcntl is None:
            return cls(run_dir, None)
        path = run_dir / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                return cls(run_dir, None)  # a filesystem without locks (some network mounts): run unlocked
            raise RunDirectoryInUse(f"run directory {run_dir} is in use by {describe_holder(path)}; wait for it to "
                                    "finish or stop it (a stopped run resumes with --resume auto)") from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(holder) + "\n").encode())
        lock = cls(run_dir, fd)
        _HELD[key] = lock
        return lock

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
        _HELD.pop(str(self.run_dir.resolve()), None)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def describe_holder(lock_file: Path) -> str:
    """'pid 4242 on host gpu1 since 2026-12-02T05:01:07 (actionlab train cfg.yaml --resume auto)'."""
    try:
        info = json.loads(lock_file.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "another process"
    command = f" ({info['command']})" if info.get("command") else ""
    return f"pid {info['pid']} on host {info.get('host', '?')} since {info.get('since', '?')}{command}"
