"""Reading run directories for the report: config, loss curves, evaluation ratings, parameter count.

A run directory is self-describing (docs/INTERFACES.md): `config.json`, `metrics.jsonl`,
`eval/<step>/ratings.json`. Anything missing or malformed is a clear error naming the file.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib

from jaxformer.config import RunConfig
from jaxformer.metrics import read_metrics


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

    @property
    def latest_eval_step(self) -> int | None:
        return max(self.evals) if self.evals else None


def count_params(config: RunConfig) -> int:
    """Exact parameter count of the run's model, from its shapes alone (nothing is allocated)."""
    from flax import nnx

    from jaxformer.model import Transformer
    from jaxformer.model import count_params as count

    return int(count(nnx.eval_shape(lambda: Transformer(config.model, rngs=nnx.Rngs(0)))))


def split_metrics(run: pathlib.Path) -> tuple[list[dict], list[dict]]:
    """Training and validation rows with a finite loss; a run that has not logged yet has none."""
    if not (run / "metrics.jsonl").is_file():
        return [], []
    rows = read_metrics(run)
    return ([r for r in rows if _finite(r.get("loss"))], [r for r in rows if _finite(r.get("val_loss"))])


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def find_population(config: RunConfig) -> dict | None:
    """The synthetic population behind a run's shards: population.json beside a source PGN in the manifest."""
    manifest = pathlib.Path(config.data.dir or "") / "manifest.json"
    if not config.data.dir or not manifest.is_file():
        return None
    for source in json.loads(manifest.read_text()).get("sources", []):
        candidate = pathlib.Path(source).with_name("population.json")
        if candidate.is_file():
            return {"path": str(candidate), **json.loads(candidate.read_text())}
    return None


def read_ratings(path: pathlib.Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    for key in ("reference_rating", "results"):
        if key not in data:
            raise ValueError(f"{path}: missing {key!r} (see docs/INTERFACES.md for the ratings.json schema)")
    for r in data["results"]:
        missing = [k for k in ("temperature", "games", "elo", "elo_ci95") if k not in r]
        if missing:
            raise ValueError(f"{path}: a result lacks {missing}")
    return data


def load_run(path: str | pathlib.Path) -> RunData:
    run = pathlib.Path(path)
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run} is not a run directory: no config.json (train it with `transcend train`)")
    config = RunConfig.from_json(cfg_path.read_text())
    train, val = split_metrics(run)
    evals = {}
    for rpath in sorted((run / "eval").glob("*/ratings.json")):
        if rpath.parent.name.isdigit():
            evals[int(rpath.parent.name)] = read_ratings(rpath)
    return RunData(run, run.name, config, count_params(config), train, val, evals, find_population(config))
