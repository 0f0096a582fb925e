"""What of a sweep has finished, read from the files its stages write (so every executor agrees).

A run is trained when it has a complete checkpoint at train.steps, and evaluated when the ratings.json of that
step holds every planned (temperature, mode) with all its planned games recorded.
"""
from __future__ import annotations

import json
import pathlib

from experiments.sweep.plan import DataPlan, Plan, RunPlan
from jaxformer.rundir import RunDir


def trained(run: RunPlan) -> bool:
    from jaxformer.checkpoint import list_complete_steps

    return run.train_steps in list_complete_steps(run.run_dir)


def evaluated(run: RunPlan) -> bool:
    path = RunDir(run.run_dir).ratings(run.train_steps)
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return False
    recorded = {(float(r["temperature"]), r["mode"]): r["games"] + r.get("unrated_games", 0) for r in results}
    return all(recorded.get((t, run.mode), 0) >= run.planned_games for t in run.temperatures)


def finished(run: RunPlan) -> bool:
    return evaluated(run) and trained(run)


def data_ready(data: DataPlan) -> bool:
    return pathlib.Path(data.manifest_json).is_file()


def reported(plan: Plan) -> bool:
    """The report exists and is newer than every run's ratings."""
    summary = pathlib.Path(plan.report_dir) / "summary.json"
    if not summary.is_file():
        return False
    newest = max((p.stat().st_mtime for r in plan.runs for p in RunDir(r.run_dir).eval_root().glob("*/ratings.json")),
                 default=0.0)
    return summary.stat().st_mtime >= newest
