"""Run metrics: `metrics.jsonl` (one JSON object a line, appended across restarts) and TensorBoard events.

Only process 0 writes; other processes get a logger that drops everything.
"""
from __future__ import annotations

import json
import math
import pathlib
from typing import Any, TextIO

import jax

from jaxformer.rundir import RunDir


class MetricsLogger:
    def __init__(self, run_dir: str | pathlib.Path, enabled: bool | None = None):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        run = RunDir(run_dir)
        self.path = run.metrics
        self._file: TextIO | None = None
        self._tb: Any = None
        if self.enabled:
            self._file = self.path.open("a", buffering=1)
            from tensorboardX import (
                SummaryWriter,  # imported lazily: only the writing process needs it
            )
            self._tb = SummaryWriter(str(run.tensorboard))

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        step = int(record["step"])
        for key, value in record.items():
            if key != "step" and isinstance(value, (int, float)) and value is not None:
                self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._tb.close()
            self._file = self._tb = None


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
