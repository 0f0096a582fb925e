"""The demo's stages: each a `transcend` subprocess, its output shown live and kept in OUT/logs/STAGE.log, its
wall time in OUT/timings.json; SIGINT/SIGTERM are passed on to the running stage, which saves its work."""
from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

from safeio import write_json_atomic


class StageInterrupted(Exception):
    """The demo was interrupted (SIGINT/SIGTERM) while a stage ran; the stage got the signal and has exited."""

    def __init__(self, stage: str, signum: int, returncode: int):
        super().__init__(f"demo: interrupted during stage {stage!r} ({signal.Signals(signum).name}); the stage saved "
                         f"its work and exited ({returncode}): rerun the same command to continue")
        self.signum = signum


class _ForwardSignals:
    """While a stage runs, SIGINT and SIGTERM sent to the demo are passed on to the stage's process (one that came
    before the process started is passed on when it does). A stage still running after KILL_AFTER signals is
    killed with its process group: the way out of a stage that hangs."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    KILL_AFTER = 3

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _ForwardSignals:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def attach(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        if self.signum is not None:
            self._forward()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signum = signum
        self.count += 1
        if self.proc is not None:
            self._forward()

    def _forward(self) -> None:
        assert self.proc is not None and self.signum is not None
        if self.proc.poll() is not None:
            return
        if self.count >= self.KILL_AFTER:
            print(f"\ndemo: signalled {self.count} times; killing the stage", file=sys.stderr, flush=True)
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(self.signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Stages:
    """Runs `transcend` subcommands, showing their output live and teeing it to a log per stage
    (OUT/logs/NAME.log; an arm's stage is named ARM.STAGE, e.g. diverse.train)."""

    def __init__(self, out: pathlib.Path, total: int = 1):
        self.out = out
        self.total = total  # stages in the plan, for the banners' [n/total]
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # A rerun keeps the times of stages finished earlier (they are skipped now).
        previous = out / "timings.json"
        self.timings: dict[str, float] = json.loads(previous.read_text())["stages_s"] if previous.is_file() else {}
        self.t0 = time.time()

    def banner(self, n: int, name: str, what: str) -> None:
        print(f"\n=== [{n}/{self.total}] {name}: {what}  (demo time {self.clock()}) ===", flush=True)

    def skip(self, name: str, why: str) -> None:
        print(f"    skipped: {why}", flush=True)
        self.timings.setdefault(name, 0.0)

    def run(self, name: str, args: list[str]) -> None:
        """Run one stage to its end. SIGINT/SIGTERM (Ctrl-C) are forwarded to the stage, which saves its work and
        exits (training saves a checkpoint), then the demo stops with exit 128+signal (130 for Ctrl-C)."""
        cmd = [sys.executable, "-m", "experiments.cli", *args]
        print("    $ transcend " + " ".join(args), flush=True)
        start = time.time()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Its own process group: the terminal's Ctrl-C reaches only the demo, which forwards it to the stage
        # alone, so the stage's own children (engines, loader workers) are stopped by the stage, not twice.
        with _ForwardSignals() as forwarded, open(self.logs / f"{name}.log", "wb") as log, \
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, process_group=0) as proc:
            forwarded.attach(proc)
            assert proc.stdout is not None
            while chunk := proc.stdout.read1(65536):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                log.write(chunk)
            rc = proc.wait()
        self.timings[name] = round(time.time() - start, 1)
        self._save()
        if forwarded.signum is not None:
            raise StageInterrupted(name, forwarded.signum, rc)
        if rc != 0:
            raise SystemExit(f"demo: stage {name!r} failed (exit code {rc}); its log is {self.logs / name}.log. "
                             "Fix the problem and rerun: finished stages are skipped.")
        print(f"    {name} done in {self.timings[name]:.0f} s", flush=True)

    def clock(self) -> str:
        s = int(time.time() - self.t0)
        return f"{s // 60}:{s % 60:02d}"

    def _save(self) -> None:
        total = round(sum(self.timings.values()), 1)
        write_json_atomic(self.out / "timings.json", {"stages_s": self.timings, "total_s": total})
