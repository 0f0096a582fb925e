"""Board tokenizers: the move tokenizer with the position written before every move ("board", "board+elo").

A small model need not reconstruct the board from the move list: each move is preceded by the position it is
played in, as searchless_chess feeds a FEN per position. Token ids extend the move tokenizer's (which stay as
they are):

    0, 1, 2 .. 1969   padding, game start, the 1968 UCI moves (data_pipeline.move_tokenizer)
    1970 .. 1982      the 13 square tokens: `.` (empty), `P N B R Q K` (White), `p n b r q k` (Black)
    1983, 1984        the side to move: `white`, `black`
    1985 .. 2038      board+elo: White's and Black's rating buckets, as in move+elo

A game is `[1] + rating ids (board+elo)`, then for every ply the 64 squares a1, b1, ..., h1, a2, ..., h8 of the
position before the move, the side-to-move token and the move id: 66 tokens a ply. Castling rights, the en passant
square and the move counters are not written (the position block is the piece placement and the side to move);
at play time the legal-move restriction covers legality, and the moves in the context carry the rest.

The board tokens are given, not predicted: `trains_on` weighs targets that are board tokens 0 (the loader
multiplies its loss_mask by it), so the loss is over the moves, the game starts and the rating tokens.
`decode` skips the board tokens, so `transcend data dump` prints the same transcripts as char32 and move.
"""
from __future__ import annotations

import chess
import numpy as np

from data_pipeline.move_tokenizer import MoveTokenizer

SQUARE_NAMES = (".", *"PNBRQK", *"pnbrqk")  # the empty square, then python-chess piece types 1..6 per colour
SIDE_NAMES = ("white", "black")
_PIECE_WEIGHT = np.arange(1, 7, dtype=np.uint16)[:, None]  # a piece-type bit plane -> its offset among the squares


class BoardTokenizer(MoveTokenizer):
    """The move tokenizer with each move's position (64 squares and the side to move) written before it."""

    base_name = "board"
    position_vocab = (*SQUARE_NAMES, *SIDE_NAMES)
    position_width = 64 + 1
    position_order = (", then the 13 square tokens (. PNBRQK pnbrqk) and the side to move (white, black): before "
                      "every move its position's squares a1..h8 and the side to move")

    def __init__(self, ratings: bool = False) -> None:
        super().__init__(ratings)
        self.side_offset = self.position_offset + len(SQUARE_NAMES)

    def _position_array(self, board: chess.Board) -> np.ndarray:
        """The 65 position tokens of `board` (uint16): one bit plane per piece type and one for Black's pieces."""
        planes = np.array([board.pawns, board.knights, board.bishops, board.rooks, board.queens, board.kings,
                           board.occupied_co[chess.BLACK]], dtype="<u8")  # little-endian: bit i is square i
        bits = np.unpackbits(planes.view(np.uint8), bitorder="little").reshape(7, 64).astype(np.uint16)
        out = np.empty(self.position_width, np.uint16)
        out[:64] = self.position_offset + (bits[:6] * _PIECE_WEIGHT).sum(0) + 6 * bits[6]
        out[64] = self.side_offset + (board.turn == chess.BLACK)
        return out

    def trains_on(self, targets: np.ndarray) -> np.ndarray:
        """1.0 for every target but the board tokens (squares and side to move), 0.0 for those."""
        return ((targets < self.position_offset) | (targets >= self.white_rating_offset)).astype(np.float32)
