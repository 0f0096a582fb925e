"""Real shards for data tests: PGN text built by the real `data_pipeline.build`, and the kept games read back."""
from __future__ import annotations

import pathlib
from typing import Any

from array_record.python import array_record_module

from data_pipeline import build as build_mod
from data_pipeline import get_tokenizer, read_manifest, shards

from . import pgn


def build_pgn(root: pathlib.Path, text: str, **settings: Any) -> str:
    """`text` written to ROOT/in.pgn and built into ROOT/data with BuildConfig `settings` -> the data directory."""
    (root / "in.pgn").write_text(text)
    build_mod.build(build_mod.BuildConfig(sources=(str(root / "in.pgn"),), out_dir=str(root / "data"), **settings))
    return str(root / "data")


def random_shards(root: pathlib.Path, n_games: int, seed: int, max_plies: int, **settings: Any) -> tuple[str, list[dict]]:
    """Random legal games (pgn.random_pgn) built as build_pgn does -> (the data directory, each game's truth)."""
    text, truth = pgn.random_pgn(n_games, seed=seed, max_plies=max_plies)
    return build_pgn(root, text, **settings), truth


def kept_transcripts(data_dir: str | pathlib.Path) -> list[str]:
    """Every kept game's transcript (without its leading `;`), read back from the shards in order."""
    m = read_manifest(data_dir)
    tok, out = get_tokenizer(m["tokenizer"]), []
    for n in range(m["shards"]):
        reader = array_record_module.ArrayRecordReader(str(shards.record_path(data_dir, n)))
        out += [tok.decode_transcript(shards.decode_record(r, shards.token_dtype(m))[1]) for r in reader.read_all()]
        reader.close()
    return out
