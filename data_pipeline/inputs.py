"""The build's input checks: each failure is one sentence naming the input, the problem and the fix.

Checked before anything is read or written: the settings (`check_settings`), the sources (`check_sources`: a
Lichess month that exists, a file rather than a directory) and the output directory (`check_out_dir`: new,
empty, or a build's own). Checked after the shards are written: that every source held PGN games at all
(`check_games_found`); a source whose games were all filtered out is a warning of the build, not an error.
"""
from __future__ import annotations

import collections
import os
import pathlib
import re

from data_pipeline import sources

# What a build writes into its --out directory (and the temporaries of those files).
_OURS = re.compile(r"(manifest\.json|build_settings\.json|shard-\d{5,}\.(array_record|index\.npz))(\.tmp)?")
_SHOWN = 5  # foreign entries named in the refusal


def check_settings(val_fraction: float) -> None:
    if not 0 <= val_fraction < 1:  # also refuses NaN
        raise ValueError(f"val_fraction (--val-fraction) {val_fraction} is outside [0, 1): pass the share of games "
                         f"to hold out for validation, e.g. 0.01 (0 for none)")


def check_sources(specs: tuple[str, ...]) -> None:
    """Every source names a readable PGN file or a valid Lichess month; nothing is downloaded here."""
    if not specs:
        raise ValueError("no sources: pass --source FILE.pgn[.zst|.gz|.bz2] or --source lichess:YYYY-MM")
    for spec in specs:
        if spec.startswith("lichess:"):
            sources.lichess_file_name(spec)
        else:
            check_source_file(spec)


def check_source_file(path: str) -> None:
    p = pathlib.Path(path)
    if p.is_dir():
        pgns = sorted(q.name for q in p.iterdir() if ".pgn" in q.name)
        holds = f"it holds {len(pgns)} PGN file(s), e.g. {pgns[0]}" if pgns else "it holds no *.pgn* file"
        raise ValueError(f"PGN source {path!r} is a directory ({holds}): pass the files themselves, "
                         f"e.g. --source {os.path.join(path, '*.pgn.zst')}")
    if not p.is_file():
        raise FileNotFoundError(f"PGN source {path!r} does not exist (pass a .pgn, .pgn.zst, .pgn.gz or .pgn.bz2 "
                                f"file, or lichess:YYYY-MM)")


def check_out_dir(out: pathlib.Path) -> None:
    """--out must be a new or empty directory, or one a build wrote: never shards among someone else's files."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a directory: pass a new directory for the shards")
    if not out.is_dir():
        return
    foreign = sorted(p.name for p in out.iterdir() if not _OURS.fullmatch(p.name))
    if foreign:
        more = f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else ""
        raise ValueError(f"--out {out} already holds files that no build wrote ({', '.join(foreign[:_SHOWN])}{more}): "
                         f"pass a new or empty directory (a build writes only shard-*.array_record, "
                         f"shard-*.index.npz, build_settings.json and manifest.json)")


def check_games_found(paths: list[str], shard_metas: list[dict], errors: list[dict]) -> None:
    """Refuse a source in which no PGN game was found (a text or binary file, an empty file), unless its stream
    broke off (that error is reported already)."""
    found: collections.Counter[str] = collections.Counter()
    for meta in shard_metas:
        found[meta["source"]] += meta.get("tagged_games", meta["raw_games"])  # shards of older builds: raw games
    broken = {e["source"] for e in errors}
    empty = [p for p in dict.fromkeys(paths) if found[p] == 0 and p not in broken]
    if empty:
        size = os.path.getsize(empty[0])
        raise ValueError(f"no PGN game was found in {empty[0]!r} ({size:,} bytes{_others(empty)}): no header block "
                         f"of `[Tag \"value\"]` lines was found, so it is not a PGN file (or it is empty); pass PGN "
                         f"files (.pgn, .pgn.zst, .pgn.gz, .pgn.bz2)")


def _others(empty: list[str]) -> str:
    return f"; nor in {', '.join(map(repr, empty[1:]))}" if len(empty) > 1 else ""
