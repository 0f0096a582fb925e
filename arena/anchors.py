"""Anchor tables: the players whose ratings are held fixed, so every fit lands on one scale.

"paper" is the paper's table (Stockfish skill levels at 0.1 s a move; here DEFAULT_NODES). Bundled
tables measured with `transcend ladder` live in arena/tables/; any JSON file in the same format works.
A measured table may ship the games it was fitted from beside it (NAME.games.jsonl.zst, written by
`transcend ladder --export-games`): a model's fit then refits the rungs from them, with only the table's
`anchored_to` players fixed, so the model's interval includes the rungs' uncertainty.
"""
from __future__ import annotations

import json
import pathlib

import zstandard

TABLE_DIR = pathlib.Path(__file__).with_name("tables")
GAMES_SUFFIX = ".games.jsonl.zst"  # a table's shipped games: records in the games.jsonl schema

# The bundled ladder that evaluation, the demo and the synthetic population use by default: skill-20 rungs from the
# worst-move engine through the random mover to l20-n1, on the paper anchors' scale (docs/measurements/).
DEFAULT_LADDER = "ladder-sf15-s20"

# The paper's Glicko-2 anchors for Stockfish skill levels at 0.1 s a move (here: DEFAULT_NODES).
PAPER_ANCHORS: dict[str, float] = {"stockfish-l1": 1554, "stockfish-l2": 1759, "stockfish-l3": 1867,
                                   "stockfish-l4": 2006, "stockfish-l5": 2148}


def load_anchor_table(name_or_path: str) -> dict[str, float]:
    """"paper" -> PAPER_ANCHORS; a bundled table name (e.g. DEFAULT_LADDER) or a JSON file -> its ratings.

    A table file is a JSON object whose "ratings" maps player names to Elo (other keys document how
    it was measured); a plain {name: rating} object is accepted too.
    """
    if name_or_path == "paper":
        return dict(PAPER_ANCHORS)
    path = table_path(name_or_path)
    data = json.loads(path.read_text())
    table = data.get("ratings", data) if isinstance(data, dict) else None
    if not isinstance(table, dict) or not table or not all(isinstance(v, (int, float)) for v in table.values()):
        raise ValueError(f"anchor table {path}: expected a JSON object with a 'ratings' map of name -> Elo")
    return {str(k): float(v) for k, v in table.items()}


def table_path(name_or_path: str) -> pathlib.Path:
    """The JSON file of a bundled table name (e.g. "ladder-sf15") or of a path."""
    path = pathlib.Path(name_or_path)
    if path.is_file():
        return path
    bundled = TABLE_DIR / f"{name_or_path}.json"
    if not bundled.is_file():
        known = ["paper"] + sorted(p.stem for p in TABLE_DIR.glob("*.json"))
        raise FileNotFoundError(f"anchor table {name_or_path!r} is neither a file nor a bundled table {known}")
    return bundled


def load_anchored_to(name_or_path: str) -> dict[str, float]:
    """The players a table was anchored to (held fixed when it was measured); "paper" and tables that do not
    record it: all their ratings."""
    if name_or_path == "paper":
        return dict(PAPER_ANCHORS)
    data = json.loads(table_path(name_or_path).read_text())
    fixed = data.get("anchored_to") if isinstance(data, dict) else None
    if not isinstance(fixed, dict) or not fixed:
        return load_anchor_table(name_or_path)
    return {str(k): float(v) for k, v in fixed.items()}


def anchor_games_path(name_or_path: str) -> pathlib.Path | None:
    """Where a table's shipped games are (TABLE.games.jsonl.zst beside TABLE.json), None for "paper"."""
    if name_or_path == "paper":
        return None
    path = table_path(name_or_path)
    return path.with_name(path.name.removesuffix(".json") + GAMES_SUFFIX)


def load_anchor_games(name_or_path: str) -> list[dict] | None:
    """The games a table was fitted from (records with at least white, black, white_score), None when it
    ships none."""
    path = anchor_games_path(name_or_path)
    if path is None or not path.is_file():
        return None
    try:
        text = zstandard.ZstdDecompressor().stream_reader(path.read_bytes()).read().decode()
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    except (zstandard.ZstdError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"anchor games {path}: not zstd-compressed JSON lines ({err}); re-export them with "
                         "`transcend ladder --fit-only --export-games`") from err
    bad = [i for i, r in enumerate(records, 1) if not {"white", "black", "white_score"} <= set(r)]
    if bad:
        raise ValueError(f"anchor games {path}: line {bad[0]} lacks white / black / white_score")
    return records
