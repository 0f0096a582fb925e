"""A sweep expanded into named runs and the exact `transcend` commands of each stage; saved as OUT/sweep.json.

The same spec, output directory and options always give the same plan: the same run names, in the same
order, with the same commands (no clock, no host). Every executor runs these commands and nothing else.

    OUT/sweep.json                 this plan
    OUT/data/POPULATION/synth/     `transcend data synth` (a population sweep)
    OUT/data/POPULATION/shards/    `transcend data build`
    OUT/runs/NAME/                 `transcend train`, then `transcend eval` (RUN/eval/STEP/ratings.json)
    OUT/report/                    `transcend report` over every run
    OUT/logs/, OUT/slurm/          the executors' logs and job scripts
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shlex
from typing import Any

from experiments.sweep.spec import Population, Resources, Sweep

PLAN_FILE = "sweep.json"
PLAN_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class DataPlan:
    """A synthetic population: its two commands and the files that say each has finished."""

    name: str
    synth: list[str]
    build: list[str]
    population_json: str  # written last by `transcend data synth`
    manifest_json: str  # written last by `transcend data build`


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """One training run: its grid point, its directory, its two commands and what its evaluation must hold."""

    name: str
    point: dict[str, Any]
    run_dir: str
    data: str | None  # the population it trains on (None: the sweep's shard directory)
    train_steps: int
    train: list[str]
    eval: list[str]
    temperatures: list[float]
    mode: str
    opponents: list[str]
    games: int  # per temperature and opponent

    @property
    def planned_games(self) -> int:
        """Games per (temperature, mode) at the last step: ratings.json's planned_games."""
        return self.games * len(self.opponents)


@dataclasses.dataclass(frozen=True)
class Plan:
    sweep: str
    spec: str
    out: str
    data: list[DataPlan]
    runs: list[RunPlan]
    report: list[str]
    report_dir: str
    resources: dict[str, Resources]

    def run(self, name: str) -> RunPlan:
        for r in self.runs:
            if r.name == name:
                return r
        raise ValueError(f"sweep {self.sweep} has no run {name!r}; its runs: {', '.join(r.name for r in self.runs)}")

    def data_entry(self, name: str) -> DataPlan:
        for d in self.data:
            if d.name == name:
                return d
        raise ValueError(f"sweep {self.sweep} has no population {name!r}")

    def to_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, **dataclasses.asdict(self)}

    @staticmethod
    def from_json(obj: dict[str, Any]) -> Plan:
        return Plan(sweep=obj["sweep"], spec=obj["spec"], out=obj["out"],
                    data=[DataPlan(**d) for d in obj["data"]], runs=[RunPlan(**r) for r in obj["runs"]],
                    report=obj["report"], report_dir=obj["report_dir"],
                    resources={k: Resources(**{**v, "extra": tuple(v["extra"])}) for k, v in obj["resources"].items()})


def load_plan(path: str | pathlib.Path) -> Plan:
    """OUT/sweep.json (or OUT itself); ValueError naming the file when it is missing or not a plan."""
    path = pathlib.Path(path)
    path = path / PLAN_FILE if path.is_dir() else path
    try:
        obj = json.loads(path.read_text())
        return Plan.from_json(obj)
    except FileNotFoundError:
        raise ValueError(f"{path} not found: run `transcend sweep SPEC --out DIR` first") from None
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a sweep plan ({type(err).__name__}: {err}); rerun `transcend sweep`") from None


def shell(args: list[str]) -> str:
    """A `transcend` command as a shell line."""
    return "transcend " + shlex.join(args)


def expand(sweep: Sweep, spec_path: str | pathlib.Path, out: str | pathlib.Path, *, data: str | None = None,
           overrides: list[str] | None = None) -> Plan:
    """The sweep's runs and commands under `out` (made absolute: checkpoints are restored by absolute path).
    `data` replaces the spec's shard directory; `overrides` are added to every run's, last."""
    out = pathlib.Path(out).resolve()
    shard_dir = data if data is not None else sweep.data
    if not sweep.populations and shard_dir is None:
        raise ValueError(f"sweep spec {spec_path} names no shard directory: set data='DIR' in it or pass --data DIR")
    if shard_dir is not None and not sweep.populations:
        shard_dir = str(pathlib.Path(shard_dir).resolve())
    populations = [_data_plan(p, out) for p in sweep.populations]
    where = f"sweep spec {spec_path}"
    runs = [_run_plan(sweep, point, out, shard_dir, populations, overrides or [], where) for point in sweep.points()]
    report = ["report", *(r.run_dir for r in runs), "--out", str(out / "report")]
    if sweep.report_step is not None:
        report += ["--step", str(sweep.report_step)]
    return Plan(sweep=sweep.name, spec=str(pathlib.Path(spec_path).resolve()), out=str(out), data=populations,
                runs=runs, report=report, report_dir=str(out / "report"),
                resources={stage: sweep.stage_resources(stage) for stage in ("data", "train", "eval", "report")})


def _data_plan(pop: Population, out: pathlib.Path) -> DataPlan:
    root = out / "data" / pop.name
    synth, shards = root / "synth", root / "shards"
    return DataPlan(name=pop.name,
                    synth=["data", "synth", "--out", str(synth), *pop.synth],
                    build=["data", "build", "--source", str(synth / "games.pgn.zst"), "--out", str(shards), *pop.build],
                    population_json=str(synth / "population.json"), manifest_json=str(shards / "manifest.json"))


def _run_plan(sweep: Sweep, point: Any, out: pathlib.Path, shard_dir: str | None, populations: list[DataPlan],
              extra: list[str], where: str) -> RunPlan:
    from arena import DEFAULT_NODES, load_anchor_table, parse_opponents
    from jaxformer.config import resolve_config

    run_dir = out / "runs" / point.name
    if point.population is not None:
        shards = str(pathlib.Path(next(p for p in populations if p.name == point.population).manifest_json).parent)
    else:
        shards = str(shard_dir)
    cutoff = "none" if point.cutoff is None else str(point.cutoff)
    overrides = [f"data.dir={shards}", f"data.cutoff={cutoff}", f"name={point.name}", f"train.seed={point.seed}",
                 f"data.seed={point.seed}", *sweep.overrides, *(sweep.per_run(point) if sweep.per_run else ()), *extra]
    try:
        cfg = resolve_config(point.preset, overrides)
    except ValueError as err:
        raise ValueError(f"{where}, run {point.name}: {err}") from None
    train = ["train", "--config", point.preset, "--run-dir", str(run_dir), *(a for o in overrides for a in ("--set", o))]

    ev = sweep.evaluation
    try:
        opponents = parse_opponents(ev.levels, ev.nodes or DEFAULT_NODES)
        load_anchor_table(ev.anchors)  # a bad table name fails here, before anything runs
    except (ValueError, OSError) as err:
        raise ValueError(f"{where}, evaluation: {err}") from None
    workers = ev.workers or sweep.stage_resources("eval").cpus
    evaluate = ["eval", "--run", str(run_dir), "--steps", ev.steps, "--levels", ev.levels,
                "--temperatures", ",".join(f"{t:g}" for t in ev.temperatures), "--games", str(ev.games),
                "--mode", ev.mode, "--anchors", ev.anchors, "--workers", str(workers)]
    for flag, value in (("--nodes", ev.nodes), ("--max-plies", ev.max_plies), ("--openings", ev.openings),
                        ("--concurrency", ev.concurrency), ("--n-boot", ev.n_boot)):
        if value is not None:
            evaluate += [flag, str(value)]
    evaluate += list(ev.extra)
    return RunPlan(name=point.name, point=dataclasses.asdict(point), run_dir=str(run_dir), data=point.population,
                   train_steps=cfg.train.steps, train=train, eval=evaluate, temperatures=[float(t) for t in ev.temperatures],
                   mode=ev.mode, opponents=opponents, games=ev.games)
