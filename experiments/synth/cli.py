"""`transcend data synth`: a synthetic population of imperfect Stockfish experts, written as Lichess-style PGN.

Two passes. First the games are played by arena's match runner under the evaluation's rules (each
game from its own seed). Then the experts' ratings are measured from those games by the project's
one rating fit (arena.rate_players) with a few ladder-calibrated engine settings (the anchors, which
play calibration games against every expert) held fixed, so the ratings in the PGN headers are on
the evaluation's scale. Written to OUT/:

  records/games.jsonl  every game as an arena record (the evaluation's schema), and records/games.pgn
  games.pgn.zst        expert-vs-expert games: the training data (`transcend data build OUT/games.pgn.zst`)
  calibration.pgn.zst  expert-vs-anchor games (kept out of the training data: the anchors are no experts)
  population.json      experts (engine, bias, epsilon), measured ratings with 95% intervals, records, the fit,
                       and whose arg-max is the engine's move (experiments/synth/argmax.py)
  settings.json        what fixes the games (experiments/synth/resume.py): a rerun of the same command
                       continues an interrupted run, playing only the games records/ lacks
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import os
import pathlib
import random
import time

from arena import BIAS_POLICIES, DEFAULT_LADDER, DEFAULT_MAX_PLIES, PRIOR_DRAWS, Expert, ExpertPlayer, fit_info
from experiments.synth.argmax import ARGMAX_POSITIONS, measure_argmax, sample_positions
from experiments.synth.pgn import Seat, game_to_pgn, write_pgn_zst
from experiments.synth.play import GameJob, PlayedGame, estimate_seconds, make_players, play_games, recorded_ids
from experiments.synth.population import DEFAULT_BIASES, DEFAULT_EPSILON, POPULATIONS, build_population
from experiments.synth.ratings import Anchor, choose_anchors, measure_ratings
from experiments.synth.resume import game_settings, prepare_out, refuse_foreign
from safeio import write_json_atomic

log = logging.getLogger("transcend.synth")
RECORDS = "records"  # OUT/records/games.jsonl and games.pgn (arena.GameStore)
OUTPUTS = ("games.pgn.zst", "calibration.pgn.zst", "population.json", f"{RECORDS}/games.jsonl",
           f"{RECORDS}/games.pgn")
# Options that count something: each must be at least 1 (what it counts, for the error's sentence).
COUNTS = {"games": "expert-vs-expert games to play", "experts": "experts in the population",
          "workers": "engine searches in parallel", "max_plies": "plies before a game is adjudicated",
          "calibration_games": "expert-vs-anchor games (they put the experts on the anchors' scale)",
          "bootstrap": "bootstrap resamples", "argmax_positions": "positions the arg-max statement is measured on"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transcend data synth",
        description="Generate games between imperfect experts: Stockfish (skill 20, node-limited) that plays a "
                    "move from its own bias policy with probability epsilon. Experts range from weak (few nodes, "
                    "large epsilon) to strong, and their biases differ, so their errors are uncorrelated.")
    p.add_argument("--out", required=True,
                   help="output directory (games.pgn.zst, calibration.pgn.zst, population.json, records/, "
                        "settings.json); rerun the same command to continue an interrupted run (required)")
    p.add_argument("--games", type=int, default=1000,
                   help="expert-vs-expert games (the training data) (default: %(default)s)")
    p.add_argument("--experts", type=int, default=8, help="population size (default: %(default)s)")
    p.add_argument("--nodes", type=int, nargs=2, default=(10, 1000), metavar=("LO", "HI"),
                   help="node limits of the weakest and strongest expert (geometric spacing) (default: %(default)s)")
    p.add_argument("--population", choices=POPULATIONS, default="subset",
                   help="subset: biases pick uniformly within a class of moves, dealt round-robin; systematic: each "
                        "expert a different systematic bias (one fixed move per position) at a bias rate above 1/2, "
                        "so only the population's majority is the engine's move (default: %(default)s)")
    p.add_argument("--epsilon", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="bias rates (probabilities of the bias move) of the strongest and weakest expert, linearly "
                        "spaced (default: " + "; ".join(f"{' '.join(map(str, DEFAULT_EPSILON[k]))} for {k}"
                                                        for k in POPULATIONS) + ")")
    p.add_argument("--biases", default=None,
                   help=f"bias mix, dealt round-robin from the weakest expert up (repeat a name to weight it; "
                        f"systematic: one different name per expert, in order); known: {', '.join(BIAS_POLICIES)} "
                        "(default: " + "; ".join(f"{','.join(DEFAULT_BIASES[k])} for {k}" for k in POPULATIONS) + ")")
    p.add_argument("--clones", action="store_true",
                   help="diversity ablation: every game is one expert against itself: for subset one of the "
                        "population's mean strength, for systematic the population's median expert with its bias "
                        "and rate (default: off)")
    p.add_argument("--argmax-positions", type=int, default=ARGMAX_POSITIONS,
                   help="positions sampled from the training games on which population.json states whose arg-max is "
                        "the engine's move (default: %(default)s)")
    p.add_argument("--calibration-games", type=int, default=None,
                   help="expert-vs-anchor games (default: 25 per expert, at least games/10)")
    p.add_argument("--anchors", default=None,
                   help="calibrated engines the experts are measured against: comma-separated entries of the anchor "
                        "table, e.g. stockfish-l0-n1000,stockfish-l3-n1000 (default: up to 5 engines of at most "
                        "5000 nodes spread over the table's rating range)")
    p.add_argument("--anchor-table", default=DEFAULT_LADDER,
                   help="anchor ratings: a bundled table name or a JSON file (default: %(default)s)")
    p.add_argument("--anchor-rating", type=float, default=None,
                   help="with a single --anchors entry: use this Elo for it instead of the table's "
                        "(recorded as provisional) (default: the table's rating)")
    p.add_argument("--max-plies", type=int, default=DEFAULT_MAX_PLIES,
                   help="a game still running after this many plies is adjudicated by Stockfish, as in the "
                        "evaluation (default: %(default)s)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="engine searches in parallel (threads of the match runner) (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="the output is a function of the seed and the options (default: %(default)s)")
    p.add_argument("--bootstrap", type=int, default=200,
                   help="bootstrap resamples for the rating intervals (default: %(default)s)")
    p.add_argument("--stockfish", default=None, help="Stockfish binary (default: PATH, then /usr/games/stockfish)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing population (and its recorded games) in --out instead of continuing it "
                        "(default: off)")
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    for name, what in COUNTS.items():
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} {value}: must be at least 1 ({what})")
    if args.epsilon is None:
        args.epsilon = list(DEFAULT_EPSILON[args.population])
    if args.biases is None:
        args.biases = ",".join(DEFAULT_BIASES[args.population])
    args.biases = [b.strip() for b in args.biases.split(",") if b.strip()]
    args.anchors = [a.strip() for a in args.anchors.split(",") if a.strip()] if args.anchors else None
    unknown = [b for b in args.biases if b not in BIAS_POLICIES]
    if unknown:
        p.error(f"--biases: unknown policies {unknown}; known: {', '.join(BIAS_POLICIES)}")
    if not all(0.0 <= e <= 1.0 for e in args.epsilon):
        p.error(f"--epsilon values must be in [0, 1], got {args.epsilon}")
    return args


def schedule(experts: list[Expert], anchors: list[Anchor], games: int, calibration: int, seed: int) -> list[GameJob]:
    """Training games pair two random different experts (one expert with itself for clones); calibration
    games go round-robin over experts, then anchors, alternating colours each round."""
    jobs = []
    for i in range(games):
        rng = random.Random(f"transcend-synth-pairing:{seed}:{i}")
        white, black = (experts[0], experts[0]) if len(experts) == 1 else rng.sample(experts, 2)
        jobs.append(GameJob(i, white.name, black.name, calibration=False))
    for k in range(calibration):
        expert = experts[k % len(experts)].name
        anchor = anchors[(k // len(experts)) % len(anchors)].engine.name
        white, black = (anchor, expert) if (k // (len(experts) * len(anchors))) % 2 == 0 else (expert, anchor)
        jobs.append(GameJob(games + k, white, black, calibration=True))
    return jobs


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything decided before the first move: the population, its anchors and the games to play."""

    out: pathlib.Path
    experts: list[Expert]
    anchors: list[Anchor]
    jobs: list[GameJob]
    calibration: int


def plan(args: argparse.Namespace) -> Plan:
    """Builds the population, picks the anchors and schedules the games."""
    out = pathlib.Path(args.out)
    refuse_foreign(out, args.overwrite, OUTPUTS)
    experts = build_population(args.experts, tuple(args.nodes), tuple(args.epsilon), args.biases, clones=args.clones,
                               population=args.population)
    anchors = choose_anchors(args.anchor_table, args.anchors, args.anchor_rating)
    calibration = args.calibration_games
    if calibration is None:
        calibration = max(25 * len(experts), args.games // 10)
    return Plan(out, experts, anchors, schedule(experts, anchors, args.games, calibration, args.seed), calibration)


def synthesize(args: argparse.Namespace, p: Plan) -> dict:
    """Records the settings (or checks them against an interrupted run's), plays the games not yet recorded,
    rates the experts, and writes the PGN files and population.json."""
    players = make_players(p.experts, [a.engine for a in p.anchors], args.stockfish)
    try:
        version = players[p.anchors[0].engine.name].version()
        settings = game_settings(args.seed, args.games, p.calibration, args.max_plies, p.experts, p.anchors, version)
        prepare_out(p.out, settings, args.overwrite, OUTPUTS)
        _print_plan(args, p, recorded_ids(p.out / RECORDS))
        t0 = time.time()
        games = play_games(p.jobs, players, args.seed, p.out / RECORDS, args.max_plies, args.workers, args.stockfish)
        play_s = time.time() - t0
        log.info("measuring whose arg-max is the engine's move on %d sampled positions", args.argmax_positions)
        experts = {e.name: players[e.name] for e in p.experts}
        argmax = measure_argmax(p.experts, {n: pl for n, pl in experts.items() if isinstance(pl, ExpertPlayer)},
                                sample_positions(games, args.argmax_positions, args.seed), args.workers)
    finally:
        for player in players.values():
            player.close()
    log.info("fitting ratings (Bradley-Terry, %d bootstrap resamples)", args.bootstrap)
    measured = measure_ratings(games, p.experts, p.anchors, args.bootstrap, args.seed)
    _write_pgns(p, games, measured, args.seed)
    population = _population_json(args, p, measured, argmax, games, play_s, version)
    write_json_atomic(p.out / "population.json", population)
    return population


def _write_pgns(p: Plan, games: list[PlayedGame], measured: dict, seed: int) -> None:
    header_ratings = {e.name: measured[e.name]["rating"] for e in p.experts}
    header_ratings.update({a.engine.name: a.rating for a in p.anchors})
    seats = {e.name: Seat.of_expert(e) for e in p.experts} | {a.engine.name: Seat.of_anchor(a.engine) for a in p.anchors}
    train_pgn = [game_to_pgn(g, seats, header_ratings, seed) for g in games if not g.calibration]
    calib_pgn = [game_to_pgn(g, seats, header_ratings, seed) for g in games if g.calibration]
    write_pgn_zst(p.out / "games.pgn.zst", train_pgn)
    write_pgn_zst(p.out / "calibration.pgn.zst", calib_pgn)


def _population_json(args: argparse.Namespace, p: Plan, measured: dict, argmax: dict, games: list[PlayedGame],
                     play_s: float, version: str | None) -> dict:
    train = [g for g in games if not g.calibration]
    best = max(p.experts, key=lambda e: measured[e.name]["rating"])
    return {
        "kind": "clones" if args.clones else "diverse", "population": args.population,
        "seed": args.seed, "workers": args.workers, "stockfish": version,
        "options": {"games": args.games, "experts": args.experts, "nodes": list(args.nodes),
                    "epsilon": list(args.epsilon), "biases": args.biases, "clones": args.clones,
                    "population": args.population, "max_plies": args.max_plies, "bootstrap": args.bootstrap,
                    "argmax_positions": args.argmax_positions},
        "anchors": [{"name": a.engine.name, "engine_settings": a.engine.settings(), "rating": a.rating,
                     "source": a.source, "provisional": a.provisional, "deterministic": a.deterministic,
                     "calibration_games": sum(a.engine.name in (g.white, g.black) for g in games if g.calibration)}
                    for a in p.anchors],
        "fit": fit_info(PRIOR_DRAWS, args.bootstrap),
        "experts": [{**e.describe(), **measured[e.name], "argmax": argmax["experts"][e.name]} for e in p.experts],
        "majority_is_engine": argmax["majority_is_engine"], "majority_reference": argmax["majority_reference"],
        "best_expert": {"name": best.name, "rating": measured[best.name]["rating"],
                        "rating_ci95": measured[best.name]["rating_ci95"],
                        "rating_bound": measured[best.name]["rating_bound"]},
        "games": {"train": len(train), "calibration": len(games) - len(train)},
        "results": dict(collections.Counter(g.result for g in train)),
        "endings": dict(collections.Counter(g.ending for g in train)),
        "mean_plies": sum(len(g.moves) for g in train) / max(len(train), 1),
        "files": {"train": "games.pgn.zst", "calibration": "calibration.pgn.zst",
                  "records": f"{RECORDS}/games.jsonl"},
        "play_seconds": round(play_s, 1),
    }


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    # Bad input raises ValueError / OSError with its sentence, Ctrl-C KeyboardInterrupt: `transcend` prints one line.
    population = synthesize(args, plan(args))
    _print_summary(args, population)
    return 0


def _print_plan(args: argparse.Namespace, p: Plan, recorded: set[str]) -> None:
    names = ", ".join(f"{a.engine.name} ({a.rating:.0f})" for a in p.anchors)
    todo = [j for j in p.jobs if j.planned(args.seed).game_id not in recorded]
    nodes = {e.name: e.engine.nodes for e in p.experts} | {a.engine.name: a.engine.nodes for a in p.anchors}
    minutes = estimate_seconds(todo, nodes, args.max_plies, args.workers) / 60
    print(f"synth: {len(p.experts)} expert(s), {args.games} games + {p.calibration} calibration games vs anchors "
          f"{names} from {p.anchors[0].source}, {args.workers} worker(s)", flush=True)
    for e in p.experts:
        print(f"  {e.name}: {e.engine.name}, bias {e.bias} with epsilon {e.epsilon:g}", flush=True)
    print(f"synth: {len(p.jobs) - len(todo)} already recorded, {len(todo)} to play "
          f"(roughly {minutes:.1f} min; Ctrl-C keeps the finished games, rerun the same command to continue)",
          flush=True)


def _print_summary(args: argparse.Namespace, population: dict) -> None:
    print(f"synth: wrote {population['games']['train']} games to {args.out}/games.pgn.zst "
          f"({population['play_seconds']:.0f} s of play); measured ratings:", flush=True)
    for e in sorted(population["experts"], key=lambda e: e["rating"]):
        lo, hi = e["rating_ci95"]
        bound = f"  ({e['rating_bound']} bound)" if e["rating_bound"] else ""
        print(f"  {e['name']:<32} {e['rating']:7.0f}  [{_fmt(lo, '-inf')}, {_fmt(hi, 'inf')}]  score {e['score']:.2f} "
              f"over {e['games']} games{bound}", flush=True)
    best = population["best_expert"]
    print(f"synth: best expert {best['name']} at {best['rating']:.0f}"
          + (f" ({best['rating_bound']} bound)" if best["rating_bound"] else ""), flush=True)


def _fmt(x: float | None, unbounded: str) -> str:
    return unbounded if x is None else f"{x:.0f}"
