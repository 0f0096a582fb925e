"""The one match loop: plays planned games to their end, many at once. Every game the project plays
(evaluations, the ladder, synthetic experts, benchmarks) goes through MatchRunner.

Each step, every live game gets one move from the player to move: an in-process player (the model)
gets all its waiting games in one call (one batched forward pass), threaded players (engines) answer
one game per call from a thread pool, so the engines search while the model computes.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime
import hashlib
import logging
import pathlib
import re
from collections.abc import Callable

import chess
import numpy as np
from tqdm import tqdm

from arena.players import MoveChoice, MoveRequest, Player
from arena.rules import CAP_RESULTS, DEFAULT_MAX_PLIES, PLY_CAP_DRAW, SCORES, Ending, adjudicate, rules_ending
from arena.stockfish import EngineCrash, Stockfish

log = logging.getLogger(__name__)
MAX_REPLAYS = 3  # a game whose engine crashes more often than this aborts the run (something is broken)


@dataclasses.dataclass(frozen=True)
class PlannedGame:
    game_id: str  # stable: derived from the plan, so a restart recognises finished games
    round: int
    white: str  # player names (keys of the runner's players)
    black: str
    temperature: float | None = None  # the model's sampling temperature; None: no model in the game (a model
    #                                   player refuses a request without one: no silent arg-max)
    mode: str | None = None
    opening: tuple[str, ...] = ()  # UCI moves played before the players take over
    start_fen: str = chess.STARTING_FEN

    @property
    def seed(self) -> int:
        return int.from_bytes(hashlib.sha256(self.game_id.encode()).digest()[:8], "little")


def load_openings(path: str | pathlib.Path) -> list[tuple[str, ...]]:
    """An opening suite: one line per opening, SAN with or without move numbers (`1.e4 e5 2.Nf3`)."""
    openings = []
    for lineno, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("[") else ""
        if not line:
            continue
        board = chess.Board()
        for token in re.sub(r"\d+\.(\.\.)?", " ", line).split():
            try:
                board.push_san(token)
            except ValueError as err:
                raise ValueError(f"{path}:{lineno}: {token!r} is not a legal move here ({err})") from err
        if board.is_game_over(claim_draw=True):
            raise ValueError(f"{path}:{lineno}: the opening already ends the game")
        openings.append(tuple(m.uci() for m in board.move_stack))
    if not openings:
        raise ValueError(f"opening suite {path} has no openings (one line of moves per opening)")
    return openings


class _Live:
    """A game in progress: its board, its random stream and its illegal-attempt counts."""

    def __init__(self, plan: PlannedGame):
        self.plan = plan
        self.replays = 0
        self.reset()

    def reset(self) -> None:
        """Back to the start position (after the opening), with the game's own seed: a replay is the same game."""
        self.board = chess.Board(self.plan.start_fen)
        for uci in self.plan.opening:
            self.board.push(chess.Move.from_uci(uci))
        self.rng = np.random.default_rng(self.plan.seed)
        self.illegal = {chess.WHITE: 0, chess.BLACK: 0}

    @property
    def to_move(self) -> str:
        return self.plan.white if self.board.turn == chess.WHITE else self.plan.black


class MatchRunner:
    """Runs games with at most `concurrency` in flight and `workers` engine searches in parallel.

    A game that reaches `max_plies` without ending by the rules is, by `cap_result`, adjudicated by
    `adjudicator` ("adjudicate": flagged in its record) or ended as a draw ("draw", termination
    "ply_cap": every such game is exactly `max_plies` long; no adjudicator is needed).
    """

    def __init__(self, players: dict[str, Player], adjudicator: Stockfish | None, on_game_end: Callable[[dict], None],
                 max_plies: int = DEFAULT_MAX_PLIES, concurrency: int = 32, workers: int = 1,
                 meta: dict | None = None, cap_result: str = "adjudicate"):
        if max_plies < 1:
            raise ValueError(f"max_plies must be >= 1, got {max_plies}")
        if cap_result not in CAP_RESULTS:
            raise ValueError(f"cap_result {cap_result!r} is not one of {CAP_RESULTS}: 'adjudicate' lets Stockfish "
                             "score a capped game, 'draw' scores it as a draw")
        self.players = players
        self.adjudicator = adjudicator
        self.on_game_end = on_game_end
        self.max_plies = max_plies
        self.cap_result = cap_result
        self.concurrency = max(1, concurrency)
        self.workers = max(1, workers)
        self.meta = meta or {}

    def run(self, games: list[PlannedGame], desc: str = "games",
            claim: Callable[[PlannedGame], bool] | None = None) -> int:
        """Play every planned game; returns how many finished.

        `claim` (concurrent workers on one plan: arena.ClaimBoard) is asked just before a game starts; a game it
        refuses is another worker's and is skipped. Ctrl-C stops at once: queued engine searches are cancelled,
        the running ones (a fraction of a second each) end, and KeyboardInterrupt propagates.
        """
        for plan in games:
            for name in (plan.white, plan.black):
                if name not in self.players:
                    raise ValueError(f"game {plan.game_id}: no player named {name!r} (have {sorted(self.players)})")
        pending = list(reversed(games))
        live: list[_Live] = []
        finished = skipped = 0
        with cf.ThreadPoolExecutor(self.workers) as pool, tqdm(total=len(games), desc=desc, unit="game") as bar:
            try:
                while pending or live:
                    while pending and len(live) < self.concurrency:
                        plan = pending.pop()
                        if claim is None or claim(plan):
                            live.append(self._start(plan))
                        else:
                            skipped += 1
                            bar.total -= 1
                            bar.refresh()
                    for g in self._step(live, pool):
                        live.remove(g)
                        finished += 1
                        bar.update(1)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if skipped:
            log.info("%s: %d games were claimed by other workers", desc, skipped)
        return finished

    def _start(self, plan: PlannedGame) -> _Live:
        g = _Live(plan)
        if rules_ending(g.board) is not None:
            raise ValueError(f"game {plan.game_id}: the opening already ends the game")
        return g

    def _step(self, live: list[_Live], pool: cf.ThreadPoolExecutor) -> list[_Live]:
        """Every live game makes one move; returns the games that ended."""
        waiting = self._collect_requests(live)
        moves = self._ask_players(waiting, pool)
        return self._apply_moves(moves)

    def _collect_requests(self, live: list[_Live]) -> dict[str, list[_Live]]:
        """The live games grouped by the player to move."""
        waiting: dict[str, list[_Live]] = {}
        for g in live:
            waiting.setdefault(g.to_move, []).append(g)
        return waiting

    def _ask_players(self, waiting: dict[str, list[_Live]], pool: cf.ThreadPoolExecutor) -> list[tuple[_Live, MoveChoice]]:
        """Each player's move in each of its games: threaded players in the pool, the others inline meanwhile.

        A game whose engine crashed is replayed from its start and makes no move this step.
        """
        futures: dict[cf.Future, _Live] = {}
        for name, games in waiting.items():
            if self.players[name].threaded:
                for g in games:
                    futures[pool.submit(self.players[name].choose, [self._request(g)])] = g
        moves: list[tuple[_Live, MoveChoice]] = []
        for name, games in waiting.items():  # the model's batched forward runs while the engines search
            if not self.players[name].threaded:
                moves += zip(games, self.players[name].choose([self._request(g) for g in games]))
        crashed: list[tuple[_Live, EngineCrash]] = []
        for fut in cf.as_completed(futures):
            try:
                moves.append((futures[fut], fut.result()[0]))
            except EngineCrash as err:
                crashed.append((futures[fut], err))
        for g, crash in crashed:
            self._replay(g, crash)
        return moves

    def _apply_moves(self, moves: list[tuple[_Live, MoveChoice]]) -> list[_Live]:
        """Play each chosen move; finish the games that end by the rules or reach the ply cap."""
        ended = []
        for g, choice in moves:
            if choice.move not in g.board.legal_moves:
                raise RuntimeError(f"player {g.to_move} returned illegal move {choice.move} in {g.board.fen()}")
            g.illegal[g.board.turn] += choice.illegal_attempts
            g.board.push(choice.move)
            ending = rules_ending(g.board)
            if ending is None and len(g.board.move_stack) >= self.max_plies:
                ending = self._cap_ending(g)
            if ending is not None:
                self._finish(g, ending)
                ended.append(g)
        return ended

    def _request(self, g: _Live) -> MoveRequest:
        # The live board itself, not a copy (a copy replays the whole move stack: ~0.5 ms a ply): players must
        # not modify it, and nothing else touches a game's board until every player of this step has answered.
        return MoveRequest(g.plan.game_id, g.board, g.plan.temperature, g.rng)

    def _replay(self, g: _Live, err: Exception) -> None:
        g.replays += 1
        if g.replays > MAX_REPLAYS:
            raise RuntimeError(f"game {g.plan.game_id}: engine crashed {g.replays} times; giving up") from err
        log.warning("game %s: %s; replaying it from the start", g.plan.game_id, err)
        for name in (g.plan.white, g.plan.black):
            self.players[name].end_game(g.plan.game_id)
        g.reset()

    def _cap_ending(self, g: _Live) -> Ending:
        if self.cap_result == "draw":
            return PLY_CAP_DRAW
        if self.adjudicator is None:
            raise ValueError("games reached the ply cap but no adjudicating engine was given "
                             "(pass one, or cap_result='draw')")
        try:
            return adjudicate(self.adjudicator.evaluate(g.board))
        except EngineCrash:  # restarted by now; one more try
            return adjudicate(self.adjudicator.evaluate(g.board))

    def _finish(self, g: _Live, ending: Ending) -> None:
        for name in (g.plan.white, g.plan.black):
            self.players[name].end_game(g.plan.game_id)
        replay = chess.Board(g.plan.start_fen)
        sans = []
        for move in g.board.move_stack:
            sans.append(replay.san(move))
            replay.push(move)

        def side(colour: bool) -> dict:
            p = self.players[g.plan.white if colour == chess.WHITE else g.plan.black]
            return {"name": p.name, "settings": p.settings(), "version": p.version(),
                    "illegal_attempts": g.illegal[colour]}

        record = {
            **self.meta,
            "game_id": g.plan.game_id, "round": g.plan.round,
            "white": g.plan.white, "black": g.plan.black,
            "players": {"white": side(chess.WHITE), "black": side(chess.BLACK)},
            "result": ending.result, "white_score": SCORES[ending.result],
            "termination": ending.termination, "adjudicated": ending.adjudicated, "eval_cp": ending.eval_cp,
            "plies": len(g.board.move_stack), "opening_plies": len(g.plan.opening),
            "start_fen": g.plan.start_fen, "moves_uci": [m.uci() for m in g.board.move_stack], "moves_san": sans,
            "final_fen": g.board.fen(), "temperature": g.plan.temperature, "mode": g.plan.mode,
            "replays": g.replays,
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        self.on_game_end(record)
