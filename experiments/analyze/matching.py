"""Move-matching (Maia-style): how often the model's arg-max is the move the human played, by rating band.

Every position of each held-out game from ply `min_ply` on is one trial: the model reads the game so far and
its most likely legal move (ties to the first in UCI order, as T = 0 plays) is compared with the recorded move.
Trials are grouped by the mover's rating in 100-point bands from the record header (1234 -> 1200-1299).
Maia (McIlroy-Young et al., 2020) skipped the first 10 plies of each game; `min_ply` does the same.
Games are scored in batches, each game keeping its cached prefix, so each ply costs one batched model pass.
"""
from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable
from typing import TypeVar

import chess
import numpy as np

from arena import MoveRequest
from experiments.analyze.games import ShardGame
from jaxformer.eval.model_player import ModelPlayer

log = logging.getLogger(__name__)

BAND_WIDTH = 100
T = TypeVar("T")


def band_of(rating: int) -> int:
    return rating // BAND_WIDTH * BAND_WIDTH


def wilson_interval(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a binomial proportion (sensible at 0 and n hits, unlike the normal one)."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def argmax_matches(player: ModelPlayer, games: list[ShardGame], min_ply: int = 0,
                   batch: int = 16) -> list[tuple[int, bool]]:
    """(mover's rating, model's arg-max == human move) for every trial, game by game, ply by ply."""
    def score(reqs: list[MoveRequest], played: list[chess.Move], elos: list[int]) -> list[tuple[int, bool]]:
        scored = player.move_log_probs(reqs)
        return [(elo, moves[int(np.argmax(logp))] == move) for (moves, logp), move, elo in zip(scored, played, elos)]

    return walk_positions(player, games, score, min_ply, batch, "move-matching")


def legal_masses(player: ModelPlayer, games: list[ShardGame], min_ply: int = 0, batch: int = 16) -> list[float]:
    """The probability the model puts on legal moves before renormalising (player.legal_mass), every trial."""
    return walk_positions(player, games, lambda reqs, played, elos: player.legal_mass(reqs), min_ply, batch,
                          "legal mass")


def walk_positions(player: ModelPlayer, games: list[ShardGame], score: Callable[..., list[T]], min_ply: int,
                   batch: int, what: str) -> list[T]:
    """score(requests, human moves, movers' ratings) at every position from `min_ply` on, game by game, ply by
    ply. Games advance `batch` at a time, one ply together; each game's cache row keeps its prefix."""
    trials: list[T] = []
    for start in range(0, len(games), batch):
        chunk = games[start:start + batch]
        trials += _walk_chunk(player, chunk, start, min_ply, score)
        log.info("%s: %d/%d games scored", what, start + len(chunk), len(games))
    return trials


def _walk_chunk(player: ModelPlayer, games: list[ShardGame], first_id: int, min_ply: int,
                score: Callable[..., list[T]]) -> list[T]:
    ids = [f"matching-{first_id + i}" for i in range(len(games))]
    boards = [chess.Board() for _ in games]
    per_game: list[list[T]] = [[] for _ in games]
    rng = np.random.default_rng(0)  # unused by scoring; a request needs one
    try:
        for ply in range(max((len(g.moves) for g in games), default=0)):
            live = [i for i, g in enumerate(games) if ply < len(g.moves)]
            asked = [i for i in live if ply >= min_ply]
            if asked:
                values = score([MoveRequest(ids[i], boards[i], 1.0, rng) for i in asked],
                               [games[i].moves[ply] for i in asked], [games[i].mover_elo(ply) for i in asked])
                for i, value in zip(asked, values):
                    per_game[i].append(value)
            for i in live:
                boards[i].push(games[i].moves[ply])
    finally:
        for game_id in ids:
            player.end_game(game_id)
    return [trial for game_trials in per_game for trial in game_trials]


def summarize(trials: list[tuple[int, bool]]) -> dict:
    """Accuracy with its 95% Wilson interval, overall and per band (ascending)."""
    by_band: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])
    for rating, hit in trials:
        by_band[band_of(rating)][0] += int(hit)
        by_band[band_of(rating)][1] += 1

    def row(hits: int, n: int) -> dict:
        return {"moves": n, "matched": hits, "accuracy": hits / n if n else None,
                "ci95": list(wilson_interval(hits, n)) if n else [None, None]}

    hits = sum(int(h) for _, h in trials)
    return {"overall": row(hits, len(trials)),
            "bands": [{"band": [b, b + BAND_WIDTH - 1], **row(*by_band[b])} for b in sorted(by_band)]}
