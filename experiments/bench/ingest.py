"""Ingest benchmark: PGN games per second per core through the whole build (decompress, split, filter,
normalize, tokenize, write shards), side by side with python-chess's `chess.pgn.read_game` on the same games.

    python -m experiments.bench ingest [--games 200000] [--baseline-games 2000] [--source DIR_OR_FILES...]

Rates are per CPU-second of the one process (= per core), so other work on a shared machine distorts them
less (it still slows both sides through shared caches: compare the ratio, and note the load averages in the JSON);
wall-clock rates are printed beside them. Two inputs: the shared sample as it is (plain SAN, no comments; the
headline figures), and the same games rewritten the way Lichess monthly dumps look since 2017
(`1. e4 { [%clk 0:03:00] } 1... e5 { ... }`), reported under `lichess_clock_format`.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import zstandard

from data_pipeline import build as build_mod
from data_pipeline import normalize, sources

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lichess"


def _sample_text(paths: list[pathlib.Path]) -> bytes:
    return b"".join(b"".join(sources.iter_blocks(p)).rstrip(b"\n") + b"\n\n" for p in paths)


def _with_clocks(text: bytes) -> bytes:
    """The same games in Lichess dump style: a clock comment after every move, Black move numbers after them."""
    games, _ = normalize.split_games(text)
    out = []
    for (head, _), (transcript, _, _) in zip(games, normalize.normalize_movetexts([m for _, m in games])):
        if transcript is None:
            continue
        moves = []
        for i, tok in enumerate(transcript.decode().split(" ")):
            san = tok.split(".", 1)[1] if i % 2 == 0 else tok
            moves.append(f"{i // 2 + 1}{'.' if i % 2 == 0 else '...'} {san} {{ [%clk 0:{(59 - i % 60):02d}:00] }}")
        result = normalize.parse_headers(head)[b"Result"].decode()
        out.append(head + b"\n\n" + (" ".join(moves) + f" {result}\n\n").encode())
    return b"".join(out)


def _run(name: str, sample: bytes, n_games: int, baseline_games: int, tmp: pathlib.Path) -> dict:
    per_copy = sample.count(b"\n\n[") + 1
    copies = -(-n_games // per_copy)
    src = tmp / f"{name}.pgn.zst"
    with open(src, "wb") as f, zstandard.ZstdCompressor(level=3, write_checksum=True).stream_writer(f) as w:
        for _ in range(copies):
            w.write(sample)
    print(f"[{name}] input: {copies} copies of the sample = {copies * per_copy:,} games, "
          f"{os.path.getsize(src) / 1e6:.1f} MB zstd, {copies * len(sample) / 1e6:.0f} MB PGN")
    cfg = build_mod.BuildConfig(sources=(str(src),), out_dir=str(tmp / f"{name}-out"), workers=1)
    t0, cpu0 = time.perf_counter(), time.process_time()
    manifest = build_mod.build(cfg)  # workers=1: everything in this one process, on one core
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    games = manifest["counts"]["raw_games"]
    ours = games / cpu  # per core-second: robust when other work shares the machine (wall figures beside it)
    print(f"[{name}] transcend data build (1 process): {games:,} games in {cpu:.2f}s CPU ({wall:.2f}s wall) "
          f"= {ours:,.0f} games/s/core ({games / wall:,.0f}/s wall)")

    import chess.pgn

    stream = io.StringIO(sample.decode("utf-8", "replace"))
    t0, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    while n < baseline_games and chess.pgn.read_game(stream) is not None:
        n += 1
    base_wall, base_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    base = n / base_cpu
    print(f"[{name}] chess.pgn.read_game on the first {n:,} of the same games: {base:,.0f} games/s/core "
          f"({1e3 / base:.2f} ms CPU a game; {n / base_wall:,.0f}/s wall); speedup {ours / base:.1f}x")
    return {"games": games, "kept": manifest["counts"]["kept"], "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "us_per_game": round(1e6 / ours, 2), "python_chess_us_per_game": round(1e6 / base, 1),
            "games_per_s_per_core": round(ours, 1), "games_per_s_wall": round(games / wall, 1),
            "python_chess_games_per_s": round(base, 1), "python_chess_games_per_s_wall": round(n / base_wall, 1),
            "python_chess_games": n, "speedup_vs_python_chess": round(ours / base, 1)}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench ingest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", nargs="+", default=[str(SHARED)], help="PGN files or a directory of *.pgn.zst")
    p.add_argument("--games", type=int, default=200_000, help="repeat the sample up to at least this many games")
    p.add_argument("--baseline-games", type=int, default=2000, help="games timed with chess.pgn.read_game")
    args = p.parse_args(argv)
    paths = []
    for s in args.source:
        sp = pathlib.Path(s)
        paths += sorted(sp.glob("*.pgn.zst")) if sp.is_dir() else [sp]
    if not paths:
        print(f"no PGN found in {args.source}; pass --source FILE.pgn.zst", file=sys.stderr)
        return 2
    sample = _sample_text(paths)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        plain = _run("sample", sample, args.games, args.baseline_games, pathlib.Path(tmp))
        clocks = _run("lichess-clock-format", _with_clocks(sample), args.games, args.baseline_games, pathlib.Path(tmp))
    print(f"targets: >= 20,000 games/s/core and >= 50x python-chess; "
          f"got {plain['games_per_s_per_core']:,.0f} and {plain['speedup_vs_python_chess']}x on the sample as is, "
          f"{clocks['games_per_s_per_core']:,.0f} and {clocks['speedup_vs_python_chess']}x in Lichess clock format")
    print(json.dumps({"benchmark": "ingest", **plain, "lichess_clock_format": clocks, "timing": "CPU seconds",
                      "load_average": round(os.getloadavg()[0], 2), "load_average_at_start": round(load_before, 2),
                      "source": [str(x) for x in paths], "workers": 1,
                      "cpu": platform.processor() or platform.machine(), "cores_on_machine": os.cpu_count(),
                      "python": platform.python_version()}))
    return 0
