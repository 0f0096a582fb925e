"""`transcend ladder`: put weak opponents on one rating scale anchored to a table, measured on this engine.

The configured players (the random mover, Stockfish skill levels at node limits) play each other:
every pair (`--pairs all`, a round robin) or only near neighbours in the order given
(`--pairs adjacent:K`, list them weakest first), which spends no games on lopsided pairs. `--bridge`
adds players that meet only the listed opponents (e.g. the expensive paper anchors at the default
node limit against their neighbours). The project's one rating fit (`rate_players`, which also rates
experts and models) over all recorded games of the planned pairs, with the anchor table's players
held fixed, rates everyone; the result is written as an anchor table file that
`transcend eval --anchors FILE` (or the bundled name) selects.

`--until-width W` plays in rounds (each adds --games / --bridge-games to every pair) and refits after
each, until every rated player's 95% interval is at most W Elo wide. `--fit-only` plays nothing and
fits the games recorded so far. Games go to DIR/games.jsonl and DIR/games.pgn, so an interrupted
ladder continues where it stopped; DIR/ladder-progress.jsonl logs each round (games, seconds, widest
interval). `--export-games FILE.jsonl.zst` writes the fitted games, compressed, beside a bundled table.
Ctrl-C or SIGTERM stops it cleanly (exit 130); the same command continues.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import logging
import math
import pathlib
import platform
import signal
import sys
import time

import zstandard

from arena.anchors import load_anchor_table
from arena.match import MatchRunner, PlannedGame
from arena.players import Player, make_opponent, parse_opponents
from arena.ratings import PRIOR_DRAWS, fit_info, rate_players
from arena.records import GameStore, read_records
from arena.rules import DEFAULT_MAX_PLIES
from arena.stockfish import DEFAULT_NODES, EngineSpec, Stockfish
from safeio import append_jsonl, read_jsonl, write_bytes_atomic, write_json_atomic

log = logging.getLogger("transcend.ladder")

Pair = tuple[str, str]
PROGRESS_FILE = "ladder-progress.jsonl"
# Enough to refit; the moves are left out to keep a bundled file small (games between skill-20 rungs replay
# from their game_id; the full records stay in the ladder's games.jsonl).
EXPORT_FIELDS = ("game_id", "round", "white", "black", "result", "white_score", "termination", "adjudicated",
                 "eval_cp", "plies", "start_fen", "finished_at")


def replays_identically(name: str) -> bool:
    """Skill 20 without random moves and one thread: from a cleared hash, the same position gives the same move."""
    if name == "random":
        return False
    spec = EngineSpec.parse(name)
    return spec.skill == 20 and spec.random_pct == 0 and spec.threads == 1


def parse_pairs_rule(rule: str) -> int | None:
    """`all` -> None (every pair); `adjacent:K` -> K (each player meets the K next in the list)."""
    if rule == "all":
        return None
    kind, _, k = rule.partition(":")
    if kind != "adjacent" or not k.isdigit() or int(k) < 1:
        raise ValueError(f"--pairs {rule!r}: expected 'all' or 'adjacent:K' with K >= 1 (e.g. adjacent:2)")
    return int(k)


def plan_pairs(players: list[str], bridges: dict[str, list[str]], games: int, bridge_games: int,
               neighbours: int | None = None) -> dict[Pair, int]:
    """Games per round of every planned pair: the players' pairs (all, or `neighbours` apart at most) and the bridges."""
    pairs = {(a, b): games for (i, a), (j, b) in itertools.combinations(enumerate(players), 2)
             if neighbours is None or j - i <= neighbours}
    for a, opps in bridges.items():
        pairs.update({(a, b): bridge_games for b in opps})
    return pairs


def _pair_cap(a: str, b: str) -> int | None:
    """Two players that replay identically would only repeat the same two games: such a pair plays two
    (one with each colour); None: no cap."""
    return 2 if replays_identically(a) and replays_identically(b) else None


def _game_id(a: str, b: str, k: int) -> str:
    return f"{a}-vs-{b}-{k:03d}"


def plan_ladder(pairs: dict[Pair, int], rounds: int = 1) -> list[PlannedGame]:
    """The games of the first `rounds` rounds, colours alternating (at most two for a pair that replays identically).
    Pairs are interleaved in proportion to their games a round, so a round cut short leaves every pair (the slow
    bridges too) with its share of the games played."""
    plan = []
    for (a, b), n in pairs.items():
        cap = _pair_cap(a, b)
        for k in range(n * rounds if cap is None else min(cap, n * rounds)):
            white, black = (a, b) if k % 2 == 0 else (b, a)
            plan.append(((k // 2) / n, PlannedGame(_game_id(a, b, k), k + 1, white, black)))
    return [game for _, game in sorted(plan, key=lambda item: item[0])]  # stable: pair order within a step


def pair_records(records: list[dict], pairs: dict[Pair, int]) -> list[dict]:
    """Every recorded game of a planned pair, in any round (the games of earlier, longer runs included)."""
    caps = {_game_id(a, b, 0)[:-4]: _pair_cap(a, b) for a, b in pairs}
    out = []
    for r in records:
        stem, _, k = r["game_id"].rpartition("-")
        cap = caps.get(stem, 0)
        if stem in caps and k.isdigit() and (cap is None or int(k) < cap):
            out.append(r)
    return out


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


def widest_interval(table: dict) -> tuple[str | None, float]:
    """The rated player with the widest 95% interval and its width (infinite for a one-sided bound)."""
    widths = {n: (hi - lo if lo is not None and hi is not None else math.inf) for n, (lo, hi) in table["ci95"].items()}
    name = max(widths, key=lambda n: widths[n], default=None)
    return name, (widths[name] if name is not None else 0.0)


def pair_counts(records: list[dict], pairs: dict[Pair, int]) -> dict[str, dict]:
    """Per planned pair "A vs B": games, A's wins / draws / losses, adjudicated games."""
    out = {f"{a} vs {b}": {"games": 0, "wins": 0, "draws": 0, "losses": 0, "adjudicated": 0} for a, b in pairs}
    for r in records:
        for a, b in ((r["white"], r["black"]), (r["black"], r["white"])):
            key = f"{a} vs {b}"
            if key in out:
                score = r["white_score"] if a == r["white"] else 1.0 - r["white_score"]
                c = out[key]
                c["games"] += 1
                c["wins" if score == 1.0 else "losses" if score == 0.0 else "draws"] += 1
                c["adjudicated"] += int(r["adjudicated"])
    return out


def engine_version(records: list[dict]) -> str | None:
    """The Stockfish version recorded with the games (None before any engine game)."""
    for r in records:
        for side in ("white", "black"):
            info = r["players"][side]
            if info["settings"].get("kind") == "stockfish" and info.get("version"):
                return info["version"]
    return None


def export_games(records: list[dict], path: pathlib.Path) -> None:
    """The fitted games as zstd-compressed JSONL (EXPORT_FIELDS only): small enough to bundle with a table."""
    lines = "".join(json.dumps({k: r.get(k) for k in EXPORT_FIELDS}, separators=(",", ":")) + "\n" for r in records)
    write_bytes_atomic(path, zstandard.ZstdCompressor(level=19, write_checksum=True).compress(lines.encode()))



def build_parser() -> argparse.ArgumentParser:
    """Every option's help names its default once."""
    p = argparse.ArgumentParser(prog="transcend ladder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--players", required=True,
                   help="players: random and Stockfish specs (3, l0-n100, l2-d1), comma-separated, weakest first "
                        "for --pairs adjacent:K (required)")
    p.add_argument("--pairs", default="all",
                   help="which players meet: 'all' (round robin) or 'adjacent:K' (each meets the K next in "
                        "--players) (default: %(default)s)")
    p.add_argument("--bridge", action="append", default=[],
                   help="NAME:OPP1,OPP2 adds NAME, playing only those opponents; repeatable (default: no bridges)")
    p.add_argument("--games", type=int, default=10,
                   help="games per pair (per round with --until-width), colours alternating (default: %(default)s)")
    p.add_argument("--bridge-games", type=int, default=None, help="games per bridge pair (default: --games)")
    p.add_argument("--until-width", type=float, default=None,
                   help="play rounds until every rated player's 95%% interval is at most this many Elo wide "
                        "(default: one round)")
    p.add_argument("--max-rounds", type=int, default=100,
                   help="with --until-width: stop after this many rounds even if wider (default: %(default)s)")
    p.add_argument("--fit-only", action="store_true",
                   help="play nothing: fit and write the table from the games recorded in --dir (default: play)")
    p.add_argument("--export-games", default=None,
                   help="also write the fitted games as zstd JSONL, e.g. arena/tables/NAME.games.jsonl.zst "
                        "(default: none)")
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


class _Engines:
    """The players and the adjudicator, started when the first game is to be played and kept across rounds."""

    def __init__(self, everyone: list[str], args: argparse.Namespace):
        self.everyone, self.args = everyone, args
        self.roster: dict[str, Player] = {}
        self.adjudicator: Stockfish | None = None

    def play(self, todo: list[PlannedGame], store: GameStore, desc: str) -> None:
        if not self.roster:
            self.roster = {n: make_opponent(n, self.args.stockfish) for n in self.everyone}
            self.adjudicator = Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), self.args.stockfish)
        MatchRunner(self.roster, self.adjudicator, store.append, max_plies=self.args.max_plies,
                    concurrency=2 * self.args.workers, workers=self.args.workers,
                    meta={"event": "transcend ladder"}).run(todo, desc=desc)

    def close(self) -> None:
        for p in self.roster.values():
            p.close()
        if self.adjudicator is not None:
            self.adjudicator.close()


class _Ladder:
    """One ladder directory: its recorded games, its planned pairs, its progress log, and the fit."""

    def __init__(self, args: argparse.Namespace, pairs: dict[Pair, int], anchors: dict[str, float], everyone: list[str]):
        self.args, self.pairs, self.anchors = args, pairs, anchors
        # --fit-only only reads (no repair of a cut last line, no PGN rewrite): safe beside a ladder still playing there.
        self._store = None if args.fit_only else GameStore(pathlib.Path(args.dir))
        self._read = read_records(pathlib.Path(args.dir) / "games.jsonl") if args.fit_only else []
        self.progress = pathlib.Path(args.dir) / PROGRESS_FILE
        self.engines = _Engines(everyone, args)

    @property
    def store(self) -> GameStore:
        if self._store is None:
            raise RuntimeError("a --fit-only ladder plays no games")
        return self._store

    def records(self) -> list[dict]:
        return pair_records(self._read if self._store is None else self._store.records, self.pairs)

    def fit(self) -> dict:
        return rate_ladder(self.records(), self.anchors, self.args.n_boot)

    def _fit_or_none(self) -> dict | None:
        try:
            return self.fit()
        except ValueError as err:  # too few games yet to rate everyone: the next round adds some
            log.info("ladder: not yet ratable (%s)", err)
            return None

    def _done(self, ratings: dict | None) -> bool:
        return ratings is not None and widest_interval(ratings)[1] <= self.args.until_width

    def _play_round(self, rnd: int, todo: list[PlannedGame]) -> None:
        """Play one round's missing games; its games and seconds go to the progress log, even when interrupted."""
        start, before = time.monotonic(), len(self.store.records)
        log.info("ladder round %d: %d games to play over %d pairs (%s)", rnd, len(todo), len(self.pairs),
                 self._estimate(len(todo)))
        try:
            self.engines.play(todo, self.store, desc=f"ladder round {rnd}")
        finally:
            append_jsonl(self.progress, {"round": rnd, "played": len(self.store.records) - before,
                                         "seconds": round(time.monotonic() - start, 1),
                                         "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")})

    def _estimate(self, n_games: int) -> str:
        played = sum(p.get("played", 0) for p in read_jsonl(self.progress))
        if not played:
            return "no timing yet"
        return f"about {n_games * self.time_spent() / played / 60:.0f} min at the pace so far"

    def time_spent(self) -> float:
        """Seconds spent playing in this directory, over every run that recorded progress."""
        return round(sum(p.get("seconds", 0.0) for p in read_jsonl(self.progress)), 1)

    def measure(self) -> dict:
        """One round (no --until-width), or rounds until every interval is narrow enough; returns the last fit."""
        until = self.args.until_width
        rounds = 1 if until is None else self.args.max_rounds
        log.info("ladder: %d pairs, %s games a pair per round, %s", len(self.pairs), sorted(set(self.pairs.values())),
                 "one round" if until is None else f"rounds until every interval is <= {until} Elo (at most {rounds})")
        ratings = None if until is None else self._fit_or_none()  # resuming: the recorded games may suffice
        try:
            for rnd in range(1, rounds + 1):
                if until is not None and self._done(ratings):
                    break
                todo = [g for g in plan_ladder(self.pairs, rnd) if g.game_id not in self.store.done]
                if not todo:
                    continue  # this round was played before: the fit already holds its games
                self._play_round(rnd, todo)
                ratings = self.fit() if until is None else self._fit_or_none()
                if ratings is not None:
                    name, width = widest_interval(ratings)
                    log.info("ladder round %d: %d games fitted; widest interval %s, %.0f Elo (target %s)",
                             rnd, len(self.records()), name, width, until)
            if until is not None and not self._done(ratings):
                log.warning("ladder: %d rounds played and some interval is still wider than %s Elo", rounds, until)
        finally:
            self.engines.close()
        return ratings if ratings is not None else self.fit()


def build_table(ladder: _Ladder, ratings: dict, argv: list[str], players: list[str],
                bridges: dict[str, list[str]]) -> dict:
    """The anchor table file: the ratings and everything needed to reproduce them."""
    args, records = ladder.args, ladder.records()
    name, width = widest_interval(ratings)
    return {"name": pathlib.Path(args.out).stem, "engine_version": engine_version(records),
            "anchor_table": args.anchors, **ratings, "games": len(records),
            "adjudicated_games": sum(r["adjudicated"] for r in records),
            "pair_games": pair_counts(records, ladder.pairs),
            "widest_interval": {"player": name, "width": None if math.isinf(width) else round(width, 1)},
            "time_spent_s": ladder.time_spent(),
            "settings": {"threads": 1, "hash_mb": 16, "default_nodes": args.nodes, "max_plies": args.max_plies,
                         "pairs": args.pairs, "games_per_pair": args.games,
                         "bridge_games_per_pair": args.bridge_games or args.games,
                         "until_width": args.until_width, "hash_cleared_every_move": True},
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
        neighbours = parse_pairs_rule(args.pairs)
    except (ValueError, FileNotFoundError) as err:
        print(f"transcend ladder: {err}", file=sys.stderr)
        return 2
    everyone = list(dict.fromkeys(players + list(bridges) + [o for opps in bridges.values() for o in opps]))
    if not any(n in anchors for n in everyone):
        print(f"transcend ladder: no player is in anchor table {args.anchors!r} ({sorted(anchors)}); "
              "add one (e.g. --bridge 1:l1-n1000) so the scale is anchored", file=sys.stderr)
        return 2
    pairs = plan_pairs(players, bridges, args.games, args.bridge_games or args.games, neighbours)
    ladder = _Ladder(args, pairs, anchors, everyone)
    if args.fit_only and not ladder.records():
        print(f"transcend ladder: --fit-only, but {args.dir} holds no games of the planned pairs; "
              "play some first (drop --fit-only)", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill / a scheduler: stop as on Ctrl-C
    try:
        ratings = ladder.fit() if args.fit_only else ladder.measure()
    except KeyboardInterrupt:  # the round's progress line is written and the engines are closed
        print(f"transcend ladder: stopped; {len(ladder.records())} games of the planned pairs are recorded in "
              f"{args.dir}; rerun the same command to continue", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    table = build_table(ladder, ratings, argv, players, bridges)
    write_json_atomic(pathlib.Path(args.out), table)
    if args.export_games:
        export_games(ladder.records(), pathlib.Path(args.export_games))
    for name, r in table["ratings"].items():
        lo, hi = table["ci95"].get(name, [r, r])
        print(f"{name:24s} {r:8.1f}  [{lo}, {hi}]{'  (anchor)' if name in table['anchored_to'] else ''}")
    for name, b in table["one_sided_bounds"].items():
        print(f"{name:24s} {b['kind']} bound {b['value']}")
    print(f"{table['games']} games, widest interval {table['widest_interval']}; wrote {args.out}"
          + (f" and {args.export_games}" if args.export_games else ""))
    return 0
