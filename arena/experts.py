"""A synthetic expert as an arena Player: Stockfish that plays its bias policy's move with probability epsilon.

Every move draws one coin from the game's own stream (`MoveRequest.rng`, seeded from the game id by
the match runner); heads (probability epsilon, the bias rate) plays the bias policy's move (a subset
policy draws it from the same stream, a systematic one draws nothing), tails the engine's move.
The engine is an `arena.StockfishPlayer`, which searches every move from a cleared hash. So a game
is a function of its game id and its two players, whatever the interleaving of games or the number
of threads, exactly as in an evaluation.

The expert counts the bias moves it plays in each game, per colour; `bias_moves(game_id)` reads
them once the game has ended (the runner calls `end_game` before it writes the record). A replayed
game (engine crash) starts its count again.
"""
from __future__ import annotations

import dataclasses
import threading

import chess

from arena.biases import BIAS_POLICIES, get_bias
from arena.players import MoveChoice, MoveRequest, Player, StockfishPlayer
from arena.stockfish import EngineSpec


@dataclasses.dataclass(frozen=True)
class Expert:
    """What fixes a synthetic expert: its engine setting, its bias policy and how often it plays it."""

    name: str
    engine: EngineSpec
    bias: str  # a name in BIAS_POLICIES
    epsilon: float  # probability of playing the bias policy's move instead of the engine's

    def __post_init__(self) -> None:
        if self.bias not in BIAS_POLICIES:
            raise ValueError(f"expert {self.name}: unknown bias {self.bias!r}; choose from {', '.join(BIAS_POLICIES)}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"expert {self.name}: epsilon must be in [0, 1], got {self.epsilon}")

    def describe(self) -> dict:
        return {"name": self.name, "engine": self.engine.name, "engine_settings": self.engine.settings(),
                "bias": self.bias, "epsilon": self.epsilon}


class ExpertPlayer(Player):
    """An Expert at the board; threaded (its engine is a process), safe to call from many threads at once."""

    threaded = True

    def __init__(self, expert: Expert, stockfish: str | None = None):
        self.expert = expert
        self.name = expert.name
        self.policy = get_bias(expert.bias)
        self.engine = StockfishPlayer(expert.engine, stockfish)
        self._lock = threading.Lock()
        self._playing: dict[str, list[int]] = {}  # game id -> bias moves so far (White, Black)
        self._ended: dict[str, tuple[int, int]] = {}

    def choose(self, requests: list[MoveRequest]) -> list[MoveChoice]:
        out = []
        for req in requests:
            biased = bool(req.rng.random() < self.expert.epsilon)
            self._count(req.game_id, req.board.turn, biased)
            if biased:
                out.append(MoveChoice(self.policy(req.board, req.rng)))
            else:
                out.extend(self.engine.choose([req]))
        return out

    def _count(self, game_id: str, turn: chess.Color, biased: bool) -> None:
        with self._lock:
            counts = self._playing.get(game_id)
            if counts is None:  # the game's first move for this expert (or the first after a replay)
                counts = self._playing[game_id] = [0, 0]
                self._ended.pop(game_id, None)
            counts[0 if turn == chess.WHITE else 1] += biased

    def end_game(self, game_id: str) -> None:
        with self._lock:
            counts = self._playing.pop(game_id, None)
            if counts is not None:  # None: the second call of a self-play game, or a game it never moved in
                self._ended[game_id] = (counts[0], counts[1])
        self.engine.end_game(game_id)

    def bias_moves(self, game_id: str) -> tuple[int, int]:
        """Bias moves this expert played as White and as Black in an ended game ((0, 0) if it never moved)."""
        with self._lock:
            return self._ended.get(game_id, (0, 0))

    def settings(self) -> dict:
        return {"kind": "expert", **self.expert.engine.settings(), "bias": self.expert.bias,
                "epsilon": self.expert.epsilon}

    def version(self) -> str | None:
        return self.engine.version()

    def close(self) -> None:
        self.engine.close()
