"""The demo's plan: per arm the `transcend` commands of its stages, where each writes, and its estimated time.

An arm is one training set: "diverse" (the systematic population), "clones" (its --clones ablation), or
"data" (real games, --data). Its files go under OUT/ARM/ (synth/, shards/, run/); both synthetic arms share the
population options, the training budget, the evaluation opponents and the anchor table, so every rating is on
one scale.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import shlex
from collections.abc import Callable

from experiments.demo import budget

REPORT_DIR = "."  # the comparison report goes straight into OUT (report.md, summary.json, figures)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the demo. `done`: the file whose existence means the stage is complete (skipped on a rerun);
    None: the stage always runs (training and evaluation resume by themselves). `argv` is built when the stage
    starts, since it may read what an earlier stage wrote."""

    name: str
    what: str
    estimate_s: float
    argv: Callable[[], list[str]]
    done: pathlib.Path | None = None


@dataclasses.dataclass(frozen=True)
class ArmDirs:
    root: pathlib.Path

    @property
    def synth(self) -> pathlib.Path:
        return self.root / "synth"

    @property
    def shards(self) -> pathlib.Path:
        return self.root / "shards"

    @property
    def run(self) -> pathlib.Path:
        return self.root / "run"


def arm_names(args: argparse.Namespace) -> list[str]:
    return ["data"] if args.data is not None else list(dict.fromkeys(args.arms))


def synth_argv(args: argparse.Namespace, arm: str, dirs: ArmDirs) -> list[str]:
    """`transcend data synth` for a synthetic arm: the same population options for both arms."""
    argv = ["data", "synth", "--out", str(dirs.synth), "--population", "systematic", "--games", str(args.games),
            "--experts", str(args.experts), "--nodes", *map(str, args.nodes),
            "--calibration-games", str(args.calibration_games), "--workers", str(args.workers),
            "--seed", str(args.seed), "--anchor-table", args.anchors]
    if args.epsilon is not None:
        argv += ["--epsilon", *map(str, args.epsilon)]
    return argv + (["--clones"] if arm == "clones" else []) + shlex.split(args.population_args)


def build_argv(args: argparse.Namespace, source: str, dirs: ArmDirs) -> list[str]:
    return ["data", "build", "--source", source, "--out", str(dirs.shards), "--workers", str(args.workers),
            "--val-fraction", "0.05", "--tokenizer", args.tokenizer, "--cache-dir", "cache/lichess"]


def train_overrides(args: argparse.Namespace, arm: str, dirs: ArmDirs) -> list[str]:
    """The tiny preset's overrides for an arm: its shards, the tokenizer and its vocabulary, the seed, the
    budget, then the user's --set (last, so they win)."""
    from data_pipeline import get_tokenizer

    cutoff = args.cutoff if args.data is not None else None
    return [f"data.dir={dirs.shards}", f"data.cutoff={'none' if cutoff is None else cutoff}", f"name=demo-{arm}",
            f"data.tokenizer={args.tokenizer}", f"model.vocab_size={get_tokenizer(args.tokenizer).vocab_size}",
            f"data.seed={args.seed}", f"train.seed={args.seed}", *budget.TRAIN_OVERRIDES, *args.overrides]


def train_argv(args: argparse.Namespace, arm: str, dirs: ArmDirs) -> list[str]:
    sets = [a for o in train_overrides(args, arm, dirs) for a in ("--set", o)]
    return ["train", "--config", "tiny", "--run-dir", str(dirs.run), *sets]


def as_rating(args: argparse.Namespace, dirs: ArmDirs) -> int | None:
    """The rating a "+elo" model plays as: --as-rating, else its arm's best expert (population.json); None for a
    tokenizer without rating tokens."""
    from data_pipeline import get_tokenizer

    if not get_tokenizer(args.tokenizer).has_ratings:
        return None
    if args.as_rating is not None:
        return int(args.as_rating)
    population = dirs.synth / "population.json"
    if not population.is_file():
        raise SystemExit(f"demo: tokenizer {args.tokenizer!r} conditions on ratings but there is no {population} to "
                         "take the best expert's rating from; pass --as-rating R")
    return round(json.loads(population.read_text())["best_expert"]["rating"])


def eval_argv(args: argparse.Namespace, dirs: ArmDirs, opponents: list[str]) -> list[str]:
    argv = ["eval", "--run", str(dirs.run), "--levels", ",".join(opponents),
            "--temperatures", ",".join(args.temperatures), "--games", str(args.eval_games),
            "--anchors", args.anchors, "--workers", str(args.workers), "--concurrency", str(args.eval_concurrency)]
    rating = as_rating(args, dirs)
    return argv + ([] if rating is None else ["--as-rating", str(rating)])


def report_argv(out: pathlib.Path, arms: list[str]) -> list[str]:
    return ["report", *[a for arm in arms for a in ("--arm", f"{arm}={ArmDirs(out / arm).run}")],
            "--out", str(out / REPORT_DIR)]


def build_plan(args: argparse.Namespace, out: pathlib.Path, opponents: list[str]) -> list[Stage]:
    """Every stage of the demo in order: per arm synth (synthetic arms), build, train, eval; then the report."""
    from jaxformer.config import resolve_config

    stages: list[Stage] = []
    arms = arm_names(args)
    eval_games = len(args.temperatures) * len(opponents) * args.eval_games
    for arm in arms:
        dirs = ArmDirs(out / arm)
        cfg = resolve_config("tiny", train_overrides(args, arm, dirs))  # a bad --set fails here, before any stage
        if args.data is None:
            done = dirs.synth / "population.json"
            stages.append(Stage(f"{arm}.synth", f"{args.games} games of the {arm} population",
                                0.0 if done.is_file() else synth_estimate_s(args, arm, dirs),
                                _fixed(synth_argv(args, arm, dirs)), done))
            source = str(dirs.synth / "games.pgn.zst")
        else:
            source = args.data
        stages.append(Stage(f"{arm}.build", f"tokenize {source} ({args.tokenizer})",
                            budget.BUILD_FIXED_S + budget.BUILD_S_PER_GAME * args.games,
                            _fixed(build_argv(args, source, dirs)), dirs.shards / "manifest.json"))
        tokens = cfg.train.steps * cfg.train.batch_size * cfg.data.seq_len
        stages.append(Stage(f"{arm}.train", f"the tiny preset, {cfg.train.steps} steps of {cfg.train.batch_size} x "
                                            f"{cfg.data.seq_len} tokens (resumes from its last checkpoint)",
                            budget.TRAIN_FIXED_S + budget.TRAIN_S_PER_TOKEN * tokens, _fixed(train_argv(args, arm, dirs))))
        stages.append(Stage(f"{arm}.eval", f"T = {' '.join(args.temperatures)} vs {', '.join(opponents)}, "
                                           f"{args.eval_games} games each ({eval_games} games, {args.anchors} scale)",
                            budget.EVAL_FIXED_S + budget.EVAL_S_PER_GAME * eval_games,
                            _bound(eval_argv, args, dirs, opponents)))
    stages.append(Stage("report", f"{' vs '.join(arms)}: rating vs temperature, best expert, verdict per arm",
                        budget.REPORT_S, _fixed(report_argv(out, arms))))
    return stages


def _fixed(argv: list[str]) -> Callable[[], list[str]]:
    return lambda: argv


def _bound(fn: Callable[..., list[str]], *a: object) -> Callable[[], list[str]]:
    return lambda: fn(*a)


def synth_estimate_s(args: argparse.Namespace, arm: str, dirs: ArmDirs) -> float:
    """synth's own estimate of its games (from the population's node limits), scaled by the measured factor."""
    from experiments.synth.cli import parse_args as synth_args
    from experiments.synth.cli import plan as synth_plan
    from experiments.synth.play import estimate_seconds

    sargs = synth_args(synth_argv(args, arm, dirs)[2:])  # without `data synth`
    p = synth_plan(sargs)
    nodes = {e.name: e.engine.nodes for e in p.experts} | {a.engine.name: a.engine.nodes for a in p.anchors}
    return budget.SYNTH_FIXED_S + budget.SYNTH_RATE_FACTOR * estimate_seconds(p.jobs, nodes, sargs.max_plies,
                                                                              sargs.workers)


def describe_plan(stages: list[Stage], budget_minutes: float) -> list[str]:
    """The plan in lines: each stage, what it does, its estimate (0 when already complete), and the total against
    the budget."""
    lines = ["demo plan (estimates from the rates in experiments/demo/budget.py):"]
    total = 0.0
    for n, s in enumerate(stages, 1):
        complete = s.done is not None and s.done.is_file()
        total += 0.0 if complete else s.estimate_s
        when = "complete, skipped" if complete else f"~{s.estimate_s / 60:.1f} min"
        lines.append(f"  [{n}/{len(stages)}] {s.name:<14} {when:>18}  {s.what}")
    over = total / 60 > budget_minutes
    lines.append(f"  total ~{total / 60:.1f} min (budget {budget_minutes:g} min"
                 + (": OVER BUDGET; lower --games, --eval-games or train.steps)" if over else ")"))
    return lines
