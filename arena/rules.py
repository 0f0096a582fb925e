"""How a game ends and how it is recorded: real chess rules, adjudication, games.jsonl records, PGN.

The paper stopped games after 89 moves and scored them as draws, and scored a game that ended on
White's move (stalemate, insufficient material) as a White win. Here a game ends only by the rules
(checkmate, stalemate, insufficient material, the automatic 75-move and fivefold rules, a claimed
threefold repetition) or, past a ply cap, by a Stockfish adjudication that is flagged in the record.
The result always comes from python-chess's outcome (who delivered mate), never from whose turn it is.
"""
from __future__ import annotations

import dataclasses
import io

import chess
import chess.pgn

DEFAULT_MAX_PLIES = 400
ADJUDICATE_CP = 300  # past the ply cap: the side ahead by >= 3 pawns (White's view) wins, else a draw

SCORES = {"1-0": 1.0, "0-1": 0.0, "1/2-1/2": 0.5}


@dataclasses.dataclass(frozen=True)
class Ending:
    result: str  # "1-0", "0-1", "1/2-1/2"
    termination: str  # checkmate, stalemate, insufficient_material, seventyfive_moves, fivefold_repetition,
    #                   threefold_repetition, adjudication
    adjudicated: bool = False
    eval_cp: int | None = None  # the adjudicating evaluation (White's view)


def rules_ending(board: chess.Board) -> Ending | None:
    """The game's end by the rules after the last move, or None while it goes on.

    Automatic endings first; then threefold repetition, claimed on behalf of the player to move as
    soon as the position has occurred three times (the 50-move claim is not made: 75 ends it).
    """
    outcome = board.outcome(claim_draw=False)
    if outcome is None and board.is_repetition(3):
        return Ending("1/2-1/2", "threefold_repetition")
    if outcome is None:
        return None
    return Ending(outcome.result(), outcome.termination.name.lower())


def adjudicate(eval_cp: int) -> Ending:
    """A capped game's result from a Stockfish evaluation (centipawns, White's view)."""
    result = "1-0" if eval_cp >= ADJUDICATE_CP else "0-1" if eval_cp <= -ADJUDICATE_CP else "1/2-1/2"
    return Ending(result, "adjudication", adjudicated=True, eval_cp=int(eval_cp))


def record_to_pgn(record: dict) -> str:
    """A games.jsonl record as one standard PGN game (the PGN file is derived from the records)."""
    board = chess.Board(record["start_fen"])
    game = chess.pgn.Game()
    if record["start_fen"] != chess.STARTING_FEN:
        game.setup(board)
    node = game
    for uci in record["moves_uci"]:
        node = node.add_variation(chess.Move.from_uci(uci))
    h = game.headers
    h["Event"] = record.get("event", "transcend eval")
    h["Site"] = record.get("site", "?")
    h["Date"] = record["finished_at"][:10].replace("-", ".")
    h["Round"] = str(record["round"])
    h["White"] = record["white"]
    h["Black"] = record["black"]
    h["Result"] = record["result"]
    h["Termination"] = "adjudication" if record["adjudicated"] else "normal"
    h["TerminationDetail"] = record["termination"]
    h["PlyCount"] = str(record["plies"])
    h["GameId"] = record["game_id"]
    if record.get("step") is not None:
        h["Step"] = str(record["step"])
    if record.get("temperature") is not None:
        h["Temperature"] = repr(record["temperature"])
        h["Mode"] = record["mode"]
    for colour in ("white", "black"):
        info = record["players"][colour]
        tag = colour.capitalize()
        h[f"{tag}Settings"] = ",".join(f"{k}={v}" for k, v in info["settings"].items())
        if info.get("version"):
            h[f"{tag}Version"] = info["version"]
        if info.get("illegal_attempts"):
            h[f"{tag}IllegalAttempts"] = str(info["illegal_attempts"])
    if record["adjudicated"]:
        h["AdjudicationEvalCp"] = str(record["eval_cp"])
    out = io.StringIO()
    game.accept(chess.pgn.FileExporter(out, headers=True, comments=False, variations=False))
    return out.getvalue()
