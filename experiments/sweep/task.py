"""One scheduled task of a sweep: `python -m experiments.sweep.task OUT/sweep.json STAGE [NAME]`.

What SLURM array tasks run (experiments/sweep/slurm.py). It runs the plan's own `transcend` commands in this
process, so the signal a scheduler sends on preemption reaches the stage directly: training saves a checkpoint
on SIGTERM (its own handler), and every other stage gets SIGTERM as Ctrl-C (evaluation then keeps its recorded
games and releases the games it had claimed, so the requeued task takes them over at once). A stage that has
already finished returns at once, so a requeued or resubmitted task never redoes work.
"""
from __future__ import annotations

import logging
import pathlib
import signal
import sys

from experiments import cli
from experiments.sweep import state
from experiments.sweep.plan import Plan, load_plan, shell

log = logging.getLogger("sweep.task")


def transcend(args: list[str]) -> int:
    print(f"$ {shell(args)}", flush=True)
    return cli.main(list(args))


def run_task(plan: Plan, stage: str, name: str | None) -> int:
    """The stage of one plan entry (a population for `data`, a run for `train` / `eval`, nothing for `report`)."""
    if stage == "data":
        data = plan.data_entry(str(name))
        if not pathlib.Path(data.population_json).is_file():
            rc = transcend(data.synth)
            if rc:
                return rc
        return 0 if state.data_ready(data) else transcend(data.build)
    if stage == "report":
        return transcend(plan.report)
    run = plan.run(str(name))
    if stage == "train":
        if state.trained(run):
            print(f"{run.name}: already trained to step {run.train_steps}", flush=True)
            return 0
        return transcend(run.train)
    if stage == "eval":
        if state.evaluated(run):
            print(f"{run.name}: step {run.train_steps} already fully evaluated", flush=True)
            return 0
        return transcend(run.eval)
    raise ValueError(f"unknown stage {stage!r}: expected data, train, eval or report")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python -m experiments.sweep.task OUT/sweep.json data|train|eval|report [NAME]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)  # Orbax logs every save and restore at INFO
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM as Ctrl-C (training installs its own)
    try:
        plan = load_plan(argv[0])
        return run_task(plan, argv[1], argv[2] if len(argv) == 3 else None)
    except ValueError as err:
        print(f"sweep task: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweep task: stopped by a signal; what was finished is saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
