"""`transcend data synth`: a synthetic population of imperfect Stockfish experts, written as Lichess-style PGN.

Two passes. First the games are played (in parallel, each from its own seed). Then the experts'
ratings are measured from those games: Bradley-Terry with a few ladder-calibrated engine settings
(the anchors, which play calibration games against every expert) held fixed, so the ratings in
the PGN headers are on the evaluation's scale. Written to OUT/:

  games.pgn.zst        expert-vs-expert games: the training data (`transcend data build OUT/games.pgn.zst`)
  calibration.pgn.zst  expert-vs-anchor games (kept out of the training data: the anchors are no experts)
  population.json      experts (engine, bias, epsilon), measured ratings with 95% intervals, records
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import os
import pathlib
import random
import sys
import time

from tqdm import tqdm

from arena.biases import BIAS_POLICIES, DEFAULT_BIAS_MIX
from arena.stockfish import Stockfish
from experiments.synth.pgn import game_to_pgn, write_pgn_zst
from experiments.synth.play import GameJob, PlayedGame, play_games
from experiments.synth.population import Expert, anchor_expert, build_population
from experiments.synth.ratings import (
    DEFAULT_TABLE,
    PRIOR_DRAWS,
    Anchor,
    choose_anchors,
    measure_ratings,
)

log = logging.getLogger("transcend.synth")
OUTPUTS = ("games.pgn.zst", "calibration.pgn.zst", "population.json")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="transcend data synth",
        description="Generate games between imperfect experts: Stockfish (skill 20, node-limited) that plays a "
                    "move from its own bias policy with probability epsilon. Experts range from weak (few nodes, "
                    "large epsilon) to strong, and their biases differ, so their errors are uncorrelated.")
    p.add_argument("--out", required=True,
                   help="output directory (games.pgn.zst, calibration.pgn.zst, population.json)")
    p.add_argument("--games", type=int, default=1000,
                   help="expert-vs-expert games (the training data) (default: %(default)s)")
    p.add_argument("--experts", type=int, default=8, help="population size (default: %(default)s)")
    p.add_argument("--nodes", type=int, nargs=2, default=(10, 1000), metavar=("LO", "HI"),
                   help="node limits of the weakest and strongest expert (geometric spacing) (default: %(default)s)")
    p.add_argument("--epsilon", type=float, nargs=2, default=(0.1, 0.5), metavar=("LO", "HI"),
                   help="bias probabilities of the strongest and weakest expert, linearly spaced "
                        "(default: %(default)s)")
    p.add_argument("--biases", default=",".join(DEFAULT_BIAS_MIX),
                   help=f"bias mix, dealt round-robin from the weakest expert up (repeat a name to weight it); "
                        f"known: {', '.join(BIAS_POLICIES)} (default: %(default)s)")
    p.add_argument("--clones", action="store_true",
                   help="diversity ablation: every game is one expert of the population's mean strength against itself")
    p.add_argument("--calibration-games", type=int, default=None,
                   help="expert-vs-anchor games (default: 25 per expert, at least games/10)")
    p.add_argument("--anchors", default=None,
                   help="calibrated engines the experts are measured against: comma-separated entries of the anchor "
                        "table, e.g. stockfish-l0-n1000,stockfish-l3-n1000 (default: up to 5 engines of at most "
                        "5000 nodes spread over the table's rating range)")
    p.add_argument("--anchor-table", default=DEFAULT_TABLE,
                   help="anchor ratings: a bundled table name or a JSON file (default: %(default)s)")
    p.add_argument("--anchor-rating", type=float, default=None,
                   help="with a single --anchors entry: use this Elo for it instead of the table's "
                        "(recorded as provisional)")
    p.add_argument("--max-plies", type=int, default=300,
                   help="a game still running after this many plies is a draw (default: %(default)s)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="parallel worker processes (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="the output is a function of the seed and the options (default: %(default)s)")
    p.add_argument("--bootstrap", type=int, default=200,
                   help="bootstrap resamples for the rating intervals (default: %(default)s)")
    p.add_argument("--stockfish", default=None, help="Stockfish binary (default: PATH, then /usr/games/stockfish)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing population in --out")
    args = p.parse_args(argv)
    for name in ("games", "experts", "workers", "max_plies"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    args.biases = [b.strip() for b in args.biases.split(",") if b.strip()]
    args.anchors = [a.strip() for a in args.anchors.split(",") if a.strip()] if args.anchors else None
    unknown = [b for b in args.biases if b not in BIAS_POLICIES]
    if unknown:
        p.error(f"--biases: unknown policies {unknown}; known: {', '.join(BIAS_POLICIES)}")
    if not all(0.0 <= e <= 1.0 for e in args.epsilon):
        p.error(f"--epsilon values must be in [0, 1], got {args.epsilon}")
    return args


def schedule(experts: list[Expert], anchors: list[Expert], games: int, calibration: int,
             seed: int) -> list[GameJob]:
    """Training games pair two random different experts (one expert with itself for clones); calibration
    games go round-robin over experts, then anchors, alternating colours each round."""
    jobs = []
    for i in range(games):
        rng = random.Random(f"transcend-synth-pairing:{seed}:{i}")
        white, black = (experts[0], experts[0]) if len(experts) == 1 else rng.sample(experts, 2)
        jobs.append(GameJob(i, white, black, calibration=False))
    for k in range(calibration):
        expert = experts[k % len(experts)]
        anchor = anchors[(k // len(experts)) % len(anchors)]
        pair = (anchor, expert) if (k // (len(experts) * len(anchors))) % 2 == 0 else (expert, anchor)
        jobs.append(GameJob(games + k, *pair, calibration=True))
    return jobs


def run(args: argparse.Namespace) -> dict:
    out = pathlib.Path(args.out)
    existing = [n for n in OUTPUTS if (out / n).exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{out} already holds {existing}; pass --overwrite to replace them "
                              "or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    experts = build_population(args.experts, tuple(args.nodes), tuple(args.epsilon), args.biases, clones=args.clones)
    anchors = choose_anchors(args.anchor_table, args.anchors, args.anchor_rating)
    anchor_players = [anchor_expert(a.engine) for a in anchors]
    calibration = args.calibration_games
    if calibration is None:
        calibration = max(25 * len(experts), args.games // 10)
    jobs = schedule(experts, anchor_players, args.games, calibration, args.seed)
    names = ", ".join(f"{a.engine.name} ({a.rating:.0f})" for a in anchors)
    print(f"synth: {len(experts)} expert(s), {args.games} games + {calibration} calibration games vs anchors "
          f"{names} from {anchors[0].source}, {args.workers} worker(s)", flush=True)
    for e in experts:
        print(f"  {e.name}: {e.engine.name}, bias {e.bias} with epsilon {e.epsilon:g}", flush=True)

    t0 = time.time()
    played: dict[int, PlayedGame] = {}
    with tqdm(total=len(jobs), desc="synth: playing", unit="game", file=sys.stdout, mininterval=2.0) as bar:
        for game in play_games(jobs, args.seed, args.max_plies, args.workers, args.stockfish):
            played[game.index] = game
            bar.update(1)
    games = [played[i] for i in range(len(jobs))]
    play_s = time.time() - t0

    print(f"synth: fitting ratings (Bradley-Terry, {args.bootstrap} bootstrap resamples)", flush=True)
    measured = measure_ratings(games, experts, anchors, args.bootstrap, args.seed)
    header_ratings = {e.name: measured[e.name]["rating"] for e in experts}
    header_ratings.update({a.engine.name: a.rating for a in anchors})
    by_name = {e.name: e for e in experts + anchor_players}
    train_pgn = [game_to_pgn(g, by_name, header_ratings, args.seed) for g in games if not g.calibration]
    calib_pgn = [game_to_pgn(g, by_name, header_ratings, args.seed) for g in games if g.calibration]
    write_pgn_zst(out / "games.pgn.zst", train_pgn)
    write_pgn_zst(out / "calibration.pgn.zst", calib_pgn)
    population = _population_json(args, experts, anchors, measured, games, play_s)
    tmp = out / "population.json.tmp"
    tmp.write_text(json.dumps(population, indent=2) + "\n")
    os.replace(tmp, out / "population.json")
    return population


def _population_json(args: argparse.Namespace, experts: list[Expert], anchors: list[Anchor], measured: dict,
                     games: list[PlayedGame], play_s: float) -> dict:
    train = [g for g in games if not g.calibration]
    best = max(experts, key=lambda e: measured[e.name]["rating"])
    with Stockfish(anchors[0].engine, args.stockfish) as sf:
        version = sf.version
    return {
        "kind": "clones" if args.clones else "diverse",
        "seed": args.seed, "workers": args.workers, "stockfish": version,
        "options": {"games": args.games, "experts": args.experts, "nodes": list(args.nodes),
                    "epsilon": list(args.epsilon), "biases": args.biases, "clones": args.clones,
                    "max_plies": args.max_plies, "bootstrap": args.bootstrap},
        "anchors": [{"name": a.engine.name, "engine_settings": a.engine.settings(), "rating": a.rating,
                     "source": a.source, "provisional": a.provisional, "deterministic": a.deterministic,
                     "calibration_games": sum(a.engine.name in (g.white, g.black) for g in games if g.calibration)}
                    for a in anchors],
        "rating_prior": f"{PRIOR_DRAWS} virtual draw(s) between each expert and each anchor",
        "experts": [{**e.describe(), **measured[e.name]} for e in experts],
        "best_expert": {"name": best.name, "rating": measured[best.name]["rating"],
                        "rating_ci95": measured[best.name]["rating_ci95"]},
        "games": {"train": len(train), "calibration": len(games) - len(train)},
        "results": dict(collections.Counter(g.result for g in train)),
        "endings": dict(collections.Counter(g.ending for g in train)),
        "mean_plies": sum(len(g.moves) for g in train) / max(len(train), 1),
        "files": {"train": "games.pgn.zst", "calibration": "calibration.pgn.zst"},
        "play_seconds": round(play_s, 1),
    }


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        population = run(args)
    except (ValueError, FileExistsError, FileNotFoundError) as err:
        print(f"transcend data synth: error: {err}", file=sys.stderr)
        return 2
    print(f"synth: wrote {population['games']['train']} games to {args.out}/games.pgn.zst "
          f"({population['play_seconds']:.0f} s of play); measured ratings:", flush=True)
    for e in sorted(population["experts"], key=lambda e: e["rating"]):
        lo, hi = e["rating_ci95"]
        print(f"  {e['name']:<32} {e['rating']:7.0f}  [{_fmt(lo, '-inf')}, {_fmt(hi, 'inf')}]  score {e['score']:.2f} "
              f"over {e['games']} games", flush=True)
    print(f"synth: best expert {population['best_expert']['name']} at {population['best_expert']['rating']:.0f}",
          flush=True)
    return 0


def _fmt(x: float | None, unbounded: str) -> str:
    return unbounded if x is None else f"{x:.0f}"
