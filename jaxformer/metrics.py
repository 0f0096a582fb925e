"""Run metrics: `metrics.jsonl` (one JSON object a line) and TensorBoard events.

A resumed run first cuts both back to the restored step (metrics.jsonl rewritten atomically, TensorBoard told
to purge later events), so every step has one line and loss curves never double back. `flush()` at each
checkpoint puts the events on disk, so a kill -9 loses none before the step it resumes from.
Only process 0 writes; other processes get a logger that drops everything.
"""
from __future__ import annotations

import json
import logging
import math
import os
import pathlib
from typing import Any, TextIO

import jax

from jaxformer.rundir import RunDir
from safeio import read_jsonl, write_text_atomic

log = logging.getLogger(__name__)


class MetricsLogger:
    """Appends metrics from `resume_step` on: lines (and TensorBoard events) of later steps are dropped first."""

    def __init__(self, run_dir: str | pathlib.Path, resume_step: int = 0, enabled: bool | None = None):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        run = RunDir(run_dir)
        self.path = run.metrics
        self._file: TextIO | None = None
        self._tb: Any = None
        if self.enabled:
            truncate_metrics(self.path, resume_step)
            self._file = self.path.open("a", buffering=1)
            from tensorboardX import (
                SummaryWriter,  # imported lazily: only the writing process needs it
            )
            # purge_step: TensorBoard hides events of this step and later written before the restart
            self._tb = SummaryWriter(str(run.tensorboard), purge_step=resume_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and value is not None:
                self._tb.add_scalar(key, value, step)

    def flush(self) -> None:
        """Put every metric written so far on disk (called at each checkpoint)."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._tb.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._tb.close()
            self._file = self._tb = None


def truncate_metrics(path: pathlib.Path, last_step: int) -> None:
    """Rewrite metrics.jsonl (atomically) to end at `last_step`: a resumed run logs the later steps again."""
    if not path.exists():
        return
    rows = read_jsonl(path)  # a line cut by a kill is dropped here too
    kept = [r for r in rows if isinstance(r, dict) and int(r.get("step", 0)) <= last_step]
    data = path.read_bytes()
    if len(kept) == len(rows) and (not data or data.endswith(b"\n")):
        return  # nothing after the step and no cut line: leave the file as it is
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))
    log.info("%s: dropped %d lines after step %d (they are logged again from the restored step)",
             path, len(rows) - len(kept), last_step)


def read_metrics(run_dir: str | pathlib.Path) -> list[dict[str, Any]]:
    """metrics.jsonl's rows. A crash can cut the last line short (it is dropped); an unreadable line
    elsewhere, or one without `step`, is corruption and an error."""
    path = RunDir(run_dir).metrics
    lines = path.read_text().splitlines()
    rows = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if lineno == len(lines):
                break
            raise ValueError(f"{path}:{lineno}: not JSON ({err}); the metrics file is corrupt") from None
        if "step" not in row:
            raise ValueError(f"{path}:{lineno}: a metrics line without 'step'")
        rows.append(row)
    return rows
