"""Bias policies of synthetic experts: what an expert plays instead of its engine move.

Each policy picks a legal move from a preferred subset (falling back to all legal moves when the
subset is empty) with the caller's numpy Generator (the game's own stream, `MoveRequest.rng`), so a
policy's move is a function of the position and the generator's state, and a game of its seed. Different
experts get different policies, so their mistakes point in different directions: the theory's
condition for a majority vote (low-temperature sampling) to beat every single expert.
"""
from __future__ import annotations

from collections.abc import Callable

import chess
import numpy as np

BiasPolicy = Callable[[chess.Board, np.random.Generator], chess.Move]


def _pick(board: chess.Board, rng: np.random.Generator, keep: Callable[[chess.Move], bool]) -> chess.Move:
    legal = sorted(board.legal_moves, key=chess.Move.uci)  # sorted: independent of generator order
    choices = [m for m in legal if keep(m)] or legal
    return choices[int(rng.integers(len(choices)))]


def uniform(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    return _pick(board, rng, lambda m: True)


def captures(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    return _pick(board, rng, board.is_capture)


def pawn_push(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    return _pick(board, rng, lambda m: board.piece_type_at(m.from_square) == chess.PAWN and not board.is_capture(m))


def king(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    return _pick(board, rng, lambda m: board.piece_type_at(m.from_square) == chess.KING)


def avoid_trades(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    """Quiet moves that leave the moved piece where the opponent cannot capture it."""
    def quiet_and_safe(m: chess.Move) -> bool:
        if board.is_capture(m):
            return False
        board.push(m)
        safe = not board.is_attacked_by(board.turn, m.to_square)
        board.pop()
        return safe

    return _pick(board, rng, quiet_and_safe)


def checks(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    return _pick(board, rng, board.gives_check)


def edge(board: chess.Board, rng: np.random.Generator) -> chess.Move:
    """Moves to the rim of the board ("a knight on the rim is dim")."""
    return _pick(board, rng,
                 lambda m: chess.square_file(m.to_square) in (0, 7) or chess.square_rank(m.to_square) in (0, 7))


BIAS_POLICIES: dict[str, BiasPolicy] = {
    "uniform": uniform,
    "captures": captures,
    "pawn_push": pawn_push,
    "king": king,
    "avoid_trades": avoid_trades,
    "checks": checks,
    "edge": edge,
}
DEFAULT_BIAS_MIX = ("uniform", "captures", "pawn_push", "king", "avoid_trades")


def get_bias(name: str) -> BiasPolicy:
    if name not in BIAS_POLICIES:
        raise ValueError(f"unknown bias policy {name!r}; choose from {', '.join(BIAS_POLICIES)}")
    return BIAS_POLICIES[name]
