"""The SLURM executor against a real scheduler: a single-node cluster on localhost (.ci/slurm/start.sh installs
Debian's slurm-wlm and munge when missing and starts munged, slurmctld and slurmd), a two-run tiny sweep submitted
as job arrays, and every run trained, evaluated and reported. Skipped, with the reason, only when the cluster
cannot be started on this machine."""
import json
import pathlib
import subprocess
import time

import pytest
from test_sweep import REPO, TINY, TINY_RUNS, sweep_env, tiny_shards, transcend

START = REPO / ".ci" / "slurm" / "start.sh"
WAIT_S = 1500  # two trainings, two evaluations and a report on a shared 2-core machine


def start_cluster() -> dict[str, str]:
    """The environment that reaches the cluster (SLURM_CONF), starting the cluster when it is not up."""
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900, env=sweep_env())
    if proc.returncode == 3:
        pytest.skip(f"no SLURM cluster: {proc.stderr.strip()}")
    assert proc.returncode == 0, f"{START} failed:\n{proc.stdout}\n{proc.stderr}"
    export = proc.stdout.strip().splitlines()[-1]
    assert export.startswith("export SLURM_CONF="), proc.stdout
    return {**sweep_env(), "SLURM_CONF": export.split("=", 1)[1]}


def job_states(jobs: list[str], env: dict[str, str]) -> dict[str, str]:
    """{job or array task id: state} of every job still known to slurmctld (finished ones for MinJobAge)."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True,
                         env=env, timeout=60).stdout
    states = {}
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        parent = fields.get("ArrayJobId", fields.get("JobId"))
        if parent in jobs:
            task = fields.get("ArrayTaskId")
            states[f"{parent}_{task}" if task else fields["JobId"]] = fields.get("JobState", "?")
    return states


def wait_for(jobs: list[str], env: dict[str, str], logs: pathlib.Path) -> dict[str, str]:
    deadline = time.time() + WAIT_S
    while time.time() < deadline:
        states = job_states(jobs, env)
        if states and all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL")
                          for s in states.values()):
            return states
        time.sleep(5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(logs.glob("*.out")))
    pytest.fail(f"the sweep's jobs did not finish in {WAIT_S} s: {job_states(jobs, env)}\n{tails}")


@pytest.mark.slow
@pytest.mark.heavy
def test_slurm_sweep_trains_evaluates_and_reports_every_run(tmp_path, stockfish_path):
    env = start_cluster()
    shards, out = tiny_shards(tmp_path), tmp_path / "sweep"
    args = ("sweep", str(TINY), "--data", str(shards), "--out", str(out), "--executor", "slurm")
    submitted = transcend(*args, env=env).stdout
    ids = json.loads((out / "slurm" / "jobs.json").read_text())
    assert sorted(ids) == ["eval", "report", "train"], submitted

    states = wait_for(list(ids.values()), env, out / "slurm" / "logs")
    logs = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted((out / "slurm" / "logs").glob("*.out")))
    # two train tasks, two eval tasks, one report
    assert sorted(states.values()) == ["COMPLETED"] * 5, f"{states}\n{logs}"
    for name in TINY_RUNS:
        run = out / "runs" / name
        assert (run / "checkpoints" / "4").is_dir(), logs
        (result,) = json.loads((run / "eval" / "4" / "ratings.json").read_text())["results"]
        assert result["games"] + result["unrated_games"] == 2, logs
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert sorted(r["name"] for r in summary["runs"]) == sorted(TINY_RUNS)

    # Resubmitting a finished sweep submits no training and no evaluation, only the report.
    transcend(*args, env=env)
    assert sorted(json.loads((out / "slurm" / "jobs.json").read_text())) == ["report"]
