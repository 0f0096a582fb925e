"""How a move-token model is prompted: the game start, the rating tokens of a "+elo" tokenizer, one id per move.

This is `tokenizer.encode_game` of the game so far, with both ratings set to the rating the model plays as
(jaxformer.eval.tokenizer_checks). Every token after the header is a whole move, so any cut of the prompt is at a
move boundary: when the window slides it keeps the last `keep` tokens (a mid-game window without the header,
as training blocks cut from the concatenated games are).
"""
from __future__ import annotations

import chess
import numpy as np

from data_pipeline import MoveTokenizer


class MoveTranscript:
    """The token prompt of one game, extended move by move (recomputing it every move would cost O(plies^2))."""

    def __init__(self, tokenizer: MoveTokenizer, header: tuple[int, ...]):
        self.tok = tokenizer
        self.ids = header
        self.moves: list[chess.Move] = []  # the moves already in `ids`

    def prompt(self, board: chess.Board) -> tuple[int, ...]:
        """The prompt before the next move of `board`'s game (its move stack from the start)."""
        done = len(self.moves)
        if board.move_stack[:done] != self.moves:
            raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
        new = board.move_stack[done:]
        self.ids += tuple(self.tok.move_id(m) for m in new)
        self.moves += new
        return self.ids


class MovePrompts:
    """The move-token player's PromptFormat (jaxformer.eval.contexts)."""

    empty: tuple[int, ...] = ()
    min_width = 2  # a move's catch-up feeds two tokens: the model's last move and the opponent's reply

    def __init__(self, tokenizer: MoveTokenizer, as_rating: int | None):
        ratings = tokenizer.rating_ids(as_rating, as_rating) if as_rating is not None else []
        self.tok = tokenizer
        self.header = (int(tokenizer.game_start_id), *(int(r) for r in ratings))

    def new_transcript(self, root: chess.Board) -> MoveTranscript:
        return MoveTranscript(self.tok, self.header)

    def encode(self, part: tuple[int, ...]) -> np.ndarray:
        return np.asarray(part, np.int32)

    def window_start(self, prompt: tuple[int, ...], keep: int) -> int:
        return max(0, len(prompt) - keep)
