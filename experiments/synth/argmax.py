"""Whose arg-max is the engine's move: each expert's, and the population's (issue 10's theory check).

An expert with bias rate b plays its engine's move (Stockfish at its node limit from a cleared hash:
one fixed move per position) with probability 1-b and its bias policy's move with probability b,
spread uniformly over the policy's choices (one move for a systematic policy). So at a position

    P(m) = (1-b) [m == engine] + b [m in choices] / |choices|,

and for a systematic bias P(bias) = b + (1-b)[engine == bias], P(engine) = (1-b) + b[engine == bias].
Measured on positions sampled from the training games (a fixed seed; every position before a move),
each expert evaluated as the side to move:

- per expert, `argmax`: `positions`; `p_bias_over_engine`, the fraction where some bias choice other
  than the engine's move is more probable than the engine's move; `bias_matches_engine`, the fraction
  where the engine's move is one of the bias's choices; `is_bias`: p_bias_over_engine > 0.5 (the
  expert's own arg-max is mostly its bias, so a model of that expert alone learns the bias).
- population-level `majority_is_engine`: the fraction where the equal-weight mixture of all experts
  puts strictly more mass on the reference engine move than on any other move. The experts' engines
  differ (node limits), so the reference is the engine of the expert with the most nodes (the last of
  equals: the lowest bias rate), `majority_reference`.
"""
from __future__ import annotations

import collections
import concurrent.futures
import random

import chess
import numpy as np

from arena import Expert, ExpertPlayer, MoveRequest
from experiments.synth.play import PlayedGame

ARGMAX_POSITIONS = 200  # positions sampled from the training games


def sample_positions(games: list[PlayedGame], n: int, seed: int) -> list[chess.Board]:
    """Up to `n` positions (with their move stacks) drawn without replacement from every position before
    a move of the training games; a function of the games and the seed."""
    train = [g for g in games if not g.calibration]
    slots = [(gi, ply) for gi, g in enumerate(train) for ply in range(len(g.moves))]
    picks = sorted(random.Random(f"transcend-synth-argmax:{seed}").sample(slots, min(n, len(slots))))
    boards = []
    for gi, ply in picks:
        board = chess.Board()
        for uci in train[gi].moves[:ply]:
            board.push_uci(uci)
        boards.append(board)
    return boards


def move_distribution(expert: Expert, engine_move: chess.Move, choices: list[chess.Move]) -> dict[chess.Move, float]:
    """The expert's probability of each move it can play at a position (see the module's formula)."""
    dist: dict[chess.Move, float] = collections.defaultdict(float)
    dist[engine_move] += 1.0 - expert.epsilon
    for m in choices:
        dist[m] += expert.epsilon / len(choices)
    return dict(dist)


def engine_move(player: ExpertPlayer, board: chess.Board) -> chess.Move:
    """The expert's engine's move: its own StockfishPlayer (cleared hash, its settings)."""
    move = player.engine.choose([MoveRequest("synth-argmax", board, None, np.random.default_rng(0))])[0].move
    assert move is not None  # an engine never forfeits
    return move


def measure_argmax(experts: list[Expert], players: dict[str, ExpertPlayer], boards: list[chess.Board],
                   workers: int) -> dict:
    """{"experts": {name: argmax block}, "majority_is_engine": fraction, "majority_reference": name}."""
    jobs = [(e.name, board) for e in experts for board in boards]
    with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:  # engine searches in parallel
        moves = list(pool.map(lambda job: engine_move(players[job[0]], job[1]), jobs))
    engine = {e.name: moves[k * len(boards):(k + 1) * len(boards)] for k, e in enumerate(experts)}
    choices = {e.name: [players[e.name].policy.choices(board) for board in boards] for e in experts}
    dists = {e.name: [move_distribution(e, m, c) for m, c in zip(engine[e.name], choices[e.name])] for e in experts}
    n = len(boards)
    per_expert = {}
    for e in experts:
        over = sum(any(p > dist[m] for other, p in dist.items() if other != m)
                   for m, dist in zip(engine[e.name], dists[e.name]))
        matches = sum(m in c for m, c in zip(engine[e.name], choices[e.name]))
        per_expert[e.name] = {"positions": n, "p_bias_over_engine": over / n if n else None,
                              "bias_matches_engine": matches / n if n else None, "is_bias": bool(n) and over / n > 0.5}
    reference = max(reversed(experts), key=lambda e: e.engine.nodes or 0)  # most nodes; the last of equals
    hits = 0
    for i in range(n):
        mixture: dict[chess.Move, float] = collections.defaultdict(float)
        for e in experts:
            for m, p in dists[e.name][i].items():
                mixture[m] += p / len(experts)
        target = engine[reference.name][i]
        hits += all(mixture[target] > p for m, p in mixture.items() if m != target)
    return {"experts": per_expert, "majority_is_engine": hits / n if n else None,
            "majority_reference": reference.name}
