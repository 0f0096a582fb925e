"""How diverse are the players behind a data set: entropy of the action distribution over common states.

The paper (analysis/dataset/action_distribution_gen.py and its notebook): over the first 500k games of a
cutoff, count for every position at plies 0..16 (keyed by its full FEN) which move was played; keep the
states seen more than 100 times; the entropy (bits) of each one's move counts divided by log2 of the number
of distinct moves observed there (0 when only one move was seen). Its means: 0.70 at 1000, 0.66 at 1300,
0.64 at 1500. We report that and a second normalization by log2 of the number of legal moves, which does not
reward a state where few moves were ever tried (again 0 where the denominator is 0).
"""
from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable

import chess

from experiments.analyze.games import ShardGame

PAPER_MAX_PLY = 16
PAPER_MIN_VISITS = 100
PAPER_GAMES = 500_000
PAPER_MEANS = {1000: 0.70, 1300: 0.66, 1500: 0.64}


@dataclasses.dataclass(frozen=True)
class StateEntropy:
    fen: str
    visits: int
    distinct_actions: int
    legal_moves: int
    entropy_bits: float

    @property
    def normalized(self) -> float:
        """The paper's: entropy / log2(distinct observed actions)."""
        return self.entropy_bits / math.log2(self.distinct_actions) if self.distinct_actions > 1 else 0.0

    @property
    def normalized_by_legal(self) -> float:
        """Entropy / log2(legal moves): 1 only when every legal move is played equally often."""
        return self.entropy_bits / math.log2(self.legal_moves) if self.legal_moves > 1 else 0.0


def entropy_bits(counts: Iterable[int]) -> float:
    values = [c for c in counts if c > 0]
    total = sum(values)
    return -sum(c / total * math.log2(c / total) for c in values)


def action_counts(games: Iterable[ShardGame], max_ply: int = PAPER_MAX_PLY) -> dict[str, collections.Counter]:
    """FEN -> Counter of the moves (UCI) played there, over the positions before plies 0..max_ply."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for game in games:
        board = chess.Board()
        for move in game.moves[: max_ply + 1]:
            counts[board.fen()][move.uci()] += 1
            board.push(move)
    return counts


def common_state_entropies(counts: dict[str, collections.Counter], min_visits: int) -> list[StateEntropy]:
    """Every state seen more than `min_visits` times, most visited first (ties by FEN)."""
    states = []
    for fen, actions in counts.items():
        visits = sum(actions.values())
        if visits > min_visits:
            legal = chess.Board(fen).legal_moves.count()
            states.append(StateEntropy(fen, visits, len(actions), legal, entropy_bits(actions.values())))
    return sorted(states, key=lambda s: (-s.visits, s.fen))


def summarize(cutoff: int | None, games: int, counts: dict[str, collections.Counter], min_visits: int) -> dict:
    """One cutoff's figures: the means of both normalizations over its common states, and the states."""
    states = common_state_entropies(counts, min_visits)

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    return {
        "cutoff": cutoff, "games": games, "distinct_states": len(counts), "common_states": len(states),
        "mean_normalized_entropy": mean([s.normalized for s in states]),
        "mean_normalized_entropy_by_legal": mean([s.normalized_by_legal for s in states]),
        "mean_entropy_bits": mean([s.entropy_bits for s in states]),
        "paper_mean_normalized_entropy": PAPER_MEANS.get(cutoff) if cutoff is not None else None,
        "states": [{**dataclasses.asdict(s), "normalized": s.normalized, "normalized_by_legal": s.normalized_by_legal}
                   for s in states],
    }
