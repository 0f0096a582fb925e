"""`transcend sweep SPEC`: a grid of runs (train, then eval), then one report over them, on this machine, on
SLURM or on a TPU pod / multi-host GPU cluster.

SPEC is a Python file defining SWEEP = experiments.sweep.Sweep(...) (see experiments/specs/ and docs/sweeps.md).
It expands into named runs (e.g. c1000-50m-s0: cutoff, preset, seed), written with their exact commands to
OUT/sweep.json. Executors:
  local   one stage after another here; rerunning skips finished runs and continues unfinished ones
  slurm   sbatch job arrays written to OUT/slurm/: train, then CPU evaluation (task i after train task i),
          then the report; preempted tasks are requeued and resume (training from its checkpoint)
  print   the launch commands for a TPU pod (gcloud ... --worker=all) or multi-host GPUs (srun, one process
          per host), using jax.distributed.initialize()
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import pathlib
import sys
from typing import Any

from experiments.report.cli import DefaultsOnceHelpFormatter
from experiments.sweep import state
from experiments.sweep.plan import PLAN_FILE, Plan, expand, shell
from experiments.sweep.spec import Resources, Sweep, load_spec
from safeio import write_json_atomic


class HelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsOnceHelpFormatter):
    """The module docstring as written, and each option's default once."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="transcend sweep", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("spec", help="sweep spec: a Python file defining SWEEP (e.g. experiments/specs/paper.py)")
    p.add_argument("--out", default=None, help="sweep directory; None: runs/sweeps/NAME (NAME from the spec)")
    p.add_argument("--executor", choices=("local", "slurm", "print"), default="local", help="where the stages run")
    p.add_argument("--dry-run", action="store_true", help="print the runs and their commands; write and run nothing")
    p.add_argument("--data", default=None, help="shard directory replacing the spec's data; None: the spec's")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="training override added to every run, last (repeatable), e.g. --set train.steps=100")
    p.add_argument("--resource", dest="resources", action="append", default=[], metavar="STAGE.FIELD=VALUE",
                   help="SLURM resources replacing the spec's (repeatable), e.g. --resource train.partition=gpu; "
                        "stages data, train, eval, report; fields partition, gpus, cpus, time, mem, nodes, extra "
                        "(one more sbatch option)")
    p.add_argument("--tpu", default="$TPU_NAME", help="with --executor print: the TPU VM's name")
    p.add_argument("--zone", default="$ZONE", help="with --executor print: the TPU VM's zone")
    p.add_argument("--repo", default=str(pathlib.Path.cwd()), help="with --executor print: the checkout on the TPU VMs")
    return p.parse_args(argv)


def apply_resource(sweep: Sweep, item: str) -> Sweep:
    """`train.partition=gpu` -> the sweep with that stage's resource replaced."""
    key, sep, value = item.partition("=")
    stage, dot, field = key.partition(".")
    fields = {f.name: f for f in dataclasses.fields(Resources)}
    if not sep or not dot or stage not in ("data", "train", "eval", "report") or field not in fields:
        raise ValueError(f"--resource {item!r}: expected STAGE.FIELD=VALUE with STAGE in data, train, eval, report and "
                         f"FIELD in {', '.join(fields)}, e.g. train.partition=gpu")
    res = sweep.stage_resources(stage)
    change: dict[str, Any]
    if field in ("gpus", "cpus", "nodes"):
        if not value.isdigit():
            raise ValueError(f"--resource {item!r}: {field} must be a non-negative integer")
        change = {field: int(value)}
    elif field == "extra":
        change = {"extra": (*res.extra, value)}
    else:
        change = {field: value or None}
    new = dataclasses.replace(res, **change)
    return dataclasses.replace(sweep, resources={**sweep.resources, stage: new})


def describe(plan: Plan, done: dict[str, bool]) -> list[str]:
    """The expansion: one line per population and run, then every command."""
    lines = [f"sweep {plan.sweep}: {len(plan.runs)} runs, {len(plan.data)} populations, in {plan.out} "
             f"({sum(done.values())} runs finished)"]
    for d in plan.data:
        lines += [f"  population {d.name}", f"    {shell(d.synth)}", f"    {shell(d.build)}"]
    for r in plan.runs:
        point = r.point
        data = f"population {point['population']}" if point["population"] else f"cutoff {point['cutoff']}"
        lines += [f"  run {r.name}: {point['preset']}, {data}, seed {point['seed']}, {r.train_steps} steps, "
                  f"{r.planned_games} games x {len(r.temperatures)} temperatures"
                  f"{' (finished)' if done[r.name] else ''}",
                  f"    {shell(r.train)}", f"    {shell(r.eval)}"]
    lines += ["  report", f"    {shell(plan.report)}"]
    return lines


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)
    sweep = load_spec(args.spec)
    for item in args.resources:
        sweep = apply_resource(sweep, item)
    out = args.out or f"runs/sweeps/{sweep.name}"
    plan = expand(sweep, args.spec, out, data=args.data, overrides=args.overrides)
    done = {r.name: state.finished(r) for r in plan.runs}
    print("\n".join(describe(plan, done)), flush=True)
    if args.executor == "print":
        from experiments.sweep.launch import launch_lines

        print("\n".join(launch_lines(plan, args.tpu, args.zone, args.repo)))
    elif args.executor == "slurm" and args.dry_run:
        _print_slurm(plan)
    if args.dry_run:
        return 0
    pathlib.Path(plan.out).mkdir(parents=True, exist_ok=True)
    write_json_atomic(pathlib.Path(plan.out) / PLAN_FILE, plan.to_json())
    if args.executor == "local":
        from experiments.sweep.local import StageFailed, execute

        try:
            result = execute(plan)
        except StageFailed as err:
            print(f"transcend sweep: {err}; fix it and rerun: finished runs are skipped", file=sys.stderr)
            return 1
        print(f"sweep {plan.sweep}: done ({result['skipped_runs']} finished runs skipped; ran {result['ran']}); "
              f"report in {plan.report_dir}/report.md")
    elif args.executor == "slurm":
        from experiments.sweep.slurm import submit

        ids = submit(plan)
        print(f"sweep {plan.sweep}: submitted " + ", ".join(f"{stage} job {job}" for stage, job in ids.items())
              + f"; scripts and logs in {plan.out}/slurm/; watch with: squeue -j {','.join(ids.values())}")
    return 0


def _print_slurm(plan: Plan) -> None:
    from experiments.sweep.slurm import stage_scripts, submit_commands

    scripts = stage_scripts(plan)
    for path, text in scripts.values():
        print(f"# {path}\n{text}")
    for _, argv in submit_commands({stage: path for stage, (path, _) in scripts.items()}):
        print(" ".join(argv))
