"""Bias policies of synthetic experts: what an expert plays instead of its engine move.

A policy names the moves it chooses among at a position (`choices`, in UCI order) and picks one:

- subset policies (uniform, captures, pawn_push, ...) pick uniformly within a preferred subset of the
  legal moves (all legal moves when the subset is empty), drawing from the caller's numpy Generator
  (the game's own stream, `MoveRequest.rng`), so a move is a function of the position and the
  generator's state, and a game of its seed;
- systematic policies (SYSTEMATIC_BIASES) choose one fixed move per position by a rule and draw
  nothing. An expert that plays such a move more often than its engine's has the wrong arg-max;
  only a population whose systematic biases differ has the engine's move as its majority (issue 10).

Different experts get different policies, so their mistakes point in different directions: the
theory's condition for a majority vote (low-temperature sampling) to beat every single expert.
Systematic rules break ties by UCI order (the first of the tied moves in sorted UCI strings), and a
rule with no candidate at a position (no pawn or king move) plays the first legal move in UCI order.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import chess
import numpy as np

Choices = Callable[[chess.Board], list[chess.Move]]


@dataclasses.dataclass(frozen=True)
class BiasPolicy:
    """`choices(board)`: the moves the policy picks among, uniformly (exactly one for a systematic policy)."""

    choices: Choices
    systematic: bool

    def __call__(self, board: chess.Board, rng: np.random.Generator) -> chess.Move:
        moves = self.choices(board)
        if self.systematic:
            return moves[0]  # one move per position: the game's stream is not touched
        return moves[int(rng.integers(len(moves)))]


def _legal(board: chess.Board) -> list[chess.Move]:
    return sorted(board.legal_moves, key=chess.Move.uci)  # sorted: independent of generation order


def _subset(keep: Callable[[chess.Board, chess.Move], bool]) -> BiasPolicy:
    def choices(board: chess.Board) -> list[chess.Move]:
        legal = _legal(board)
        return [m for m in legal if keep(board, m)] or legal

    return BiasPolicy(choices, systematic=False)


def _is_pawn_push(board: chess.Board, m: chess.Move) -> bool:
    return board.piece_type_at(m.from_square) == chess.PAWN and not board.is_capture(m)


def _quiet_and_safe(board: chess.Board, m: chess.Move) -> bool:
    """Quiet moves that leave the moved piece where the opponent cannot capture it."""
    if board.is_capture(m):
        return False
    board.push(m)
    safe = not board.is_attacked_by(board.turn, m.to_square)
    board.pop()
    return safe


def _on_rim(board: chess.Board, m: chess.Move) -> bool:
    """Moves to the rim of the board ("a knight on the rim is dim")."""
    return chess.square_file(m.to_square) in (0, 7) or chess.square_rank(m.to_square) in (0, 7)


uniform = _subset(lambda board, m: True)
captures = _subset(lambda board, m: board.is_capture(m))
pawn_push = _subset(_is_pawn_push)
king = _subset(lambda board, m: board.piece_type_at(m.from_square) == chess.KING)
avoid_trades = _subset(_quiet_and_safe)
checks = _subset(lambda board, m: board.gives_check(m))
edge = _subset(_on_rim)


def _systematic(score: Callable[[chess.Board, chess.Move], float],
                applies: Callable[[chess.Board, chess.Move], bool] = lambda board, m: True) -> BiasPolicy:
    """The applicable legal move of lowest score (ties: UCI order); none applicable: the first legal move."""
    def choices(board: chess.Board) -> list[chess.Move]:
        legal = _legal(board)
        candidates = [m for m in legal if applies(board, m)] or legal[:1]
        return [min(candidates, key=lambda m: score(board, m))]  # min keeps the first of equal scores

    return BiasPolicy(choices, systematic=True)


def _pawn_rank_left(board: chess.Board, m: chess.Move) -> float:
    """Ranks the pawn still has to go after the move (0: promotion)."""
    rank = chess.square_rank(m.to_square)
    return 7 - rank if board.turn == chess.WHITE else rank


def _corner_distance(board: chess.Board, m: chess.Move) -> float:
    """King moves from the destination to the nearest corner."""
    file, rank = chess.square_file(m.to_square), chess.square_rank(m.to_square)
    return max(min(file, 7 - file), min(rank, 7 - rank))


def _own_mobility_after(board: chess.Board, m: chess.Move) -> float:
    """The mover's legal moves after `m` if it were to move again (a null move passes the turn back)."""
    board.push(m)
    board.push(chess.Move.null())
    count = board.legal_moves.count()
    board.pop()
    board.pop()
    return count


def square_order(k: int) -> list[chess.Square]:
    """A fixed preference order over the 64 squares, seeded by `k` (hashes, so stable on any platform)."""
    return sorted(chess.SQUARES, key=lambda sq: hashlib.sha256(f"transcend-square-order:{k}:{sq}".encode()).digest())


def _square_order_policy(k: int) -> BiasPolicy:
    rank_of = {sq: i for i, sq in enumerate(square_order(k))}
    return _systematic(lambda board, m: rank_of[m.to_square])


advanced_pawn = _systematic(_pawn_rank_left, lambda board, m: board.piece_type_at(m.from_square) == chess.PAWN)
king_corner = _systematic(_corner_distance, lambda board, m: board.piece_type_at(m.from_square) == chess.KING)
min_mobility = _systematic(_own_mobility_after)
SQUARE_ORDERS = 8  # square_order_0 .. square_order_7

SYSTEMATIC_POLICIES: dict[str, BiasPolicy] = {
    "advanced_pawn": advanced_pawn,  # the pawn move (push or capture) that reaches the most advanced rank
    "king_corner": king_corner,  # the king move that ends nearest a corner
    "min_mobility": min_mobility,  # the move after which the mover has the fewest legal moves
    **{f"square_order_{k}": _square_order_policy(k) for k in range(SQUARE_ORDERS)},  # first destination in order k
}
# In dealing order: `--population systematic` gives expert i the i-th name.
SYSTEMATIC_BIASES: tuple[str, ...] = tuple(SYSTEMATIC_POLICIES)

BIAS_POLICIES: dict[str, BiasPolicy] = {
    "uniform": uniform,
    "captures": captures,
    "pawn_push": pawn_push,
    "king": king,
    "avoid_trades": avoid_trades,
    "checks": checks,
    "edge": edge,
    **SYSTEMATIC_POLICIES,
}
DEFAULT_BIAS_MIX = ("uniform", "captures", "pawn_push", "king", "avoid_trades")


def get_bias(name: str) -> BiasPolicy:
    if name not in BIAS_POLICIES:
        raise ValueError(f"unknown bias policy {name!r}; choose from {', '.join(BIAS_POLICIES)}")
    return BIAS_POLICIES[name]
