"""games.jsonl (the source of truth, append-only, flushed per game) and games.pgn (derived from it).

A restart reads the finished game ids and plays only the rest, so a planned game is played once.
A kill can at worst leave a partial last line; it is cut off (and logged) before appending resumes.
games.pgn is rebuilt from the records when it disagrees with them (a kill between the two writes).
"""
from __future__ import annotations

import json
import logging
import os
import pathlib
import re

from arena.rules import record_to_pgn

log = logging.getLogger(__name__)
_GAME_ID_TAG = re.compile(r'^\[GameId "([^"]+)"\]$', re.M)


def games_files(eval_dir: pathlib.Path) -> list[pathlib.Path]:
    """Every shard's games file in an evaluation directory (games.jsonl, games.shard1of4.jsonl, ...)."""
    return sorted(eval_dir.glob("games*.jsonl"))


def read_records(path: pathlib.Path) -> list[dict]:
    """Complete records of one games file; a partial (unterminated) last line is ignored."""
    if not path.exists():
        return []
    out = []
    text = path.read_text()
    lines = text.split("\n")
    for i, line in enumerate(lines[:-1] if not text.endswith("\n") else lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: line {i + 1} is not valid JSON ({err}); move the file aside to restart") from err
    return out


def read_all_records(eval_dir: pathlib.Path) -> list[dict]:
    return [r for p in games_files(eval_dir) for r in read_records(p)]


class GameStore:
    """Appends finished games to `<stem>.jsonl` and `<stem>.pgn` in an evaluation directory."""

    def __init__(self, eval_dir: pathlib.Path, stem: str = "games"):
        eval_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = eval_dir / f"{stem}.jsonl"
        self.pgn = eval_dir / f"{stem}.pgn"
        self._repair_partial_line()
        self.records = read_records(self.jsonl)
        self.done = {r["game_id"] for r in self.records}
        self._reconcile_pgn()

    def _repair_partial_line(self) -> None:
        if not self.jsonl.exists():
            return
        data = self.jsonl.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log.warning("%s: dropping a partial last record (%d bytes) left by an interrupted write; "
                        "that game will be played again", self.jsonl, len(data) - keep)
            with open(self.jsonl, "r+b") as f:
                f.truncate(keep)

    def _reconcile_pgn(self) -> None:
        pgn_ids = _GAME_ID_TAG.findall(self.pgn.read_text()) if self.pgn.exists() else []
        if pgn_ids == [r["game_id"] for r in self.records]:
            return
        if self.pgn.exists():
            log.warning("%s disagrees with %s (%d vs %d games); rebuilding it from the records",
                        self.pgn, self.jsonl, len(pgn_ids), len(self.records))
        tmp = self.pgn.with_suffix(".pgn.tmp")
        tmp.write_text("".join(record_to_pgn(r) + "\n" for r in self.records))
        os.replace(tmp, self.pgn)

    def append(self, record: dict) -> None:
        if record["game_id"] in self.done:
            raise RuntimeError(f"game {record['game_id']} is already recorded in {self.jsonl}")
        for path, text in ((self.jsonl, json.dumps(record, sort_keys=True) + "\n"),
                           (self.pgn, record_to_pgn(record) + "\n")):
            with open(path, "a") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        self.records.append(record)
        self.done.add(record["game_id"])
