"""Loader benchmark: packed training tokens per second from shards, in one process (no Grain workers).

    python -m experiments.bench loader [--data DIR] [--seconds 10] [--seq-len 1024] [--batch-size 32]

Without --data it builds shards from the shared Lichess sample into a temporary directory first.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import sys
import tempfile
import time

from data_pipeline import LoaderSpec, make_dataset, read_manifest
from data_pipeline import build as build_mod

SHARED = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lichess"


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


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.bench loader", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="a built data directory (default: build the shared sample)")
    p.add_argument("--seconds", type=float, default=10.0, help="time per packing mode")
    p.add_argument("--seq-len", type=int, default=1024)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            srcs = sorted(SHARED.glob("*.pgn.zst"))
            if not srcs:
                print(f"no --data and no shared sample at {SHARED}", file=sys.stderr)
                return 2
            data = str(pathlib.Path(tmp) / "data")
            build_mod.build(build_mod.BuildConfig(sources=tuple(map(str, srcs)), out_dir=data, workers=1))
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
                      "cpu": platform.processor() or platform.machine(), "python": platform.python_version()}))
    return 0
