"""Ingest benchmark: PGN games per second per core through the whole build (decompress, split, filter,
normalize, tokenize, write shards), side by side with python-chess's `chess.pgn.read_game` on the same games.

    python -m experiments.bench ingest [--games 200000] [--baseline-games 2000] [--source DIR_OR_FILES...|synthetic]

Rates are per CPU-second of the one process (= per core), so other work on a shared machine distorts them
less (it still slows both sides through shared caches: compare the ratio, and note the load averages in the JSON);
wall-clock rates are printed beside them. Two inputs: the sample as it is (plain SAN, no comments; the headline
figures), and the same games rewritten the way Lichess monthly dumps look since 2017
(`1. e4 { [%clk 0:03:00] } 1... e5 { ... }`), reported under `lichess_clock_format`.

The sample is the shared Lichess sample beside the checkout (../shared/data/lichess) when it is there, else
`--synthetic-games` games of random legal play (python-chess) in Lichess's PGN format; `--source synthetic` asks
for those. Synthetic copies get fresh Lichess ids, so every game of every copy goes the whole way (a real month
has next to no duplicates); copies of the shared sample repeat its ids, which dedup rejects. The JSON's `source`
and `data` say which input was used.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import os
import pathlib
import platform
import random
import sys
import tempfile
import textwrap
import time

import zstandard

from data_pipeline import build as build_mod
from data_pipeline import normalize, sources

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lichess"
SYNTHETIC = "synthetic"
_ID_CHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_COPY_MARK = b"lichess.org/zz"  # synthetic ids start with it; each copy of the sample replaces it with its own code


@dataclasses.dataclass(frozen=True)
class Sample:
    """PGN text to repeat, what it is (for the JSON) and whether its copies get fresh Lichess ids."""

    text: bytes
    data: str  # "shared sample", "pgn files" or "synthetic"
    source: list[str]
    fresh_ids_per_copy: bool = False

    def copy(self, k: int) -> bytes:
        if not self.fresh_ids_per_copy:
            return self.text
        return self.text.replace(_COPY_MARK, b"lichess.org/" + (_ID_CHARS[k // 62 % 62] + _ID_CHARS[k % 62]).encode())


def random_pgn(n_games: int, seed: int = 0) -> bytes:
    """n games of random legal play (python-chess), in Lichess's PGN format: the bench input when no sample exists.

    Each game plays 10-130 plies (about 70 on average, like Lichess); its result is the real one when the game
    ended, else a random one. Lichess ids are `zz` + a 6-character game number.
    """
    import chess

    rng = random.Random(seed)
    games = []
    for g in range(n_games):
        board, sans = chess.Board(), []
        for _ in range(rng.randint(10, 130)):
            moves = list(board.legal_moves)
            if not moves:
                break
            move = rng.choice(moves)
            sans.append(f"{len(sans) // 2 + 1}. {board.san(move)}" if len(sans) % 2 == 0 else board.san(move))
            board.push(move)
        outcome = board.outcome()
        result = outcome.result() if outcome else rng.choice(["1-0", "0-1", "1/2-1/2"])
        gid = "".join(_ID_CHARS[g // 62 ** k % 62] for k in range(6))
        headers = {"Event": "Rated Blitz game", "Site": f"https://{_COPY_MARK.decode()}{gid}", "Date": "2024.01.01",
                   "White": f"w{g}", "Black": f"b{g}", "Result": result, "WhiteElo": str(rng.randint(600, 2600)),
                   "BlackElo": str(rng.randint(600, 2600)), "TimeControl": "300+0", "Termination": "Normal"}
        head = "".join(f'[{k} "{v}"]\n' for k, v in headers.items())
        games.append(f"{head}\n{textwrap.fill(' '.join([*sans, result]), 79)}\n\n")
    return "".join(games).encode()


def synthetic_label(n_games: int) -> str:
    return f"{n_games} random-play games (python-chess, seed 0)"


def source_paths(source: list[str] | None) -> list[pathlib.Path] | None:
    """The PGN files `--source` names (directories: their *.pgn.zst); without --source the shared sample's files.

    None when the synthetic sample is meant: `--source synthetic`, or no --source and no shared sample.
    Raises FileNotFoundError when the names hold no PGN file.
    """
    if source == [SYNTHETIC] or (source is None and not sorted(SHARED.glob("*.pgn.zst"))):
        return None
    paths: list[pathlib.Path] = []
    for s in source or [str(SHARED)]:
        sp = pathlib.Path(s)
        paths += sorted(sp.glob("*.pgn.zst")) if sp.is_dir() else [sp]
    if not paths or not all(p.is_file() for p in paths):
        raise FileNotFoundError(f"no PGN file at {source}; pass --source FILE.pgn.zst, or --source {SYNTHETIC}")
    return paths


def load_sample(source: list[str] | None, synthetic_games: int) -> Sample:
    """The text of the files `source_paths` finds, or `synthetic_games` random-play games when it finds None."""
    paths = source_paths(source)
    if paths is None:
        return Sample(random_pgn(synthetic_games), SYNTHETIC, [synthetic_label(synthetic_games)], fresh_ids_per_copy=True)
    text = b"".join(b"".join(sources.iter_blocks(p)).rstrip(b"\n") + b"\n\n" for p in paths)
    return Sample(text, "pgn files" if source else "shared sample", [str(p) for p in paths])


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


def _run(name: str, sample: Sample, n_games: int, baseline_games: int, tmp: pathlib.Path) -> dict:
    """Time `transcend data build` (one process) on copies of the sample, and python-chess on its first games."""
    src = _write_copies(name, sample, n_games, tmp)
    cfg = build_mod.BuildConfig(sources=(str(src),), out_dir=str(tmp / f"{name}-out"), workers=1)
    t0, cpu0 = time.perf_counter(), time.process_time()
    manifest = build_mod.build(cfg)  # workers=1: everything in this one process, on one core
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    games = manifest["counts"]["raw_games"]
    ours = games / cpu  # per core-second: robust when other work shares the machine (wall figures beside it)
    print(f"[{name}] transcend data build (1 process): {games:,} games in {cpu:.2f}s CPU ({wall:.2f}s wall) "
          f"= {ours:,.0f} games/s/core ({games / wall:,.0f}/s wall)")
    n, base_cpu, base_wall = _time_python_chess(sample.text, baseline_games)
    base = n / base_cpu
    print(f"[{name}] chess.pgn.read_game on the first {n:,} of the same games: {base:,.0f} games/s/core "
          f"({1e3 / base:.2f} ms CPU a game; {n / base_wall:,.0f}/s wall); speedup {ours / base:.1f}x")
    return {"games": games, "kept": manifest["counts"]["kept"], "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
            "us_per_game": round(1e6 / ours, 2), "python_chess_us_per_game": round(1e6 / base, 1),
            "games_per_s_per_core": round(ours, 1), "games_per_s_wall": round(games / wall, 1),
            "python_chess_games_per_s": round(base, 1), "python_chess_games_per_s_wall": round(n / base_wall, 1),
            "python_chess_games": n, "speedup_vs_python_chess": round(ours / base, 1)}


def _write_copies(name: str, sample: Sample, n_games: int, tmp: pathlib.Path) -> pathlib.Path:
    """Enough copies of the sample for n_games, as one zstd file (Lichess's format)."""
    per_copy = sample.text.count(b"\n\n[") + 1
    copies = -(-n_games // per_copy)
    src = tmp / f"{name}.pgn.zst"
    with open(src, "wb") as f, zstandard.ZstdCompressor(level=3, write_checksum=True).stream_writer(f) as w:
        for k in range(copies):
            w.write(sample.copy(k))
    print(f"[{name}] input: {copies} copies of the sample = {copies * per_copy:,} games, "
          f"{os.path.getsize(src) / 1e6:.1f} MB zstd, {copies * len(sample.text) / 1e6:.0f} MB PGN")
    return src


def _time_python_chess(text: bytes, max_games: int) -> tuple[int, float, float]:
    """chess.pgn.read_game over the first max_games games -> (games, CPU seconds, wall seconds)."""
    import chess.pgn

    stream = io.StringIO(text.decode("utf-8", "replace"))
    t0, cpu0 = time.perf_counter(), time.process_time()
    n = 0
    while n < max_games and chess.pgn.read_game(stream) is not None:
        n += 1
    return n, time.process_time() - cpu0, time.perf_counter() - t0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench ingest", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", nargs="+", default=None,
                   help=f"PGN files or a directory of *.pgn.zst, or `{SYNTHETIC}` (default: the shared sample at "
                        f"{SHARED} when present, else {SYNTHETIC})")
    p.add_argument("--synthetic-games", type=int, default=2000, help="random-play games generated for the synthetic sample")
    p.add_argument("--games", type=int, default=200_000, help="repeat the sample up to at least this many games")
    p.add_argument("--baseline-games", type=int, default=2000, help="games timed with chess.pgn.read_game")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        sample = load_sample(args.source, args.synthetic_games)
    except FileNotFoundError as e:
        print(f"python -m experiments.bench ingest: {e}", file=sys.stderr)
        return 2
    clocks = dataclasses.replace(sample, text=_with_clocks(sample.text))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        plain = _run("sample", sample, args.games, args.baseline_games, pathlib.Path(tmp))
        clock = _run("lichess-clock-format", clocks, args.games, args.baseline_games, pathlib.Path(tmp))
    print(f"targets: >= 20,000 games/s/core and >= 50x python-chess; "
          f"got {plain['games_per_s_per_core']:,.0f} and {plain['speedup_vs_python_chess']}x on the sample as is, "
          f"{clock['games_per_s_per_core']:,.0f} and {clock['speedup_vs_python_chess']}x in Lichess clock format")
    print(json.dumps({"benchmark": "ingest", **plain, "lichess_clock_format": clock, "timing": "CPU seconds",
                      "load_average": round(os.getloadavg()[0], 2), "load_average_at_start": round(load_before, 2),
                      "data": sample.data, "source": sample.source,
                      "workers": 1, "cpu": platform.processor() or platform.machine(), "cores_on_machine": os.cpu_count(),
                      "python": platform.python_version()}))
    return 0
