"""Anchor tables: the players whose ratings are held fixed, so every fit lands on one scale.

"paper" is the paper's table (Stockfish skill levels at 0.1 s a move; here DEFAULT_NODES). Bundled
tables measured with `transcend ladder` live in arena/tables/; any JSON file in the same format works.
"""
from __future__ import annotations

import json
import pathlib

TABLE_DIR = pathlib.Path(__file__).with_name("tables")

# The paper's Glicko-2 anchors for Stockfish skill levels at 0.1 s a move (here: DEFAULT_NODES).
PAPER_ANCHORS: dict[str, float] = {"stockfish-l1": 1554, "stockfish-l2": 1759, "stockfish-l3": 1867,
                                   "stockfish-l4": 2006, "stockfish-l5": 2148}


def load_anchor_table(name_or_path: str) -> dict[str, float]:
    """"paper" -> PAPER_ANCHORS; a bundled table name (e.g. "ladder-sf15") or a JSON file -> its ratings.

    A table file is a JSON object whose "ratings" maps player names to Elo (other keys document how
    it was measured); a plain {name: rating} object is accepted too.
    """
    if name_or_path == "paper":
        return dict(PAPER_ANCHORS)
    path = pathlib.Path(name_or_path)
    if not path.is_file():
        bundled = TABLE_DIR / f"{name_or_path}.json"
        if not bundled.is_file():
            known = ["paper"] + sorted(p.stem for p in TABLE_DIR.glob("*.json"))
            raise FileNotFoundError(f"anchor table {name_or_path!r} is neither a file nor a bundled table {known}")
        path = bundled
    data = json.loads(path.read_text())
    table = data.get("ratings", data) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table or not all(isinstance(v, (int, float)) for v in table.values()):
        raise ValueError(f"anchor table {path}: expected a JSON object with a 'ratings' map of name -> Elo")
    return {str(k): float(v) for k, v in table.items()}
