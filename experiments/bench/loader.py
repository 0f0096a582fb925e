"""Loader benchmark: packed training tokens per second from shards, in one process (no Grain workers).

    python -m experiments.bench loader [--data DIR | --source FILES...|synthetic] [--seconds 10] [--seq-len 1024]
                                       [--batch-size 32]

Without --data it first builds shards into a temporary directory from the PGN `--source` names: by default the
shared Lichess sample when it is there, else random-play games (the ingest bench's generator). The JSON's `data`
and `source` say which.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import platform
import resource
import sys
import tempfile
import time

from data_pipeline import LoaderSpec, make_dataset, read_manifest
from data_pipeline import build as build_mod
from experiments.bench.ingest import SHARED, SYNTHETIC, random_pgn, source_paths, synthetic_label


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return r.ru_utime + r.ru_stime


def _measure(spec: LoaderSpec, seconds: float) -> tuple[float, float, float, int]:
    """-> (target tokens/s, row tokens/s, target tokens per CPU second, batches); targets = loss_mask 1."""
    it = iter(make_dataset(spec, 0, 1))
    next(it)  # open readers, start prefetch threads
    t0, c0 = time.perf_counter(), _cpu_s()
    tokens = rows = batches = 0
    while time.perf_counter() - t0 < seconds:
        b = next(it)
        tokens += int(b["loss_mask"].sum())
        rows += b["inputs"].size
        batches += 1
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return tokens / wall, rows / wall, tokens / cpu, batches


def _build_shards(source: list[str] | None, synthetic_games: int, tmp: pathlib.Path) -> tuple[str, str, list[str]]:
    """Shards in tmp from the PGN files `source` names, or from random-play games -> (data dir, data kind, sources)."""
    paths = source_paths(source)
    if paths is None:
        src = tmp / "synthetic.pgn"
        src.write_bytes(random_pgn(synthetic_games))
        paths, kind, described = [src], SYNTHETIC, [synthetic_label(synthetic_games)]
    else:
        kind, described = "pgn files" if source else "shared sample", [str(p) for p in paths]
    data = str(tmp / "data")
    build_mod.build(build_mod.BuildConfig(sources=tuple(map(str, paths)), out_dir=data, workers=1))
    return data, kind, described


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench loader", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="a built data directory (default: build one from --source)")
    p.add_argument("--source", nargs="+", default=None,
                   help=f"PGN files or a directory of *.pgn.zst to build from, or `{SYNTHETIC}` (default: the shared "
                        f"sample at {SHARED} when present, else {SYNTHETIC})")
    p.add_argument("--synthetic-games", type=int, default=2000, help="random-play games generated for the synthetic sample")
    p.add_argument("--seconds", type=float, default=10.0, help="time per packing mode")
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        data, kind, source = args.data, "built data directory", [args.data]
        if data is None:
            try:
                data, kind, source = _build_shards(args.source, args.synthetic_games, pathlib.Path(tmp))
            except FileNotFoundError as e:
                print(f"python -m experiments.bench loader: {e}", file=sys.stderr)
                return 2
        m = read_manifest(data)
        print(f"data: {data}: {m['games']['train']:,} train games, {m['tokens']['train']:,} tokens, {m['shards']} shards")
        results = {}
        for packing in ("concat", "pad"):
            spec = LoaderSpec(data, seq_len=args.seq_len, batch_size=args.batch_size, packing=packing)
            tok_s, row_s, tok_cpu, batches = _measure(spec, args.seconds)
            results[packing] = (tok_s, tok_cpu)
            print(f"packing={packing}: {tok_s / 1e6:.2f}M target tokens/s ({row_s / 1e6:.2f}M row tokens/s, "
                  f"{tok_cpu / 1e6:.2f}M per CPU-second; {batches} batches of {args.batch_size}x{args.seq_len})")
    print("target: >= 2M tokens/s (an H100 on the 50M preset consumes about 1M)")
    load = os.getloadavg()[0]
    print(f"machine load average during the run: {load:.1f} on {os.cpu_count()} cores (other work slows wall time)")
    print(json.dumps({"benchmark": "loader", "tokens_per_s": round(results["concat"][0]), "packing": "concat",
                      "tokens_per_cpu_s": round(results["concat"][1]),
                      "pad_tokens_per_s": round(results["pad"][0]), "pad_tokens_per_cpu_s": round(results["pad"][1]),
                      "load_average": round(load, 2), "cores_on_machine": os.cpu_count(), "seq_len": args.seq_len,
                      "batch_size": args.batch_size, "processes": 1, "worker_count": 0, "seconds": args.seconds,
                      "data": kind, "source": source, "train_games": m["games"]["train"],
                      "cpu": platform.processor() or platform.machine(), "python": platform.python_version()}))
    return 0
