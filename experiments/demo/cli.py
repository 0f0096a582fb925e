"""`make demo`: the diversity experiment on a CPU in about 20 minutes, stage by stage, through the `transcend` CLI.

Two arms, each trained and evaluated with the same budget against the same opponents:
  diverse  a theory-faithful population of experts (`transcend data synth --population systematic`): each plays
           Stockfish's move, or with probability b_i its own systematic bias move; the biases differ, so only the
           population's majority is the good move
  clones   its ablation (`--clones`): every game is the population's median expert against itself

Per arm (files under OUT/ARM/):
  1. synth   the population's games, and its experts' ratings on the anchor table's scale
  2. build   `transcend data build --tokenizer board` (one token per move, each after its position)
  3. train   the tiny preset (`transcend train`), sized by --set overrides to fit the time budget
  4. eval    several sampling temperatures against ladder-calibrated opponents (`transcend eval`)
then `transcend report --arm diverse=... --arm clones=...`: OUT/report.md and OUT/summary.json put the arms
side by side (rating vs temperature with 95% intervals, each arm's best expert, a verdict per arm). The
theory predicts: diverse, at low temperature, above its best expert; clones at or below their expert.
With --data (real games, trained below --cutoff) there is one arm, "data", and no synth stage.

The plan (each stage and its estimated time) is printed first. Every stage is a subprocess whose output is
shown live and kept in OUT/logs/ARM.STAGE.log; a stage whose output is complete is skipped, so rerunning
continues where an interrupted demo stopped. Ctrl-C (SIGINT) or SIGTERM is passed on to the running stage,
which saves its work (training saves a checkpoint) and exits; the demo then stops with one line and exit code
128+signal (130 for Ctrl-C). Stage timings go to OUT/timings.json. Budgets: experiments/demo/budget.py.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

from data_pipeline import TOKENIZER_NAMES
from experiments.demo import budget
from experiments.demo.plan import arm_names, build_plan, describe_plan
from experiments.demo.stages import StageInterrupted, Stages
from experiments.report.cli import DefaultsOnceHelpFormatter


class HelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsOnceHelpFormatter):
    """The module docstring as written, and each option's default once."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.demo", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="runs/demo", help="everything goes under this directory")
    p.add_argument("--arms", nargs="+", choices=budget.ARMS, default=list(budget.ARMS),
                   help="which arms to run (both share the population options, the budget and the opponents)")
    p.add_argument("--data", default=None,
                   help="real games instead of the synthetic arms: a PGN file (.pgn/.pgn.zst) or lichess:YYYY-MM; "
                        "None: the synthetic arms")
    p.add_argument("--cutoff", type=int, default=budget.REAL_DATA_CUTOFF,
                   help="with --data: train only on games whose players are all rated <= this (the reference line)")
    p.add_argument("--games", type=int, default=budget.GAMES, help="synthetic training games per arm")
    p.add_argument("--experts", type=int, default=budget.EXPERTS, help="experts in the population")
    p.add_argument("--nodes", type=int, nargs=2, default=budget.NODES, metavar=("LO", "HI"),
                   help="Stockfish node limits of the weakest and strongest expert")
    p.add_argument("--epsilon", type=float, nargs=2, default=budget.EPSILON, metavar=("LO", "HI"),
                   help="bias rates of the strongest and weakest expert; None: synth's default for the systematic "
                        "population")
    p.add_argument("--calibration-games", type=int, default=budget.CALIBRATION_GAMES,
                   help="expert-vs-anchor games per arm: the same number for both, so the clone expert's rating is "
                        "as precise as the population's")
    p.add_argument("--population-args", default="",
                   help="further `transcend data synth` options for both arms, as one string, e.g. "
                        "\"--biases king_corner,min_mobility --calibration-games 200\" (default: none)")
    p.add_argument("--tokenizer", default=budget.TOKENIZER, choices=TOKENIZER_NAMES,
                   help="`transcend data build --tokenizer`")
    p.add_argument("--as-rating", type=int, default=None,
                   help="with a +elo tokenizer: the rating the models play as; None: each arm's best expert's rating")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for synth, build and eval")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic games and of training")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="training config override for both arms (repeatable), e.g. --set train.steps=1000; the demo's "
                        f"own: {' '.join(budget.TRAIN_OVERRIDES)}")
    p.add_argument("--temperatures", nargs="+", default=list(budget.TEMPERATURES), help="sampling temperatures to evaluate")
    p.add_argument("--anchors", default=budget.ANCHOR_TABLE,
                   help="anchor table (bundled name or JSON file) rating both the experts and the models")
    p.add_argument("--opponents", nargs="+", default=None,
                   help=f"evaluation opponents of both arms (names in the {budget.ANCHOR_TABLE} table); None: the random "
                        "mover and the two weakest Stockfish settings of the anchor table")
    p.add_argument("--eval-concurrency", type=int, default=budget.EVAL_CONCURRENCY,
                   help="games in flight during evaluation, batched into one model call")
    p.add_argument("--eval-games", type=int, default=budget.EVAL_GAMES, help="games per temperature and opponent")
    p.add_argument("--budget-minutes", type=float, default=budget.BUDGET_MINUTES,
                   help="the plan printed first compares its estimated total with this and warns when it is over")
    p.add_argument("--plan-only", action="store_true", help="print the plan and exit without running it")
    return p.parse_args(argv)


def weakest_opponents(table_name: str, n_engines: int) -> list[str]:
    """The random mover plus the weakest calibrated engines that play differently from game to game (a skill
    level or a random-move share): against a deterministic engine, games at T -> 0 would all repeat."""
    from arena import EngineSpec, load_anchor_table

    table = load_anchor_table(table_name)
    engines = []
    for name, rating in table.items():
        if name.startswith("stockfish-"):
            spec = EngineSpec.parse(name)
            engines.append((not (spec.skill < 20 or spec.random_pct > 0), rating, name))
    return (["random"] if "random" in table else []) + [name for *_, name in sorted(engines)[:n_engines]]


def main(argv: list[str]) -> int:
    """The demo; Ctrl-C stops it with one line and exit 130 (the running stage saves its work first)."""
    try:
        return run_demo(parse_args(argv))
    except StageInterrupted as stop:
        print(f"\n{stop}", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except KeyboardInterrupt:  # between stages: nothing is running, everything finished is saved
        print("\ndemo: interrupted between stages; rerun the same command to continue", file=sys.stderr, flush=True)
        return 130
    except (ValueError, OSError) as err:  # found while planning: a bad --set key, a foreign synth directory
        print(f"demo: error: {err}", file=sys.stderr, flush=True)
        return 2


def run_demo(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out).resolve()  # absolute: checkpoints are restored by absolute path
    opponents = args.opponents or weakest_opponents(args.anchors, 2)
    plan = build_plan(args, out, opponents)
    print("\n".join(describe_plan(plan, args.budget_minutes)), flush=True)
    if args.plan_only:
        return 0
    stages = Stages(out, len(plan))
    for n, stage in enumerate(plan, 1):
        stages.banner(n, stage.name, stage.what)
        if stage.done is not None and stage.done.is_file():
            stages.skip(stage.name, f"{stage.done} exists")
        else:
            stages.run(stage.name, stage.argv())
    report = out / "report.md"
    print(f"\ndemo finished in {stages.clock()} ({' and '.join(arm_names(args))}); read {report} "
          f"(figures and summary.json beside it)", flush=True)
    return 0
