"""One player interface for the model, Stockfish levels and a uniform-random mover.

The match runner hands a player the positions where it is to move. An in-process player (the model)
gets every such game at once and answers in one forward pass; a `threaded` player (an engine) answers
one game per call and the runner calls it from a thread pool, so engine processes search in parallel.
A player may also give up a game instead of moving (MoveChoice.forfeit: the paper's protocol forfeits
a model after repeated illegal output, or when it writes a result such as `1-0`).
"""
from __future__ import annotations

import dataclasses
import queue
import threading

import chess
import numpy as np

from arena.stockfish import EngineSpec, Stockfish


@dataclasses.dataclass
class MoveRequest:
    game_id: str
    board: chess.Board  # the game so far (move stack from its start position); do not modify
    temperature: float | None  # the planned game's temperature, passed through; None: not a model game
    rng: np.random.Generator  # per-game stream: a replayed game samples the same way
    match: str | None = None  # the planned game's match (games played one after another on one engine)


FORFEITS = ("illegal", "resignation")  # why a player gave up a game instead of moving


@dataclasses.dataclass
class MoveChoice:
    move: chess.Move | None  # None only with a forfeit
    illegal_attempts: int = 0  # char mode: outputs that were not a legal move before this one
    forfeit: str | None = None  # one of FORFEITS: the player to move loses the game

    def __post_init__(self) -> None:
        if (self.move is None) == (self.forfeit is None) or self.forfeit not in (None, *FORFEITS):
            raise ValueError(f"a MoveChoice has a move or a forfeit ({FORFEITS}), exactly one: got move={self.move}, "
                             f"forfeit={self.forfeit!r}")


class Player:
    """Base class; subclasses set `name` and implement `choose`."""

    name: str = "player"
    threaded: bool = False  # True: choose() blocks on an external process; run it in the thread pool

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        raise NotImplementedError

    def settings(self) -> dict:
        """What fixes this player's strength (recorded with every game)."""
        return {}

    def version(self) -> str | None:
        return None

    def end_game(self, game_id: str) -> None:
        """Free per-game state (the model's KV cache); also called when a game is replayed."""

    def end_match(self, match: str) -> None:
        """Every game of `match` is over: free per-match state (an engine kept for the match)."""

    def close(self) -> None:
        pass


class RandomMover(Player):
    """Plays a uniformly random legal move: the floor of every ladder."""

    name = "random"

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        out = []
        for req in requests:
            legal = sorted(req.board.legal_moves, key=chess.Move.uci)  # sorted: reproducible from the seed
            out.append(MoveChoice(legal[int(req.rng.integers(len(legal)))]))
        return out

    def settings(self) -> dict:
        return {"kind": "random"}


class StockfishPlayer(Player):
    """A pool of identical engine processes (one per concurrent caller, created on demand).

    Every move is searched from a cleared hash (a new UCI game per move): games interleave on the
    pooled engines, and this keeps one search condition whatever the interleaving.

    `per_match` (the paper's protocol): a game of a planned match (MoveRequest.match) is played by that
    match's own engine, told of a new game only at its first move, so its hash is kept between moves and
    games, as the paper's one engine per 50 games was (chess_research/eval/utils.py play_games creates one
    StockfishPlayer per call; player.py get_move calls engine.play without a `game`). The runner plays a
    match's games one after another, so its engine never serves two games at once.
    """

    threaded = True

    def __init__(self, spec: EngineSpec, path: str | None = None, per_match: bool = False):
        self.spec = spec
        self.name = spec.name
        self.path = path
        self.per_match = per_match
        self._idle: queue.SimpleQueue[Stockfish] = queue.SimpleQueue()
        self._all: list[Stockfish] = []
        self._by_match: dict[str, Stockfish] = {}
        self._lock = threading.Lock()
        self._version: str | None = None
        self._release(self._acquire())  # start one engine now: a missing binary fails before any game

    def _acquire(self) -> Stockfish:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            engine = Stockfish(self.spec, self.path)
            with self._lock:
                self._all.append(engine)
                self._version = engine.version
            return engine

    def _release(self, engine: Stockfish) -> None:
        self._idle.put(engine)

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        out = []
        for req in requests:
            if req.rng.random() * 100 < self.spec.random_pct:  # the diluted engine's random move
                legal = sorted(req.board.legal_moves, key=chess.Move.uci)
                out.append(MoveChoice(legal[int(req.rng.integers(len(legal)))]))
                continue
            if self.per_match and req.match is not None:
                out.append(MoveChoice(self._move(self._match_engine(req.match), req.board, game=req.match)))
                continue
            engine = self._acquire()
            try:
                out.append(MoveChoice(self._move(engine, req.board, game=object())))
            finally:
                self._release(engine)
        return out

    def _move(self, engine: Stockfish, board: chess.Board, game: object) -> chess.Move:
        """The engine's move, or with `worst` the one it scores lowest (always from a cleared hash)."""
        return engine.worst_move(board) if self.spec.worst else engine.play(board, game=game)

    def _match_engine(self, match: str) -> Stockfish:
        with self._lock:
            engine = self._by_match.get(match)
        if engine is None:
            engine = Stockfish(self.spec, self.path)
            with self._lock:
                self._by_match[match] = engine
                self._version = engine.version
        return engine

    def end_match(self, match: str) -> None:
        with self._lock:
            engine = self._by_match.pop(match, None)
        if engine is not None:
            engine.close()

    def settings(self) -> dict:
        settings = {"kind": "stockfish", **self.spec.settings()}
        return settings if not self.per_match else {**settings, "engine_per_match": True}

    def version(self) -> str | None:
        return self._version

    def close(self) -> None:
        for engine in [*self._all, *self._by_match.values()]:
            engine.close()
        self._all.clear()
        self._by_match.clear()


def parse_opponents(levels: str, nodes: int) -> list[str]:
    """`1,3,5` / `random,l0-n100,3` -> canonical opponent names (`random`, `stockfish-l0-n100`, ...)."""
    out = []
    for item in filter(None, (s.strip() for s in levels.split(","))):
        out.append("random" if item == "random" else EngineSpec.parse(item, default_nodes=nodes).name)
    if not out:
        raise ValueError("--levels is empty: give Stockfish skill levels (e.g. 1,3,5) and/or 'random'")
    return out


def make_opponent(name: str, stockfish: str | None, movetime: float | None = None, per_match: bool = False) -> Player:
    """The opponent called `name`; `movetime` (seconds) replaces an engine's node limit by the paper's time limit,
    `per_match` keeps one engine (and its hash) per match."""
    if name == "random":
        return RandomMover()
    spec = EngineSpec.parse(name)
    if movetime is not None:
        spec = dataclasses.replace(spec, nodes=None, movetime=movetime)
    return StockfishPlayer(spec, stockfish, per_match=per_match)
