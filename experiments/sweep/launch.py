"""The print executor: the commands that run the plan on a TPU pod or a multi-host GPU cluster, for a person to run.

Training runs on every host at once, one process per host; `jax.distributed.initialize()` joins them
(jaxformer.sharding.maybe_initialize_distributed calls it when the environment shows several processes):
  - TPU VM pod slice: `gcloud compute tpus tpu-vm ssh NAME --worker=all` starts the same command on every worker.
    That ssh sets no variable maybe_initialize_distributed looks for (TPU_WORKER_HOSTNAMES is GKE's), so the
    command sets JAX_COORDINATOR_ADDRESS to worker 0 (JAX reads the process count and id from the TPU metadata).
  - SLURM GPU nodes: `srun --ntasks-per-node=1` sets SLURM_NTASKS > 1; JAX takes the coordinator, process count
    and id from SLURM's variables.
Data, evaluation and the report run on one host (evaluation on CPUs).
"""
from __future__ import annotations

import shlex
import sys

from experiments.sweep.plan import Plan, shell

COORDINATOR_PORT = 8476  # JAX's usual coordinator port


def _python_cmd(args: list[str], python: str = sys.executable) -> str:
    return f"{shlex.quote(python)} -m experiments.cli {shlex.join(args)}"


def tpu_command(args: list[str], tpu: str, zone: str, repo: str) -> str:
    """Every worker of the slice runs `args` from its checkout `repo` (with its .venv); $COORDINATOR is expanded
    here, before ssh."""
    remote = f"cd {shlex.quote(repo)} && JAX_COORDINATOR_ADDRESS=$COORDINATOR {_python_cmd(args, '.venv/bin/python')}"
    escaped = remote.replace('"', '\\"')
    return f'gcloud compute tpus tpu-vm ssh {tpu} --zone {zone} --worker=all --command "{escaped}"'


def srun_command(args: list[str], nodes: int, gpus: int, cpus: int, time: str, partition: str | None) -> str:
    part = f" --partition={partition}" if partition else ""
    return (f"srun --nodes={nodes} --ntasks-per-node=1 --gpus-per-node={gpus} --cpus-per-task={cpus} --time={time}"
            f"{part} --kill-on-bad-exit=1 {_python_cmd(args)}")


def launch_lines(plan: Plan, tpu: str, zone: str, repo: str) -> list[str]:
    """The whole plan as shell lines with comments, in the order to run them."""
    res = plan.resources["train"]
    nodes = max(res.nodes, 2)
    lines = [f"# sweep {plan.sweep}: {len(plan.runs)} runs; plan in {plan.out}/sweep.json",
             "# TPU pod slice: worker 0's internal address is the JAX coordinator",
             f"COORDINATOR=$(gcloud compute tpus tpu-vm describe {tpu} --zone {zone} "
             f"--format='value(networkEndpoints[0].ipAddress)'):{COORDINATOR_PORT}"]
    for data in plan.data:
        lines += [f"# population {data.name} (one host)", shell(data.synth), shell(data.build)]
    for run in plan.runs:
        lines += [f"# run {run.name}: train on every host, either on a TPU pod slice ...",
                  tpu_command(run.train, tpu, zone, repo),
                  f"# ... or on {nodes} SLURM GPU nodes, one process per node",
                  srun_command(run.train, nodes, max(res.gpus, 1), res.cpus, res.time, res.partition),
                  f"# run {run.name}: evaluate on one host's CPUs", shell(run.eval)]
    lines += ["# the report over every run", shell(plan.report)]
    return lines
