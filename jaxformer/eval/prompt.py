"""How the model is prompted: the game as the training transcripts spell it, up to the next move.

`;1.e4 e5 2.Nf3` with canonical SAN, `+` and `#` included. When the model is to move, its prompt is the
transcript plus what precedes the next move: `;1.` at the start, ` N.` before a White move, ` ` before a
Black move. The candidate text is the bare SAN. The paper's protocol writes the model's own moves as the
model wrote them, cut at `+` (Transcript.write_as; chess_research/eval/utils.py play_turn line 184).
"""
from __future__ import annotations

import chess
import numpy as np

SEPARATORS = (" ", ";")  # what ends a move: the game goes on, or the game ends


def prompt_text(board: chess.Board, start: chess.Board | None = None) -> str:
    """The transcript of `board`'s game up to the next move, as the model is prompted: `;1.e4 e5 2.`."""
    replay = start.copy() if start is not None else chess.Board()
    parts = [";"]
    for move in board.move_stack:
        parts.append(move_prefix(replay, first=len(parts) == 1) + replay.san(move))
        replay.push(move)
    parts.append(move_prefix(replay, first=len(parts) == 1))
    return "".join(parts)


def move_prefix(board: chess.Board, first: bool) -> str:
    """What precedes the next move of `board` in a transcript (`first`: no move written yet)."""
    sep = "" if first else " "
    if board.turn == chess.WHITE:
        return f"{sep}{board.fullmove_number}."
    return sep if not first else f"{board.fullmove_number}..."


class Transcript:
    """prompt_text of one game, extended move by move (recomputing it every move would cost O(plies^2))."""

    def __init__(self, start: chess.Board):
        self.replay = start.copy()  # the game replayed up to the moves already in `text`
        self.text = ";"  # the moves so far, without the next move's prefix
        self.written: dict[int, str] = {}  # ply -> the text to write for it instead of its SAN

    def write_as(self, ply: int, text: str) -> None:
        """Write the move at `ply` (not yet in the transcript) as `text` instead of its canonical SAN."""
        if ply < len(self.replay.move_stack):
            raise RuntimeError(f"ply {ply} is already in the transcript")
        self.written[ply] = text

    def prompt(self, board: chess.Board) -> str:
        done = len(self.replay.move_stack)
        if board.move_stack[:done] != self.replay.move_stack:
            raise RuntimeError("game transcript diverged from the cached prefix (was a move taken back?)")
        for ply, move in enumerate(board.move_stack[done:], done):
            text = self.written.pop(ply, None) or self.replay.san(move)
            self.text += move_prefix(self.replay, first=self.text == ";") + text
            self.replay.push(move)
        return self.text + move_prefix(self.replay, first=self.text == ";")


def window_start(prompt: str, keep: int) -> int:
    """Offset of the first move boundary (just after a space) that leaves at most `keep` characters."""
    cut = max(0, len(prompt) - keep)
    space = prompt.find(" ", cut)
    return cut if space < 0 else space + 1


class CharPrompts:
    """The char player's PromptFormat (jaxformer.eval.contexts): transcripts in characters, one token each."""

    empty = ""
    min_width = 8

    def __init__(self, tokenizer) -> None:
        self.tok = tokenizer

    def new_transcript(self, root: chess.Board) -> Transcript:
        return Transcript(root)

    def encode(self, part: str) -> np.ndarray:
        return self.tok.encode(part)

    def window_start(self, prompt: str, keep: int) -> int:
        return window_start(prompt, keep)
