"""Claims on planned games, so that concurrent workers on one games directory split its games.

A worker claims each game just before it starts it: DIR/claims/GAME_ID is a small JSON file naming
the claimant (host, boot, pid and the process's start time). Every claim, takeover, finish and
release happens under one exclusive POSIX lock (`fcntl.lockf` on DIR/claims/lock), so "is it free?
then it is mine" is one atomic step, on one host and on a shared filesystem with POSIX locks (NFSv4;
Lustre mounted with `flock`). GameStore appends under the same lock, so concurrent workers never
interleave their writes to a games file.

A claim is finished once its game is recorded and is never taken over after that (to evaluate a step
again, move its whole directory aside, claims included). An unfinished claim is taken over when its
owner is gone: on this host when its process no longer runs (the start time guards against a reused
pid, the boot id against a reboot); on another host, whose processes cannot be seen, when it is older
than FOREIGN_CLAIM_TIMEOUT_S. A worker that stops (Ctrl-C, an error) releases its unfinished claims;
one killed outright leaves them for the rules above.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import pathlib
import socket
import time
from collections.abc import Callable, Iterator

from safeio import write_json_atomic

log = logging.getLogger(__name__)
CLAIMS = "claims"
LOCK = "lock"
FOREIGN_CLAIM_TIMEOUT_S = 6 * 3600  # generous: no evaluation game runs for hours


def _read_first_line(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.readline().strip()
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22); None where unknown."""
    stat = _read_first_line(f"/proc/{pid}/stat")
    if not stat:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # fields after "(comm)" start at field 3


def _boot_id() -> str | None:
    return _read_first_line("/proc/sys/kernel/random/boot_id")


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True


class ClaimBoard:
    """The claims of one games directory, held by this process."""

    def __init__(self, games_dir: pathlib.Path, recorded: Callable[[], set[str]] = set):
        """`recorded` returns the game ids already on disk; asked only before taking over a stale claim (a worker
        killed between recording a game and marking its claim finished)."""
        self.dir = pathlib.Path(games_dir) / CLAIMS
        self.dir.mkdir(parents=True, exist_ok=True)
        self.recorded = recorded
        self.owner = {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(),
                      "start": _process_start(os.getpid())}
        self._lock_fd = os.open(self.dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        self._mine: set[str] = set()  # claimed by this process, not yet finished

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The directory's exclusive lock (between processes; callers in one process use one thread)."""
        fcntl.lockf(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)

    def _path(self, game_id: str) -> pathlib.Path:
        return self.dir / f"{game_id}.json"

    def _read(self, game_id: str) -> dict | None:
        try:
            return json.loads(self._path(game_id).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # unreadable: written by no live worker (claims are written atomically)
            return {}

    def _owner_gone(self, claim: dict) -> bool:
        if claim.get("host") != self.owner["host"]:
            return time.time() - float(claim.get("at", 0)) > FOREIGN_CLAIM_TIMEOUT_S
        if claim.get("boot") != self.owner["boot"]:
            return True
        pid = int(claim.get("pid", -1))
        if pid <= 0 or not _process_runs(pid):
            return True
        start = _process_start(pid)
        return start is not None and claim.get("start") is not None and start != claim["start"]

    def claim(self, game_id: str) -> bool:
        """True when this process may play the game now (it holds its claim); False when another worker has it or
        has finished it."""
        with self.locked():
            held = self._read(game_id)
            if held is not None:
                if held.get("finished") or not self._owner_gone(held):
                    return False
                if game_id in self.recorded():
                    write_json_atomic(self._path(game_id), {**held, "finished": True}, indent=None)
                    return False
                log.info("game %s: taking over the claim of %s pid %s, which has stopped", game_id,
                         held.get("host"), held.get("pid"))
            write_json_atomic(self._path(game_id), {**self.owner, "at": time.time(), "finished": False}, indent=None)
        self._mine.add(game_id)
        return True

    def finish(self, game_id: str) -> None:
        """The game is recorded: its claim is final."""
        with self.locked():
            write_json_atomic(self._path(game_id), {**self.owner, "at": time.time(), "finished": True}, indent=None)
        self._mine.discard(game_id)

    def release_unfinished(self) -> int:
        """Give up this process's unfinished claims (it stops); returns how many."""
        released = 0
        with self.locked():
            for game_id in sorted(self._mine):
                held = self._read(game_id)
                if held and held.get("pid") == self.owner["pid"] and held.get("host") == self.owner["host"] \
                        and not held.get("finished"):
                    self._path(game_id).unlink()
                    released += 1
        self._mine.clear()
        return released

    def close(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
