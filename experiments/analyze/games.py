"""Games read back from a shard directory as python-chess moves, with both players' ratings.

A record's tokens spell `;1.e4 e5 2.Nf3 ...` (docs/contracts.md); the header holds the ratings. Selection
follows the loader's rule (`max(WhiteElo, BlackElo) <= cutoff`), so a cutoff here means the games a model
trained at that cutoff saw (train split) or was held out from (validation split).
"""
from __future__ import annotations

import dataclasses
import logging

import chess
import numpy as np

from data_pipeline import get_tokenizer, read_manifest
from data_pipeline import shards as shard_format
from data_pipeline.loader import GameSource

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "all")


@dataclasses.dataclass(frozen=True)
class ShardGame:
    white_elo: int
    black_elo: int
    moves: tuple[chess.Move, ...]

    def mover_elo(self, ply: int) -> int:
        """The rating of the player who makes move `ply` (0 = White's first move)."""
        return self.white_elo if ply % 2 == 0 else self.black_elo

    def board_at(self, ply: int) -> chess.Board:
        """The position before move `ply`, with the game's moves on its move stack (what the model reads)."""
        board = chess.Board()
        for move in self.moves[:ply]:
            board.push(move)
        return board


def parse_transcript(text: str, max_plies: int | None = None) -> list[chess.Move]:
    """`;1.e4 e5 2.Nf3` -> the moves (the first `max_plies` of them; None: all), replayed from the start position;
    ValueError at the first illegal one."""
    board = chess.Board()
    moves: list[chess.Move] = []
    for word in text.lstrip(";").split():
        if max_plies is not None and len(moves) >= max_plies:
            break
        san = word.split(".")[-1]  # `2.Nf3` -> `Nf3`; Black's moves carry no number
        if san:
            move = board.parse_san(san)  # raises ValueError (IllegalMoveError etc.) on a bad move
            moves.append(move)
            board.push(move)
    return moves


def read_games(data_dir: str, split: str = "validation", cutoff: int | None = None, limit: int | None = None,
               seed: int | None = None, max_plies: int | None = None) -> list[ShardGame]:
    """Games of `split` (train, validation or all) with max(WhiteElo, BlackElo) <= `cutoff` (None: all).

    `seed` None: the first `limit` games in shard order; otherwise `limit` games drawn at random (seeded).
    `max_plies`: keep only each game's first moves (replaying a whole game costs more than the analysis of its opening).
    Games whose transcript does not replay (a build without --validate can hold some) are skipped and counted
    in a warning."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: choose one of {', '.join(SPLITS)}")
    manifest = read_manifest(data_dir)
    index = shard_format.load_index(data_dir, list(range(manifest["shards"])))
    chosen = _select(index, split, cutoff, limit, seed)
    if chosen.size == 0:
        raise ValueError(f"{data_dir}: no {split} games with max(WhiteElo, BlackElo) <= {cutoff}: pick another "
                         f"--split or --cutoff, or build shards with a validation share (--val-fraction)")
    tokens = GameSource(data_dir, index["shard"], index["record"]).read_many(chosen.tolist())
    tok = get_tokenizer(manifest["tokenizer"])
    games, bad = [], 0
    for i, ids in zip(chosen.tolist(), tokens):
        try:
            moves = parse_transcript(tok.decode_transcript(ids), max_plies)
        except ValueError:
            bad += 1
            continue
        games.append(ShardGame(int(index["white_elo"][i]), int(index["black_elo"][i]), tuple(moves)))
    if bad:
        log.warning("%s: skipped %d of %d games whose moves do not replay", data_dir, bad, chosen.size)
    return games


def _select(index: dict[str, np.ndarray], split: str, cutoff: int | None, limit: int | None,
            seed: int | None) -> np.ndarray:
    """Positions in the index of the selected games, in shard order or in a seeded random order."""
    sel = np.ones(index["split"].size, bool)
    if split != "all":
        sel &= index["split"] == shard_format.SPLITS.index(split)
    if cutoff is not None:
        sel &= np.maximum(index["white_elo"], index["black_elo"]) <= cutoff
    chosen = np.flatnonzero(sel)
    if seed is not None:
        chosen = np.random.default_rng(seed).permutation(chosen)
    return chosen[:limit] if limit is not None else chosen
