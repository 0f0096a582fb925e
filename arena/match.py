"""The one match loop: plays planned games to their end, many at once. Every game the project plays
(evaluations, the ladder, synthetic experts, benchmarks) goes through MatchRunner.

Each step, every live game gets one move from the player to move: an in-process player (the model)
gets all its waiting games in one call (one batched forward pass), threaded players (engines) answer
one game per call from a thread pool, so the engines search while the model computes.

Games of one planned match (PlannedGame.match) are played one after another, in plan order, so that
a player keeping state per match (an engine and its hash, the paper's protocol) serves one game at a time.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime
import hashlib
import logging
from collections import Counter
from collections.abc import Callable

import chess
import numpy as np
from tqdm import tqdm

from arena.openings import load_openings as load_openings  # re-exported: it lived here before
from arena.players import MoveChoice, MoveRequest, Player
from arena.rules import (
    CAP_RESULTS,
    DEFAULT_MAX_PLIES,
    PLY_CAP_DRAW,
    SCORES,
    WHITE_TO_MOVE_BUG,
    Ending,
    adjudicate,
    forfeit_ending,
    rules_ending,
)
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
    match: str | None = None  # games of one match are played one after another (None: independent)

    @property
    def seed(self) -> int:
        return int.from_bytes(hashlib.sha256(self.game_id.encode()).digest()[:8], "little")


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
        self.over_on_whites_move: Ending | None = None  # white_to_move_bug: Black is asked for one more move

    @property
    def to_move(self) -> str:
        return self.plan.white if self.board.turn == chess.WHITE else self.plan.black


class MatchRunner:
    """Runs games with at most `concurrency` in flight and `workers` engine searches in parallel.

    A game that reaches `max_plies` without ending by the rules is, by `cap_result`, adjudicated by
    `adjudicator` ("adjudicate": flagged in its record) or ended as a draw ("draw", termination
    "ply_cap": every such game is exactly `max_plies` long; no adjudicator is needed).

    The paper's protocol, item by item: `claim_threefold=False` ends a repetition only at fivefold (its
    `board.is_game_over()`); `white_to_move_bug=True` scores a game over on White's move as the paper did.
    Its loop (chess_research/eval/utils.py play_games, lines 93-117) asks Black to move even after White's
    move ended the game; Black then finds no legal move in a stalemate (or, a model, gives up), and
    record_results (lines 260-266) scores that failure 1-0; where Black has legal moves (insufficient
    material, fivefold, 75 moves) it plays one and board.result() decides, `*` (the game no longer over)
    counting as a draw. Such endings are flagged (Ending.override, the record's "result_override").
    """

    def __init__(self, players: dict[str, Player], adjudicator: Stockfish | None, on_game_end: Callable[[dict], None],
                 max_plies: int = DEFAULT_MAX_PLIES, concurrency: int = 32, workers: int = 1,
                 meta: dict | None = None, cap_result: str = "adjudicate", claim_threefold: bool = True,
                 white_to_move_bug: bool = False):
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
        self.claim_threefold = claim_threefold
        self.white_to_move_bug = white_to_move_bug
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
        pending = list(games)
        self._left_in_match = Counter(plan.match for plan in games if plan.match is not None)
        self._busy_matches: set[str] = set()
        live: list[_Live] = []
        finished = skipped = 0
        with cf.ThreadPoolExecutor(self.workers) as pool, tqdm(total=len(games), desc=desc, unit="game") as bar:
            try:
                while pending or live:
                    for plan in self._startable(pending, len(live)):
                        if claim is None or claim(plan):
                            live.append(self._start(plan))
                        else:
                            skipped += 1
                            self._match_game_over(plan)
                            bar.total -= 1
                            bar.refresh()
                    for g in self._step(live, pool):
                        live.remove(g)
                        self._match_game_over(g.plan)
                        finished += 1
                        bar.update(1)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        if skipped:
            log.info("%s: %d games were claimed by other workers", desc, skipped)
        return finished

    def _startable(self, pending: list[PlannedGame], n_live: int) -> list[PlannedGame]:
        """Take from `pending`, in plan order, the games that may start now: as many as the concurrency leaves room
        for, at most one per match, none of a match with a game in flight."""
        out: list[PlannedGame] = []
        i = 0
        while i < len(pending) and n_live + len(out) < self.concurrency:
            match = pending[i].match
            if match is not None and match in self._busy_matches:
                i += 1
                continue
            if match is not None:
                self._busy_matches.add(match)
            out.append(pending.pop(i))
        return out

    def _match_game_over(self, plan: PlannedGame) -> None:
        """A game of a match ended (or went to another worker): its match may go on; a finished match is ended."""
        if plan.match is None:
            return
        self._busy_matches.discard(plan.match)
        self._left_in_match[plan.match] -= 1
        if self._left_in_match[plan.match] == 0:
            for name in {plan.white, plan.black}:
                self.players[name].end_match(plan.match)

    def _start(self, plan: PlannedGame) -> _Live:
        g = _Live(plan)
        if rules_ending(g.board, self.claim_threefold) is not None:
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
        """Play each chosen move (or forfeit); finish the games that end by the rules or reach the ply cap."""
        ended = []
        for g, choice in moves:
            g.illegal[g.board.turn] += choice.illegal_attempts
            if choice.move is None:  # a forfeit (MoveChoice allows no other way to have no move)
                ending: Ending | None = forfeit_ending(g.board.turn, str(choice.forfeit))
            else:
                if choice.move not in g.board.legal_moves:
                    raise RuntimeError(f"player {g.to_move} returned illegal move {choice.move} in {g.board.fen()}")
                g.board.push(choice.move)
                ending = self._ending_after_move(g)
            if ending is not None:
                self._finish(g, ending)
                ended.append(g)
        return ended

    def _ending_after_move(self, g: _Live) -> Ending | None:
        """The game's ending after the move just played (None: it goes on), under the runner's rules."""
        if g.over_on_whites_move is not None:  # Black's extra move (white_to_move_bug): board.result() decides
            outcome = g.board.outcome(claim_draw=False)
            decided = Ending(outcome.result(), outcome.termination.name.lower()) if outcome is not None \
                else dataclasses.replace(g.over_on_whites_move, result="1/2-1/2")  # the paper's `*`: a draw
            return dataclasses.replace(decided, override=WHITE_TO_MOVE_BUG)
        ending = rules_ending(g.board, self.claim_threefold)
        if ending is not None and self.white_to_move_bug and g.board.turn == chess.BLACK \
                and ending.termination != "checkmate":
            if not any(g.board.legal_moves):  # every move Black tries fails: the paper's 1-0
                return dataclasses.replace(ending, result="1-0", override=WHITE_TO_MOVE_BUG)
            g.over_on_whites_move = ending
            return None
        if ending is None and len(g.board.move_stack) >= self.max_plies:
            ending = self._cap_ending(g)
        return ending

    def _request(self, g: _Live) -> MoveRequest:
        # The live board itself, not a copy (a copy replays the whole move stack: ~0.5 ms a ply): players must
        # not modify it, and nothing else touches a game's board until every player of this step has answered.
        return MoveRequest(g.plan.game_id, g.board, g.plan.temperature, g.rng, match=g.plan.match)

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
            "result_override": ending.override,
            "plies": len(g.board.move_stack), "opening_plies": len(g.plan.opening),
            "start_fen": g.plan.start_fen, "moves_uci": [m.uci() for m in g.board.move_stack], "moves_san": sans,
            "final_fen": g.board.fen(), "temperature": g.plan.temperature, "mode": g.plan.mode,
            "replays": g.replays,
            "finished_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        self.on_game_end(record)
