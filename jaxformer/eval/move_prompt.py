"""How a move-token model is prompted: the game start, the rating tokens of a "+elo" tokenizer, then every move after
what its tokenizer writes before it (`position_ids`: nothing for "move", the position for "board"), and last the
`position_ids` of the position the model is to move in.

This is `tokenizer.encode_game` of the game so far, with both ratings set to the rating the model plays as
(jaxformer.eval.tokenizer_checks), followed by the current position's tokens: the next-token log-probs after them are
the move distribution. A ply is `position_width + 1` tokens (one for "move"), and the window only ever slides to the
start of a ply (a position block, or a move when nothing is written before moves): it keeps at most the last `keep`
tokens from such a start (a mid-game window without the header, as training blocks cut from the concatenated games
are).
"""
from __future__ import annotations

import chess
import numpy as np

from data_pipeline import MoveTokenizer


class MoveTranscript:
    """The token prompt of one game, extended move by move (recomputing it every move would cost O(plies^2))."""

    def __init__(self, tokenizer: MoveTokenizer, header: tuple[int, ...], root: chess.Board):
        self.tok = tokenizer
        self.board = root.copy(stack=False)  # the position after `moves`: its position_ids end `ids`
        self.ids = header + tuple(tokenizer.position_ids(self.board))
        self.moves: list[chess.Move] = []  # the moves already in `ids`

    def prompt(self, board: chess.Board) -> tuple[int, ...]:
        """The prompt before the next move of `board`'s game (its move stack from the start)."""
        done = len(self.moves)
        if board.move_stack[:done] != self.moves:
            raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
        new: list[int] = []
        for move in board.move_stack[done:]:
            new.append(self.tok.move_id(move))
            self.board.push(move)
            new += self.tok.position_ids(self.board)
            self.moves.append(move)
        self.ids += tuple(new)
        return self.ids


class MovePrompts:
    """The move-token player's PromptFormat (jaxformer.eval.contexts)."""

    empty: tuple[int, ...] = ()

    def __init__(self, tokenizer: MoveTokenizer, as_rating: int | None):
        ratings = tokenizer.rating_ids(as_rating, as_rating) if as_rating is not None else []
        self.tok = tokenizer
        self.header = (int(tokenizer.game_start_id), *(int(r) for r in ratings))
        self.ply_width = tokenizer.position_width + 1
        # a move's catch-up feeds two plies: the model's last move and the opponent's reply, each with its position
        self.min_width = 2 * self.ply_width

    def new_transcript(self, root: chess.Board) -> MoveTranscript:
        return MoveTranscript(self.tok, self.header, root)

    def encode(self, part: tuple[int, ...]) -> np.ndarray:
        return np.asarray(part, np.int32)

    def window_start(self, prompt: tuple[int, ...], keep: int) -> int:
        """The first ply start (header + k plies) at or after len(prompt) - keep; 0 when the whole prompt fits."""
        start = len(prompt) - keep
        if start <= 0:
            return 0
        h, w = len(self.header), self.ply_width
        return h + max(0, -(-(start - h) // w)) * w
