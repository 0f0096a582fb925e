"""How a game ends: real chess rules, and what a game that reaches the ply cap becomes.

The paper stopped games after 89 moves and scored them as draws, and scored a game that ended on
White's move (stalemate, insufficient material) as a White win. Here a game ends only by the rules
(checkmate, stalemate, insufficient material, the automatic 75-move and fivefold rules, a claimed
threefold repetition) or at the ply cap: by a Stockfish adjudication that is flagged in the record
("adjudicate", evaluation games), or as a plain draw ("draw", for a fixed game length: benchmarks).
The result always comes from python-chess's outcome (who delivered mate), never from whose turn it is.

The paper's protocol can be switched on item by item (`transcend eval --protocol paper`): no threefold
claim (`claim_threefold=False`: its `board.is_game_over()`), a plain draw at the cap, forfeits
(`forfeit_ending`) and its scoring of a game over on White's move (arena.match, `white_to_move_bug`).
"""
from __future__ import annotations

import dataclasses

import chess

DEFAULT_MAX_PLIES = 400
ADJUDICATE_CP = 300  # past the ply cap: the side ahead by >= 3 pawns (White's view) wins, else a draw

SCORES = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}
CAP_RESULTS = ("adjudicate", "draw")  # what a game that reaches the ply cap becomes


@dataclasses.dataclass(frozen=True)
class Ending:
    result: str  # "1-0", "0-1", "1/2-1/2"
    termination: str  # checkmate, stalemate, insufficient_material, seventyfive_moves, fivefold_repetition,
    #                   threefold_repetition, adjudication, ply_cap, forfeit_illegal, resignation
    adjudicated: bool = False
    eval_cp: int | None = None  # the adjudicating evaluation (White's view)
    override: str | None = None  # why the result is not the rules' (WHITE_TO_MOVE_BUG), else None


WHITE_TO_MOVE_BUG = "white_to_move_bug"  # the paper's scoring of a game over on White's move (arena.match)


def rules_ending(board: chess.Board, claim_threefold: bool = True) -> Ending | None:
    """The game's end by the rules after the last move, or None while it goes on.

    Automatic endings first; then (`claim_threefold`) threefold repetition, claimed on behalf of the
    player to move as soon as the position has occurred three times (the 50-move claim is not made:
    75 ends it). Without the claim, as the paper's `board.is_game_over()`, only fivefold ends a repetition.
    """
    outcome = board.outcome(claim_draw=False)
    if outcome is None and claim_threefold and board.is_repetition(3):
        return Ending("1/2-1/2", "threefold_repetition")
    if outcome is None:
        return None
    return Ending(outcome.result(), outcome.termination.name.lower())


def adjudicate(eval_cp: int) -> Ending:
    """A capped game's result from a Stockfish evaluation (centipawns, White's view)."""
    result = "1-0" if eval_cp >= ADJUDICATE_CP else "0-1" if eval_cp <= -ADJUDICATE_CP else "1/2-1/2"
    return Ending(result, "adjudication", adjudicated=True, eval_cp=int(eval_cp))


PLY_CAP_DRAW = Ending("1/2-1/2", "ply_cap")  # cap_result="draw": the game stops at the cap, not adjudicated


def forfeit_ending(loser: chess.Color, forfeit: str) -> Ending:
    """The player `loser` gave up (a players.FORFEITS reason): the other side wins."""
    return Ending("0-1" if loser == chess.WHITE else "1-0", "forfeit_illegal" if forfeit == "illegal" else forfeit)
