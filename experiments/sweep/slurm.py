"""The SLURM executor: plain sbatch job-array scripts written to OUT/slurm/, submitted with dependencies.

    data.sbatch    one task per synthetic population (CPU)          afterok: -
    train.sbatch   one task per unfinished run (the train resources)  afterok: the data array
    eval.sbatch    one task per unfinished run (CPU)                aftercorr: the train array (task i after task i)
    report.sbatch  one job                                          afterok: the eval array

Task i of an array runs entry i of the plan (`python -m experiments.sweep.task OUT/sweep.json STAGE NAME`), so a
script can be read, edited and resubmitted by hand. Every array asks for --requeue: a preempted task is put back
in the queue by SLURM, which first sends SIGTERM (training saves a checkpoint, evaluation keeps its recorded
games and releases its claims) and the requeued task resumes. REQUEUE_WARNING_S before its time limit a task gets
SIGUSR1 and requeues itself the same way. A task whose stage has already finished exits at once.
"""
from __future__ import annotations

import logging
import pathlib
import shlex
import subprocess
import sys

from experiments.sweep import state
from experiments.sweep.plan import Plan
from experiments.sweep.spec import Resources
from safeio import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

REQUEUE_WARNING_S = 300  # --signal=B:USR1@this: time to save a checkpoint before the limit
# CPU stages never touch an accelerator; the evaluation loads the model on the CPU anyway.
CPU_ENV = "export JAX_PLATFORMS=cpu"


def pending_indices(plan: Plan) -> tuple[list[int], list[int]]:
    """(populations without shards, runs not finished), as indices into the plan."""
    return ([i for i, d in enumerate(plan.data) if not state.data_ready(d)],
            [i for i, r in enumerate(plan.runs) if not state.finished(r)])


def _directives(plan: Plan, stage: str, res: Resources, array: str | None) -> list[str]:
    logs = pathlib.Path(plan.out) / "slurm" / "logs"
    lines = [f"--job-name={plan.sweep}-{stage}",
             f"--output={logs}/{stage}-%A_%a.out" if array else f"--output={logs}/{stage}-%j.out",
             "--open-mode=append", "--requeue", f"--signal=B:USR1@{REQUEUE_WARNING_S}",
             f"--cpus-per-task={res.cpus}", f"--time={res.time}"]
    if array:
        lines.append(f"--array={array}")
    if res.partition:
        lines.append(f"--partition={res.partition}")
    if res.gpus:
        lines.append(f"--gpus-per-node={res.gpus}")
    if res.mem:
        lines.append(f"--mem={res.mem}")
    if res.nodes > 1:
        lines += [f"--nodes={res.nodes}", "--ntasks-per-node=1"]
    return [f"#SBATCH {line}" for line in [*lines, *res.extra]]


def script(plan: Plan, stage: str, names: list[str], indices: list[int]) -> str:
    """The sbatch script of one stage: an array over `indices` of `names` (the report: no array)."""
    res = plan.resources[stage]
    array = ",".join(map(str, indices)) if stage != "report" else None
    entry = '"${NAMES[$SLURM_ARRAY_TASK_ID]}"' if array else ""
    task_id = "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" if array else "${SLURM_JOB_ID}"
    launcher = "srun --kill-on-bad-exit=1 " if res.nodes > 1 else ""
    command = f"{launcher}{shlex.quote(sys.executable)} -m experiments.sweep.task {shlex.quote(plan.out)}/sweep.json {stage}"
    lines = [
        "#!/bin/bash",
        *_directives(plan, stage, res, array),
        f"# Sweep {plan.sweep}, stage {stage}: written by `transcend sweep --executor slurm`; resubmit with sbatch.",
        f"NAMES=({' '.join(shlex.quote(n) for n in names)})" if array else "",
        f"cd {shlex.quote(str(pathlib.Path.cwd()))}",
        "export PYTHONUNBUFFERED=1",
        CPU_ENV if stage != "train" else "",
        "# Near the time limit: back into the queue; SLURM then sends SIGTERM and the stage saves its work.",
        f"trap 'echo \"time limit near: requeueing {task_id}\"; scontrol requeue \"{task_id}\"' USR1",
        f"{command} {entry} &",
        "child=$!",
        'wait "$child"; rc=$?',
        'while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done  # a trap interrupted the wait',
        'exit "$rc"']
    return "\n".join(line for line in lines if line) + "\n"


def stage_scripts(plan: Plan) -> dict[str, tuple[pathlib.Path, str]]:
    """{stage: (OUT/slurm/STAGE.sbatch, its text)} for every stage with something to do."""
    data_todo, runs_todo = pending_indices(plan)
    root = pathlib.Path(plan.out) / "slurm"
    runs = [r.name for r in plan.runs]
    stages = [("data", [d.name for d in plan.data], data_todo), ("train", runs, runs_todo), ("eval", runs, runs_todo),
              ("report", [], [0])]
    return {stage: (root / f"{stage}.sbatch", script(plan, stage, names, todo))
            for stage, names, todo in stages if todo and (stage == "report" or names)}


def write_scripts(plan: Plan) -> dict[str, pathlib.Path]:
    scripts = stage_scripts(plan)
    (pathlib.Path(plan.out) / "slurm" / "logs").mkdir(parents=True, exist_ok=True)
    for path, text in scripts.values():
        write_text_atomic(path, text)
    return {stage: path for stage, (path, _) in scripts.items()}


def submit_commands(scripts: dict[str, pathlib.Path]) -> list[tuple[str, list[str]]]:
    """(stage, sbatch argv) in submission order; $data, $train, $eval stand for the job ids returned before."""
    out: list[tuple[str, list[str]]] = []
    after = {"data": None, "train": ("afterok", "data"), "eval": ("aftercorr", "train"), "report": ("afterok", "eval")}
    for stage in ("data", "train", "eval", "report"):
        if stage not in scripts:
            continue
        argv = ["sbatch", "--parsable"]
        dep = after[stage]
        if dep and dep[1] in scripts:
            argv += [f"--dependency={dep[0]}:${dep[1]}", "--kill-on-invalid-dep=yes"]
        out.append((stage, [*argv, str(scripts[stage])]))
    return out


def submit(plan: Plan) -> dict[str, str]:
    """Write the scripts and submit them; returns {stage: job id} (also in OUT/slurm/jobs.json)."""
    scripts = write_scripts(plan)
    ids: dict[str, str] = {}
    for stage, argv in submit_commands(scripts):
        argv = [_fill(a, ids) for a in argv]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise OSError("sbatch not found: run on a SLURM login node (or use --executor local / print)") from None
        if proc.returncode != 0:
            raise OSError(f"sbatch {scripts[stage]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        ids[stage] = proc.stdout.strip().split(";")[0]
        log.info("submitted %s: job %s", stage, ids[stage])
    write_json_atomic(pathlib.Path(plan.out) / "slurm" / "jobs.json", ids)
    return ids


def _fill(arg: str, ids: dict[str, str]) -> str:
    """--dependency=aftercorr:$train -> --dependency=aftercorr:1234."""
    for stage, job in ids.items():
        arg = arg.replace(f"${stage}", job)
    return arg
