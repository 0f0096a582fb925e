"""An exclusive lock on a run directory: one trainer at a time writes its checkpoints and metrics.

`fcntl.flock` on RUN/.lock, held for the whole run; the kernel releases it when the process dies (even under
kill -9), so a stale lock file never blocks a restart. The file holds the holder's PID and host for the message
a second trainer gets.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
from typing import Any

from jaxformer.rundir import RunDir


class RunLockedError(OSError):
    """Another process holds the run directory's lock."""


class RunLock:
    """Context manager: take RUN/.lock or raise RunLockedError naming its holder."""

    def __init__(self, run: RunDir):
        self.path = run.lock
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"run directory {self.path.parent} is in use by another trainer (PID {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')}); wait for it to finish or stop it (a stopped trainer saves a checkpoint), "
                "then rerun to resume, or pass another --run-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode() + b"\n")
        os.fsync(fd)
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock; the file stays (its content is only informative)
            self._fd = None


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data.decode() or "{}")
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}
