"""`make demo` (`python -m experiments.demo`): the diversity experiment, both arms, stage by stage.

    budget  every default budget in one place, and the rates behind the plan's time estimates
    plan    per arm the `transcend` commands of its stages, their outputs and estimated times
    stages  running a stage as a subprocess: live output, a log, timings, Ctrl-C passed on
    cli     the options and the loop over the plan (the only place that prints)
"""
from experiments.demo.cli import main, parse_args, run_demo, weakest_opponents
from experiments.demo.stages import StageInterrupted, Stages

__all__ = ["StageInterrupted", "Stages", "main", "parse_args", "run_demo", "weakest_opponents"]
