"""The local executor: every stage of the plan, one after another, on this machine; a rerun continues.

Finished work is skipped (experiments.sweep.state): a population with its manifest, a run trained to train.steps
and fully evaluated at that step, a report newer than every rating. An unfinished stage is simply rerun: train
resumes from its last checkpoint and eval plays only the games its files lack. Each stage's output is shown
and kept in OUT/logs/NAME.STAGE.log.
"""
from __future__ import annotations

import logging
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any

from experiments.sweep import state
from experiments.sweep.plan import Plan, shell

log = logging.getLogger(__name__)


class StageFailed(Exception):
    """A stage exited with an error; its log says why."""


def run_stage(args: list[str], log_path: pathlib.Path) -> None:
    """`transcend ARGS` to its end, its output shown and appended to `log_path`. Ctrl-C reaches the stage too (same
    process group) and SIGTERM is passed on, so the stage saves its work; then KeyboardInterrupt is raised."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"    $ {shell(args)}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "ab") as out, subprocess.Popen([sys.executable, "-m", "experiments.cli", *args],
                                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) as proc:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signum))
        interrupted = False
        try:
            assert proc.stdout is not None
            while True:
                try:
                    chunk = os.read(proc.stdout.fileno(), 65536)
                except KeyboardInterrupt:  # the stage got the same Ctrl-C: let it save and exit
                    interrupted = True
                    continue
                if not chunk:
                    break
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                out.write(chunk)
            rc = proc.wait()
        finally:
            signal.signal(signal.SIGTERM, previous)
    if interrupted or rc in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        raise KeyboardInterrupt
    if rc != 0:
        raise StageFailed(f"`{shell(args)}` failed (exit code {rc}); its log is {log_path}")


def execute(plan: Plan) -> dict[str, Any]:
    """Run what is unfinished; returns counts of what ran and what was skipped."""
    logs = pathlib.Path(plan.out) / "logs"
    ran = {"data": 0, "train": 0, "eval": 0, "report": 0}
    skipped = 0
    for data in plan.data:
        if state.data_ready(data):
            print(f"population {data.name}: ready ({data.manifest_json}), skipped", flush=True)
            continue
        print(f"population {data.name}: synth, then build", flush=True)
        if not pathlib.Path(data.population_json).is_file():
            run_stage(data.synth, logs / f"{data.name}.synth.log")
        run_stage(data.build, logs / f"{data.name}.build.log")
        ran["data"] += 1
    for k, run in enumerate(plan.runs, 1):
        head = f"[{k}/{len(plan.runs)}] {run.name}"
        if state.finished(run):
            print(f"{head}: trained to step {run.train_steps} and evaluated, skipped", flush=True)
            skipped += 1
            continue
        if not state.trained(run):
            print(f"{head}: train to step {run.train_steps} (resumes from its last checkpoint)", flush=True)
            run_stage(run.train, logs / f"{run.name}.train.log")
            ran["train"] += 1
        print(f"{head}: eval, {run.planned_games} games at each of {len(run.temperatures)} temperatures "
              f"(recorded games are kept)", flush=True)
        run_stage(run.eval, logs / f"{run.name}.eval.log")
        ran["eval"] += 1
    if state.reported(plan):
        print(f"report: {plan.report_dir} is newer than every rating, skipped", flush=True)
    else:
        print(f"report over {len(plan.runs)} runs", flush=True)
        run_stage(plan.report, logs / "report.log")
        ran["report"] += 1
    return {"ran": ran, "skipped_runs": skipped}
