"""Playing synthetic games: the experts and anchors as arena players, every game through arena.MatchRunner.

The games follow the evaluation's rules exactly (arena.rules_ending: threefold repetition claimed, no
50-move claim; a game still running at the ply cap is adjudicated by Stockfish), and are recorded by
arena.GameStore with the evaluation's record schema. A game is a function of its id
(`synth-s{seed}-{index:07d}`, which seeds its random stream) and its two players: engines search
every move from a cleared hash, so the games are the same whatever `workers` (engine searches in
parallel) is, and a resumed run (which plays only the ids its records lack) ends with the games of an
uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import logging
import pathlib
import statistics

from arena import (
    DEFAULT_NODES,
    SCORES,
    EngineSpec,
    Expert,
    ExpertPlayer,
    GameStore,
    MatchRunner,
    PlannedGame,
    Player,
    Stockfish,
    StockfishPlayer,
    read_records,
)

log = logging.getLogger(__name__)
EVENT = "Synthetic expert game"
CALIBRATION_EVENT = EVENT + " (calibration)"
# Games in flight: enough to keep every engine thread busy; fixed, so the runner's schedule (which games
# are live at each step) does not depend on --workers.
GAMES_IN_FLIGHT = 64
# The plan's time estimate: a move costs a UCI round trip (with a new game: a cleared hash) plus the search;
# a game lasts about TYPICAL_PLIES (fewer at a lower ply cap). Measured roughly with Debian's Stockfish 15.
MOVE_OVERHEAD_S = 0.004
NODES_PER_S = 300_000
TYPICAL_PLIES = 120


@dataclasses.dataclass(frozen=True)
class GameJob:
    index: int
    white: str  # player names
    black: str
    calibration: bool  # a game against an anchor, kept out of the training PGN

    def planned(self, seed: int) -> PlannedGame:
        return PlannedGame(game_id(seed, self.index), self.index + 1, self.white, self.black)


@dataclasses.dataclass(frozen=True)
class PlayedGame:
    """A finished game as the PGN writer and the rating fit need it, derived from its arena record."""

    index: int
    white: str
    black: str
    moves: tuple[str, ...]  # UCI
    result: str  # "1-0" | "0-1" | "1/2-1/2"
    ending: str  # the record's termination: checkmate, stalemate, ..., threefold_repetition, adjudication
    bias_moves: tuple[int, int]  # moves each side played from its bias policy (White, Black)
    calibration: bool

    @property
    def white_score(self) -> float:
        return SCORES[self.result]

    @classmethod
    def from_record(cls, record: dict, job: GameJob) -> PlayedGame:
        sides = record["players"]["white"], record["players"]["black"]
        return cls(job.index, record["white"], record["black"], tuple(record["moves_uci"]), record["result"],
                   record["termination"], (sides[0].get("bias_moves", 0), sides[1].get("bias_moves", 0)),
                   job.calibration)


def game_id(seed: int, index: int) -> str:
    return f"synth-s{seed}-{index:07d}"


def site(seed: int, index: int) -> str:
    """The game's Site tag, in its record and in the training PGN."""
    return f"synth://seed{seed}/{index:07d}"


def make_players(experts: list[Expert], anchors: list[EngineSpec], stockfish: str | None) -> dict[str, Player]:
    """The experts as ExpertPlayers and the anchors as StockfishPlayers (random_pct handicaps included)."""
    players: dict[str, Player] = {e.name: ExpertPlayer(e, stockfish) for e in experts}
    players.update({spec.name: StockfishPlayer(spec, stockfish) for spec in anchors})
    return players


def recorded_ids(records_dir: pathlib.Path) -> set[str]:
    """Game ids already recorded in records_dir/games.jsonl (a cut last line is no game)."""
    return {r["game_id"] for r in read_records(records_dir / "games.jsonl")}


def estimate_seconds(jobs: list[GameJob], nodes: dict[str, int | None], max_plies: int, workers: int) -> float:
    """A rough wall time for `jobs` from each player's node limit (None: unlimited, counted as 1e6)."""
    per_move_s = {name: MOVE_OVERHEAD_S + (n or 1_000_000) / NODES_PER_S for name, n in nodes.items()}
    plies = min(max_plies, TYPICAL_PLIES)
    total = sum(plies * statistics.mean((per_move_s[j.white], per_move_s[j.black])) for j in jobs)
    return total / workers


def play_games(jobs: list[GameJob], players: dict[str, Player], seed: int, records_dir: pathlib.Path,
               max_plies: int, workers: int, stockfish: str | None = None) -> list[PlayedGame]:
    """Plays every job not yet recorded in records_dir (games.jsonl, games.pgn) through arena.MatchRunner,
    records each game there, and returns all the jobs' games in job order."""
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    by_id = {game_id(seed, job.index): job for job in jobs}
    store = GameStore(records_dir)
    todo = [job.planned(seed) for gid, job in by_id.items() if gid not in store.done]

    def record_game(record: dict) -> None:
        job = by_id[record["game_id"]]
        record["event"] = CALIBRATION_EVENT if job.calibration else EVENT
        record["site"] = site(seed, job.index)
        for colour, idx in (("white", 0), ("black", 1)):
            player = players[record[colour]]
            if isinstance(player, ExpertPlayer):
                record["players"][colour]["bias_moves"] = player.bias_moves(record["game_id"])[idx]
        store.append(record)

    # Capped games are adjudicated exactly as in an evaluation (jaxformer/eval/worker.py).
    with Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), stockfish) as adjudicator:
        runner = MatchRunner(players, adjudicator, record_game, max_plies=max_plies,
                             concurrency=GAMES_IN_FLIGHT, workers=workers,
                             meta={"seed": seed})
        runner.run(todo, desc="synth: playing")
    records = {r["game_id"]: r for r in store.records}
    return [PlayedGame.from_record(records[gid], job) for gid, job in by_id.items()]
