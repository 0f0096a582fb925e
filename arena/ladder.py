"""`transcend ladder`: put weak opponents on one rating scale anchored to a table, measured on this engine.

The configured players (the random mover, Stockfish skill levels at node limits) play a round robin;
`--bridge` adds players that meet only the listed opponents (e.g. the expensive paper anchors at the
default node limit against their neighbours). The project's one rating fit (`rate_players`, which
also rates experts and models) over all games, with the anchor table's players held fixed, rates
everyone; the result is written as an anchor table file that `transcend eval --anchors FILE` (or the
bundled name) selects. Games go to DIR/games.jsonl and DIR/games.pgn, so an interrupted ladder
continues where it stopped.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import logging
import pathlib
import platform
import sys

from arena.anchors import load_anchor_table
from arena.match import MatchRunner, PlannedGame
from arena.players import make_opponent, parse_opponents
from arena.ratings import PRIOR_DRAWS, fit_info, rate_players
from arena.records import GameStore
from arena.rules import DEFAULT_MAX_PLIES
from arena.stockfish import DEFAULT_NODES, EngineSpec, Stockfish
from safeio import write_json_atomic

log = logging.getLogger("transcend.ladder")


def plan_ladder(players: list[str], bridges: dict[str, list[str]], games: int, bridge_games: int) -> list[PlannedGame]:
    pairs = [(a, b, games) for a, b in itertools.combinations(players, 2)]
    pairs += [(a, b, bridge_games) for a, opps in bridges.items() for b in opps]
    plan = []
    for a, b, n in pairs:
        for k in range(n):
            white, black = (a, b) if k % 2 == 0 else (b, a)
            plan.append(PlannedGame(f"{a}-vs-{b}-{k:03d}", k + 1, white, black))
    return plan


def _parse_bridges(items: list[str], nodes: int) -> dict[str, list[str]]:
    out = {}
    for item in items:
        name, sep, opps = item.partition(":")
        if not sep or not opps:
            raise ValueError(f"--bridge {item!r}: expected NAME:OPP1,OPP2 (e.g. 1:l0-n1000,l1-n1000)")
        out[parse_opponents(name, nodes)[0]] = parse_opponents(opps, nodes)
    return out


def rate_ladder(records: list[dict], anchors: dict[str, float], n_boot: int, seed: int = 0) -> dict:
    """The table's rating fields: every player on the anchors' scale, by the project's one fit (rate_players)."""
    games = [(r["white"], r["black"], r["white_score"]) for r in records]
    used = {k: v for k, v in anchors.items() if any(k in (a, b) for a, b, _ in games)}
    rated = rate_players(games, anchors, n_boot=n_boot, seed=seed)

    def fmt(x: float | None) -> float | None:
        return None if x is None else round(x, 1)

    ratings = {**{n: round(r, 1) for n, r in used.items()},
               **{n: round(p.elo, 1) for n, p in rated.items() if p.bound is None}}
    return {"ratings": dict(sorted(ratings.items(), key=lambda kv: kv[1])),
            "one_sided_bounds": {n: {"kind": p.bound, "value": round(p.elo, 1)} for n, p in rated.items() if p.bound},
            "ci95": {n: [fmt(p.ci95[0]), fmt(p.ci95[1])] for n, p in rated.items()},
            "anchored_to": used, "fit": fit_info(PRIOR_DRAWS, n_boot)}


def build_parser() -> argparse.ArgumentParser:
    """Every option's help names its default once."""
    p = argparse.ArgumentParser(prog="transcend ladder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--players", required=True,
                   help="round-robin players: random and Stockfish specs (3, l0-n100, l2-d1), comma-separated (required)")
    p.add_argument("--bridge", action="append", default=[],
                   help="NAME:OPP1,OPP2 adds NAME, playing only those opponents; repeatable (default: no bridges)")
    p.add_argument("--games", type=int, default=10,
                   help="games per round-robin pair, colours alternating (default: %(default)s)")
    p.add_argument("--bridge-games", type=int, default=None, help="games per bridge pair (default: --games)")
    p.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                   help="node limit for bare skill levels (default: %(default)s)")
    p.add_argument("--anchors", default="paper",
                   help="table whose players are held fixed: paper | a bundled table | FILE (default: %(default)s)")
    p.add_argument("--dir", required=True,
                   help="directory for the ladder's games.jsonl / games.pgn, resumable (required)")
    p.add_argument("--out", required=True, help="anchor table JSON to write (required)")
    p.add_argument("--workers", type=int, default=2, help="engine searches in parallel (default: %(default)s)")
    p.add_argument("--max-plies", type=int, default=DEFAULT_MAX_PLIES,
                   help="ply cap; capped games are adjudicated (default: %(default)s)")
    p.add_argument("--stockfish", help="Stockfish binary (default: $TRANSCEND_STOCKFISH, PATH, then /usr/games/stockfish)")
    p.add_argument("--n-boot", type=int, default=300,
                   help="bootstrap resamples for the intervals (default: %(default)s)")
    p.add_argument("--note", default="",
                   help="free text stored in the table: how and where it was measured (default: empty)")
    return p


def _play(plan: list[PlannedGame], store: GameStore, everyone: list[str], args: argparse.Namespace) -> str | None:
    """Play the planned games not yet in the store; returns the engine's version."""
    todo = [g for g in plan if g.game_id not in store.done]
    roster = {n: make_opponent(n, args.stockfish) for n in everyone}
    adjudicator = Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), args.stockfish)
    try:
        log.info("ladder: %d players, %d games planned, %d to play", len(everyone), len(plan), len(todo))
        MatchRunner(roster, adjudicator, store.append, max_plies=args.max_plies, concurrency=2 * args.workers,
                    workers=args.workers, meta={"event": "transcend ladder"}).run(todo, desc="ladder")
        return next((v for p in roster.values() if (v := p.version())), None)
    finally:
        for p in roster.values():
            p.close()
        adjudicator.close()


def build_table(records: list[dict], anchors: dict[str, float], args: argparse.Namespace, argv: list[str],
                players: list[str], bridges: dict[str, list[str]], version: str | None) -> dict:
    """The anchor table file: the ratings and everything needed to reproduce them."""
    return {"name": pathlib.Path(args.out).stem, "engine_version": version, "anchor_table": args.anchors,
            **rate_ladder(records, anchors, args.n_boot), "games": len(records),
            "adjudicated_games": sum(r["adjudicated"] for r in records),
            "settings": {"threads": 1, "hash_mb": 16, "default_nodes": args.nodes, "max_plies": args.max_plies,
                         "games_per_pair": args.games, "bridge_games_per_pair": args.bridge_games or args.games,
                         "hash_cleared_every_move": True},
            "players": players, "bridges": bridges,
            "command": "transcend ladder " + " ".join(argv),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "date": datetime.date.today().isoformat(), "note": args.note}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        players = parse_opponents(args.players, args.nodes)
        bridges = _parse_bridges(args.bridge, args.nodes)
        anchors = load_anchor_table(args.anchors)
    except (ValueError, FileNotFoundError) as err:
        print(f"transcend ladder: {err}", file=sys.stderr)
        return 2
    everyone = list(dict.fromkeys(players + list(bridges) + [o for opps in bridges.values() for o in opps]))
    if not any(n in anchors for n in everyone):
        print(f"transcend ladder: no player is in anchor table {args.anchors!r} ({sorted(anchors)}); "
              "add one (e.g. --bridge 1:l1-n1000) so the scale is anchored", file=sys.stderr)
        return 2
    plan = plan_ladder(players, bridges, args.games, args.bridge_games or args.games)
    store = GameStore(pathlib.Path(args.dir))
    version = _play(plan, store, everyone, args)
    planned = {g.game_id for g in plan}
    records = [r for r in store.records if r["game_id"] in planned]
    table = build_table(records, anchors, args, argv, players, bridges, version)
    write_json_atomic(pathlib.Path(args.out), table)
    for name, r in table["ratings"].items():
        lo, hi = table["ci95"].get(name, [r, r])
        print(f"{name:24s} {r:8.1f}  [{lo}, {hi}]{'  (anchor)' if name in table['anchored_to'] else ''}")
    for name, b in table["one_sided_bounds"].items():
        print(f"{name:24s} {b['kind']} bound {b['value']}")
    print(f"wrote {args.out}")
    return 0
