"""Every file name and the layout of a run directory, in one place.

    RUN/config.json                 RunConfig.to_json(): everything needed to rebuild model and tokenizer
    RUN/.lock                       the training lock (PID and host of the trainer holding it)
    RUN/checkpoints/STEP/...        Orbax: params, optimizer state, step, RNG, data iterator
    RUN/metrics.jsonl               one JSON object a line (training and validation metrics)
    RUN/tb/                         TensorBoard event files (training, and evaluation scalars)
    RUN/eval/STEP/games*.jsonl      evaluation games (append-only; one file per --shard)
    RUN/eval/STEP/games*.pgn        the same games as standard PGN
    RUN/eval/STEP/ratings.json      ratings of that step
    RUN/eval/worker.log             the evaluation worker's log

Other parts never spell these names: they ask a RunDir.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib

EVAL = "eval"
RATINGS = "ratings.json"
GAMES_STEM = "games"
WORKER_LOG = "worker.log"


class _Under:
    """A RunDir attribute naming one fixed entry of the run directory: `RunDir(r).config` is r/config.json."""

    def __init__(self, name: str):
        self.name = name

    def __get__(self, run: RunDir, owner: type[RunDir]) -> pathlib.Path:
        return run.root / self.name


@dataclasses.dataclass(frozen=True)
class RunDir:
    """A run directory's paths; creating one touches nothing on disk."""

    root: pathlib.Path

    config = _Under("config.json")
    lock = _Under(".lock")
    checkpoints = _Under("checkpoints")
    metrics = _Under("metrics.jsonl")
    tensorboard = _Under("tb")

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", pathlib.Path(root))

    def eval_root(self, out: str | os.PathLike | None = None) -> pathlib.Path:
        """Where evaluations go: RUN/eval, or `out` when the caller redirects them."""
        return pathlib.Path(out) if out is not None else self.root / EVAL

    def eval_step(self, step: int, out: str | os.PathLike | None = None) -> pathlib.Path:
        return self.eval_root(out) / str(step)

    def ratings(self, step: int, out: str | os.PathLike | None = None) -> pathlib.Path:
        return self.eval_step(step, out) / RATINGS

    def worker_log(self, out: str | os.PathLike | None = None) -> pathlib.Path:
        return self.eval_root(out) / WORKER_LOG

    def evaluated_steps(self) -> list[int]:
        """Steps with a ratings.json, in order."""
        root = self.eval_root()
        if not root.is_dir():
            return []
        return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / RATINGS).is_file())

    def is_run(self) -> bool:
        return self.config.is_file()


def games_stem(shard: tuple[int, int] = (0, 1)) -> str:
    """The games file stem of one evaluation shard: `games`, or `games.shard1of4` for --shard 1/4."""
    i, n = shard
    return GAMES_STEM if (i, n) == (0, 1) else f"{GAMES_STEM}.shard{i}of{n}"
