"""games.jsonl (the source of truth, append-only, flushed per game) and games.pgn (derived from it).

A restart reads the finished game ids and plays only the rest, so a planned game is played once.
A kill can at worst leave a partial last line; it is cut off (and logged) before appending resumes.
games.pgn is rebuilt from the records whenever it is not exactly their PGN (a kill between the two
writes, or in the middle of a game's PGN, e.g. after its tags).
Workers sharing a directory pass the directory's lock (arena.ClaimBoard.locked): the repair and every
append then happen under it, so their writes never interleave.
"""
from __future__ import annotations

import contextlib
import io
import logging
import pathlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import chess
import chess.pgn

from safeio import append_jsonl, append_line, read_jsonl, repair_jsonl, write_text_atomic

log = logging.getLogger(__name__)


def games_files(eval_dir: pathlib.Path) -> list[pathlib.Path]:
    """Every shard's games file in an evaluation directory (games.jsonl, games.shard1of4.jsonl, ...)."""
    return sorted(eval_dir.glob("games*.jsonl"))


def read_records(path: pathlib.Path) -> list[dict]:
    """Complete records of one games file ([] when it does not exist); a cut last line is ignored."""
    return read_jsonl(path)


def read_all_records(eval_dir: pathlib.Path) -> list[dict]:
    return [r for p in games_files(eval_dir) for r in read_records(p)]


def record_to_pgn(record: dict) -> str:
    """A games.jsonl record as one standard PGN game (the PGN file is derived from the records)."""
    board = chess.Board(record["start_fen"])
    game = chess.pgn.Game()
    if record["start_fen"] != chess.STARTING_FEN:
        game.setup(board)
    node: chess.pgn.GameNode = game
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
    h["Termination"] = "adjudication" if record["adjudicated"] else \
        "rules infraction" if record["termination"] == "forfeit_illegal" else "normal"
    h["TerminationDetail"] = record["termination"]
    if record.get("result_override"):
        h["ResultOverride"] = record["result_override"]
    h["PlyCount"] = str(record["plies"])
    h["GameId"] = record["game_id"]
    if record.get("step") is not None:
        h["Step"] = str(record["step"])
    if record.get("temperature") is not None:
        h["Temperature"] = repr(record["temperature"])
        h["Mode"] = record["mode"]
    if record.get("protocol"):
        h["Protocol"] = record["protocol"]["label"]
        # sorted: games.jsonl stores keys sorted, so the PGN rebuilt from it must not depend on insertion order
        h["ProtocolSettings"] = ",".join(f"{k}={v}" for k, v in sorted(record["protocol"].items()) if k != "label")
    for colour in ("white", "black"):
        info = record["players"][colour]
        tag = colour.capitalize()
        h[f"{tag}Settings"] = ",".join(f"{k}={v}" for k, v in sorted(info["settings"].items()))
        if info.get("version"):
            h[f"{tag}Version"] = info["version"]
        if info.get("illegal_attempts"):
            h[f"{tag}IllegalAttempts"] = str(info["illegal_attempts"])
    if record["adjudicated"]:
        h["AdjudicationEvalCp"] = str(record["eval_cp"])
    out = io.StringIO()
    game.accept(chess.pgn.FileExporter(out, headers=True, comments=False, variations=False))
    return out.getvalue()


class GameStore:
    """Appends finished games to `<stem>.jsonl` and `<stem>.pgn` in an evaluation directory."""

    def __init__(self, eval_dir: pathlib.Path, stem: str = "games",
                 lock: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext):
        eval_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = eval_dir / f"{stem}.jsonl"
        self.pgn = eval_dir / f"{stem}.pgn"
        self.lock = lock
        with self.lock():
            if repair_jsonl(self.jsonl):  # logged there
                log.warning("%s: the game of that partial record will be played again", self.jsonl)
            self.records = read_records(self.jsonl)
            self._reconcile_pgn()
        self.done = {r["game_id"] for r in self.records}

    def _reconcile_pgn(self) -> None:
        """Rewrite games.pgn unless it is exactly the records' PGN (a cut game, a missing or extra one)."""
        expected = "".join(record_to_pgn(r) + "\n" for r in self.records)
        actual = self.pgn.read_text(encoding="utf-8", errors="replace") if self.pgn.exists() else None
        if actual == expected:
            return
        if actual is not None:
            log.warning("%s is not the PGN of the %d games in %s (cut or out of step); rebuilding it from the records",
                        self.pgn, len(self.records), self.jsonl)
        write_text_atomic(self.pgn, expected)

    def append(self, record: dict) -> None:
        """Record one finished game: its JSONL line first (the truth), then its PGN, each flushed to disk."""
        if record["game_id"] in self.done:
            raise RuntimeError(f"game {record['game_id']} is already recorded in {self.jsonl}")
        with self.lock():
            append_jsonl(self.jsonl, record)
            append_line(self.pgn, record_to_pgn(record))
        self.records.append(record)
        self.done.add(record["game_id"])
