"""concurrency: (1) a second `transcend train` on a run directory in use must be refused with a message naming
the holder's PID, and leave the first run's metrics one line per step; (2) two unsharded `transcend eval`
workers on one step must together play exactly the plan, no game twice."""
from __future__ import annotations

import pathlib
import random
import signal

from experiments.robustness.common import (
    Outcome,
    eval_args,
    eval_problem,
    finish,
    log,
    random_anchor_table,
    run_cli,
    start,
    tiny_data,
    tiny_run,
    train_args,
    train_metrics,
    wait_until,
)

LONG_STEPS = 100_000  # the first trainer must still run when the second starts; it is stopped by SIGINT
EVAL_GAMES = 12
DEFAULT_TRIALS = 2


def run(work: pathlib.Path, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("concurrency")
    root = outcome.fresh_root(work)
    data = tiny_data(work)
    for trial in range(trials):
        outcome.record(f"trainers{trial}", _two_trainers(root / f"trainers{trial}", data))
    model, anchors = tiny_run(work), random_anchor_table(work)
    for trial in range(trials):
        outcome.record(f"evaluators{trial}", _two_evaluators(root / f"evaluators{trial}", model, anchors))
    return outcome


def _two_trainers(run: pathlib.Path, data: pathlib.Path) -> str | None:
    args = train_args(run, data, LONG_STEPS, 50)
    first = start(args, run.parent / f"{run.name}.first.log")
    try:
        if not wait_until(first, lambda: len(train_metrics(run)) >= 3, timeout=600):
            done = finish(first, run.parent / f"{run.name}.first.log", 10)
            return f"the first trainer ended before its third step (exit {done.rc}): {done.last_line()}"
        second = run_cli(args, run.parent / f"{run.name}.second.log", timeout=300)
        log.info("concurrency %s: the second trainer exited %s: %s", run.name, second.rc, second.last_line())
        if second.rc in (0, None):
            return f"the second trainer was not refused (exit {second.rc}): {second.last_line()}"
        if second.traceback:
            return f"the second trainer's refusal is a traceback: {second.last_line()}"
        if str(first.pid) not in second.output:
            return f"the refusal does not name the holder's PID {first.pid}: {second.last_line()}"
        if first.poll() is not None:
            return f"the first trainer died (exit {first.returncode}) while the second was refused"
    finally:
        first.send_signal(signal.SIGINT)  # a stopped trainer saves a checkpoint and exits 130
        stopped = finish(first, run.parent / f"{run.name}.first.log", 120)
    steps = [m["step"] for m in train_metrics(run)]
    if any(b <= a for a, b in zip(steps, steps[1:])):
        return f"metrics.jsonl is not one line per step, strictly increasing: {steps[:50]}"
    if stopped.rc != 130:
        return f"the first trainer, stopped by SIGINT, exited {stopped.rc}, not 130: {stopped.last_line()}"
    return None


def _two_evaluators(out: pathlib.Path, model: pathlib.Path, anchors: pathlib.Path) -> str | None:
    args = eval_args(model, out, anchors, EVAL_GAMES)
    procs = [start(args, out.parent / f"{out.name}.worker{i}.log") for i in range(2)]
    done = [finish(p, out.parent / f"{out.name}.worker{i}.log", 600) for i, p in enumerate(procs)]
    for i, d in enumerate(done):
        if d.rc != 0 or d.traceback:
            return f"worker {i} exited {d.rc}: {d.last_line()}"
    return eval_problem(out, EVAL_GAMES)
