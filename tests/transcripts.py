"""A game's moves written the way the data's transcripts are (`1.e4 e5 2.Nf3`), for Tokenizer.encode_game in tests."""
from __future__ import annotations

import chess


def transcript_of(board: chess.Board) -> bytes:
    """The moves of `board`'s move stack as a transcript (canonical SAN, move numbers before White's moves)."""
    replay, parts = chess.Board(), []
    for ply, move in enumerate(board.move_stack):
        parts.append((f"{ply // 2 + 1}." if ply % 2 == 0 else "") + replay.san(move))
        replay.push(move)
    return " ".join(parts).encode()
