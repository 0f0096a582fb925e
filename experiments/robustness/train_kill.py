"""train-kill: SIGKILL a tiny training run at a random step after its first checkpoint, resume it to the end,
and compare the final weights and metrics.jsonl with an uninterrupted run: a trial passes when they are
bit-identical (and metrics.jsonl has one line per step, strictly increasing)."""
from __future__ import annotations

import pathlib
import random
import signal

from experiments.robustness.common import (
    Outcome,
    checkpoint_steps,
    finish,
    log,
    metrics_problem,
    probe,
    run_cli,
    start,
    tiny_data,
    train_args,
    train_metrics,
    wait_until,
)

STEPS, EVERY = 40, 4
DEFAULT_TRIALS = 10


def run(work: pathlib.Path, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("train-kill")
    root = outcome.fresh_root(work)
    data = tiny_data(work)
    reference = _reference(root, data)
    killed_at = []
    for trial in range(trials):
        reason, step = _trial(root / f"trial{trial}", data, reference, rng)
        outcome.record(trial, reason)
        killed_at.append(step)
    outcome.figures = {"steps": STEPS, "checkpoint_every": EVERY, "killed_after_step": killed_at}
    return outcome


def _reference(root: pathlib.Path, data: pathlib.Path) -> tuple[dict, list[dict]]:
    run = root / "reference"
    log.info("train-kill: the uninterrupted reference run (%d steps)", STEPS)
    done = run_cli(train_args(run, data, STEPS, EVERY), root / "reference.log")
    if done.rc != 0:
        raise RuntimeError(f"the reference run failed ({done.rc}): {done.last_line()}")
    return probe(run, root / "reference.probe.log"), train_metrics(run)


def _trial(run: pathlib.Path, data: pathlib.Path, reference: tuple[dict, list[dict]],
           rng: random.Random) -> tuple[str | None, int | None]:
    """(failure reason or None, the last step in metrics.jsonl when the kill came)."""
    target = rng.randint(EVERY + 1, STEPS - 1)
    args = train_args(run, data, STEPS, EVERY)
    log_path = run.parent / f"{run.name}.first.log"
    proc = start(args, log_path)

    def past_target() -> bool:
        lines = train_metrics(run)
        return bool(checkpoint_steps(run)) and bool(lines) and lines[-1]["step"] >= target

    reached = wait_until(proc, past_target, timeout=600)
    proc.send_signal(signal.SIGKILL)
    first = finish(proc, log_path, timeout=60)
    if not reached:
        return f"the run ended (exit {first.rc}) before the kill after step {target}: {first.last_line()}", None
    lines = train_metrics(run)
    killed_after = lines[-1]["step"] if lines else None
    log.info("train-kill %s: killed after step %s (checkpoints %s); resuming", run.name, killed_after,
             checkpoint_steps(run))
    resumed = run_cli(args, run.parent / f"{run.name}.resume.log")
    if resumed.rc != 0 or resumed.traceback:
        return f"the resumed run exited {resumed.rc}: {resumed.last_line()}", killed_after
    got = probe(run, run.parent / f"{run.name}.probe.log")
    ref_params, ref_metrics = reference
    if got != ref_params:
        return f"final weights differ from the uninterrupted run's: {got} vs {ref_params}", killed_after
    return metrics_problem(train_metrics(run), ref_metrics), killed_after
