"""`transcend analyze KIND`: the paper's analyses; each writes OUT/KIND.json and OUT/KIND.png.

  advantage       where the low-temperature gain comes from: the exact policy at each T against T = 1 on
                  held-out positions, every legal move scored by Stockfish (node limit, multipv = all moves)
  diversity       normalized entropy of the action distribution over common opening states, per cutoff
  move-matching   Maia-style top-1 agreement of the model's arg-max with the human move, by rating band

The methods, and how they differ from the paper's scripts, are in docs/analyses.md.
"""
from __future__ import annotations

import argparse
import logging
import os
import pathlib
import sys

import safeio
from experiments.analyze import advantage, diversity, matching, plots
from experiments.analyze.games import SPLITS, read_games

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class DefaultsOnceHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default once: not for a required option (it has none), nor when its help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or "%(default)" in (action.help or "") or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    return value


def _nonnegative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _temperatures(text: str) -> tuple[float, ...]:
    try:
        temps = tuple(sorted({float(t) for t in text.split(",") if t.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated temperatures such as 0.001,0.75,1, got {text!r}") from None
    if not temps or min(temps) < 0:
        raise argparse.ArgumentTypeError(f"temperatures must be >= 0 (0 = arg-max), got {text!r}")
    return temps


def _cutoffs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(c) for c in text.split(",") if c.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated rating cutoffs such as 1000,1300,1500, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="transcend analyze", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")

    adv = kinds.add_parser("advantage", formatter_class=DefaultsOnceHelpFormatter,
                           help="the low-temperature gain, position by position, scored by Stockfish")
    _model_args(adv)
    adv.add_argument("--cutoff", type=int, help="positions from games with max(WhiteElo, BlackElo) <= this "
                                                "(default: the run's data.cutoff; -1: every game)")
    adv.add_argument("--positions", type=_positive_int, default=200, help="held-out positions, one per game")
    adv.add_argument("--temperatures", type=_temperatures, default=advantage.PAPER_TEMPERATURES,
                     help="temperatures, 0 = arg-max; T = 1 (the baseline) is always added (default: 0.001,0.75,1, "
                          "the paper's)")
    adv.add_argument("--nodes", type=_positive_int, default=800_000,
                     help="Stockfish nodes per position for all moves together (~ the paper's 1.0 s on one core)")
    adv.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1, help="Stockfish engines in parallel")
    adv.add_argument("--n-boot", type=_positive_int, default=2000, help="bootstrap resamples over positions")
    adv.add_argument("--stockfish", help="Stockfish binary (default: $TRANSCEND_STOCKFISH, PATH, then /usr/games/stockfish)")

    div = kinds.add_parser("diversity", formatter_class=DefaultsOnceHelpFormatter,
                           help="entropy of the players' moves over common opening states, per cutoff")
    div.add_argument("--data", required=True, help="shard directory of `transcend data build` (required)")
    div.add_argument("--cutoffs", type=_cutoffs, default=(1000, 1300, 1500),
                     help="rating cutoffs (max(WhiteElo, BlackElo) <= C) (default: 1000,1300,1500, the paper's)")
    div.add_argument("--games", type=_positive_int, default=diversity.PAPER_GAMES,
                     help="first N games of each cutoff, in shard order (or all there are)")
    div.add_argument("--min-visits", type=_nonnegative_int, default=diversity.PAPER_MIN_VISITS,
                     help="keep states seen more than this many times (the paper's 100 needs ~500k games; lower it "
                          "for a small sample)")
    div.add_argument("--max-ply", type=_nonnegative_int, default=diversity.PAPER_MAX_PLY, help="states before plies 0..N")
    div.add_argument("--split", choices=SPLITS, default="train", help="which games to count")
    div.add_argument("--out", required=True, help="output directory for diversity.json and diversity.png (required)")

    mm = kinds.add_parser("move-matching", formatter_class=DefaultsOnceHelpFormatter,
                          help="top-1 agreement of the model's arg-max with the human move, by rating band")
    _model_args(mm)
    mm.add_argument("--cutoff", type=int, help="games with max(WhiteElo, BlackElo) <= this (default: every game)")
    mm.add_argument("--games", type=_positive_int, default=200, help="held-out games")
    mm.add_argument("--min-ply", type=_nonnegative_int, default=0, help="skip each game's first N plies (Maia skipped 10)")
    return p


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, help="run directory written by `transcend train` (required)")
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest complete one)")
    p.add_argument("--data", help="shard directory with validation games (default: the run's data.dir)")
    p.add_argument("--seed", type=int, default=0, help="seed of the game sample (and the bootstrap)")
    p.add_argument("--batch", type=_positive_int, default=16, help="positions or games per model pass")
    p.add_argument("--out", required=True, help="output directory for KIND.json and KIND.png (required)")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("absl").setLevel(logging.WARNING)  # Orbax logs every restore step at INFO
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kind = {"advantage": run_advantage, "diversity": run_diversity, "move-matching": run_matching}[args.kind]
    summary = kind(args)
    name = args.kind.replace("-", "_")
    safeio.write_json_atomic(out / f"{name}.json", summary)
    {"advantage": plots.advantage_figure, "diversity": plots.diversity_figure,
     "move-matching": plots.matching_figure}[args.kind](summary, out / f"{name}.png")
    print(f"analyze {args.kind}: wrote {out / f'{name}.json'} and {out / f'{name}.png'}")
    return 0


def _load(args: argparse.Namespace):  # -> jaxformer.eval.api.LoadedRun (imported here: JAX loads only when needed)
    from jaxformer.checkpoint import CheckpointError
    from jaxformer.eval.api import load_run

    try:
        run = load_run(args.run, args.step)
    except CheckpointError as err:
        raise ValueError(f"--run {args.run}: {err}") from None
    data = args.data or run.config.data.dir
    if not data:
        raise ValueError(f"--data: run {args.run} records no data.dir; pass the shard directory with --data DIR")
    return run, data


def run_advantage(args: argparse.Namespace) -> dict:
    run, data = _load(args)
    cutoff = run.config.data.cutoff if args.cutoff is None else (None if args.cutoff < 0 else args.cutoff)
    temps = tuple(sorted(set(args.temperatures) | {advantage.BASELINE_TEMPERATURE}))
    print(f"analyze advantage: {run.name}, {args.positions} positions from validation games of {data} "
          f"(cutoff {cutoff}), T = {', '.join(f'{t:g}' for t in temps)}, Stockfish {args.nodes} nodes a position on "
          f"{args.workers} engines -> {args.out}")
    games = read_games(data, "validation", cutoff, limit=args.positions, seed=args.seed)
    picks = advantage.sample_positions(games, args.positions, args.seed)
    positions = advantage.model_positions(run.player("move"), [games[g].board_at(ply) for g, ply in picks], args.batch)
    engine = advantage.score_with_stockfish(positions, args.nodes, args.workers, args.stockfish)
    summary = advantage.summarize(positions, temps, args.n_boot, args.seed)
    for r in summary["results"]:
        delta = (f", delta {100 * r['delta_win_prob']:+.2f}% [{100 * r['delta_win_prob_ci95'][0]:+.2f}, "
                 f"{100 * r['delta_win_prob_ci95'][1]:+.2f}]" if "delta_win_prob" in r else " (baseline)")
        print(f"  T={r['temperature']:g}: expected score {100 * r['win_prob']:.2f}%{delta}, "
              f"top-1/3/5 {r['top1']:.2f}/{r['top3']:.2f}/{r['top5']:.2f}")
    return {"kind": "advantage", "run": str(args.run), "step": run.step, "model": run.name, "data": str(data),
            "split": "validation", "cutoff": cutoff, "seed": args.seed, "positions": len(positions),
            "nodes": args.nodes, "stockfish": engine, "wdl_model": "lichess", "n_boot": args.n_boot,
            "temperatures": list(temps), "baseline_temperature": advantage.BASELINE_TEMPERATURE, **summary}


def run_diversity(args: argparse.Namespace) -> dict:
    print(f"analyze diversity: {args.data} ({args.split}), cutoffs {', '.join(map(str, args.cutoffs))}, first "
          f"{args.games} games each, states at plies <= {args.max_ply} seen more than {args.min_visits} times "
          f"-> {args.out}")
    rows = []
    for cutoff in args.cutoffs:
        games = read_games(args.data, args.split, cutoff, limit=args.games, max_plies=args.max_ply + 1)
        row = diversity.summarize(cutoff, len(games), diversity.action_counts(games, args.max_ply), args.min_visits)
        rows.append(row)
        mean, by_legal = row["mean_normalized_entropy"], row["mean_normalized_entropy_by_legal"]
        if mean is None:
            print(f"  cutoff {cutoff}: {len(games)} games, no state seen more than {args.min_visits} times: lower "
                  "--min-visits or add games")
        else:
            print(f"  cutoff {cutoff}: {len(games)} games, {row['common_states']} common states, mean normalized "
                  f"entropy {mean:.3f} (paper: {row['paper_mean_normalized_entropy']}), by legal moves {by_legal:.3f}")
    return {"kind": "diversity", "data": str(args.data), "split": args.split, "games_limit": args.games,
            "min_visits": args.min_visits, "max_ply": args.max_ply, "paper_settings":
            {"games": diversity.PAPER_GAMES, "min_visits": diversity.PAPER_MIN_VISITS, "max_ply": diversity.PAPER_MAX_PLY},
            "cutoffs": rows}


def run_matching(args: argparse.Namespace) -> dict:
    run, data = _load(args)
    cutoff = None if args.cutoff is None or args.cutoff < 0 else args.cutoff
    print(f"analyze move-matching: {run.name}, {args.games} validation games of {data} (cutoff {cutoff}), from ply "
          f"{args.min_ply} -> {args.out}")
    games = read_games(data, "validation", cutoff, limit=args.games, seed=args.seed)
    summary = matching.summarize(matching.argmax_matches(run.player("move"), games, args.min_ply, args.batch))
    for b in summary["bands"]:
        print(f"  {b['band'][0]}-{b['band'][1]}: {100 * b['accuracy']:.1f}% of {b['moves']} moves")
    overall = summary["overall"]
    print(f"  overall: {100 * (overall['accuracy'] or 0):.1f}% of {overall['moves']} moves")
    return {"kind": "move-matching", "run": str(args.run), "step": run.step, "model": run.name, "data": str(data),
            "split": "validation", "cutoff": cutoff, "seed": args.seed, "games": len(games), "min_ply": args.min_ply,
            **summary}
