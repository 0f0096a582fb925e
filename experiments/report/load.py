"""Reading run directories for the report: config, loss curves, evaluation ratings, parameter count, and the
synthetic population behind the training data.

A run directory is self-describing (docs/contracts.md); its file names come from `jaxformer.rundir.RunDir`.
Anything missing or malformed is a clear error naming the file.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import pathlib
from collections.abc import Iterable

from arena import read_all_records
from data_pipeline import read_manifest
from jaxformer.config import RunConfig
from jaxformer.metrics import read_metrics
from jaxformer.rundir import RunDir

log = logging.getLogger(__name__)
POPULATION_FILE = "population.json"  # written by `transcend data synth` beside its games.pgn.zst
RESULT_KEYS = ("temperature", "games", "elo", "elo_ci95")


@dataclasses.dataclass
class RunData:
    path: pathlib.Path
    name: str
    config: RunConfig
    n_params: int
    train: list[dict]  # metrics.jsonl lines with "loss"
    val: list[dict]  # metrics.jsonl lines with "val_loss"
    evals: dict[int, dict]  # step -> ratings.json
    population: dict | None = None  # population.json of a synthetic training set (`transcend data synth`)
    unrated_steps: dict[int, int] = dataclasses.field(default_factory=dict)  # step -> games recorded, no ratings.json

    @property
    def latest_eval_step(self) -> int | None:
        return max(self.evals) if self.evals else None


def count_params(config: RunConfig) -> int:
    """Exact parameter count of the run's model, from its shapes alone (nothing is allocated)."""
    from flax import nnx

    from jaxformer.model import Transformer
    from jaxformer.model import count_params as count

    return int(count(nnx.eval_shape(lambda: Transformer(config.model, rngs=nnx.Rngs(0)))))


def split_metrics(run: RunDir) -> tuple[list[dict], list[dict]]:
    """Training and validation rows with a finite loss, one per step in step order; a run that has not logged
    yet has none. A step logged twice (a resume that replayed steps after its checkpoint) keeps its last line,
    so a curve never doubles back."""
    if not run.metrics.is_file():
        return [], []
    rows = read_metrics(run.root)
    return _last_per_step(r for r in rows if _finite(r.get("loss"))), \
        _last_per_step(r for r in rows if _finite(r.get("val_loss")))


def _last_per_step(rows: Iterable[dict]) -> list[dict]:
    by_step = {row["step"]: row for row in rows if isinstance(row.get("step"), int)}
    return [by_step[step] for step in sorted(by_step)]


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def find_population(config: RunConfig) -> dict | None:
    """The synthetic population behind a run's shards: population.json beside a source PGN in the manifest.

    None for real data, or when the shards are not on this machine (a report can be written elsewhere).
    """
    if not config.data.dir:
        return None
    try:
        manifest = read_manifest(config.data.dir)
    except FileNotFoundError as err:
        log.info("no synthetic population looked up: %s", err)
        return None
    for source in manifest.get("sources", []):
        candidate = pathlib.Path(source).with_name(POPULATION_FILE)
        if candidate.is_file():
            return {"path": str(candidate), **_read_json(candidate)}
    return None


def _read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); rewrite it with the command that made it") from None


def read_ratings(path: pathlib.Path) -> dict:
    """One ratings.json, checked for the fields the report needs ("fit" is optional: older files lack it)."""
    data = _read_json(path)
    for key in ("reference_rating", "results"):
        if key not in data:
            raise ValueError(f"{path}: missing {key!r} (see docs/contracts.md for the ratings.json schema)")
    for r in data["results"]:
        missing = [k for k in RESULT_KEYS if k not in r]
        if missing:
            raise ValueError(f"{path}: a result lacks {missing} (see docs/contracts.md for the ratings.json schema)")
    return data


def unrated_steps(run: RunDir, rated: list[int]) -> dict[int, int]:
    """Steps with recorded evaluation games but no ratings.json yet (an evaluation stopped before rating)."""
    root = run.eval_root()
    if not root.is_dir():
        return {}
    counts = {}
    for step_dir in root.iterdir():
        if step_dir.name.isdigit() and int(step_dir.name) not in rated:
            n = len(read_all_records(step_dir))
            if n:
                counts[int(step_dir.name)] = n
    return dict(sorted(counts.items()))


def load_run(path: str | pathlib.Path) -> RunData:
    run = RunDir(path)
    if not run.is_run():
        raise FileNotFoundError(f"{run.root} is not a run directory: no {run.config.name} (train it with `transcend train`)")
    config = RunConfig.from_json(run.config.read_text())
    train, val = split_metrics(run)
    evals = {step: read_ratings(run.ratings(step)) for step in run.evaluated_steps()}
    return RunData(run.root, run.root.name, config, count_params(config), train, val, evals, find_population(config),
                   unrated_steps(run, sorted(evals)))
