"""The notebook API in a few lines: load a run, look at the model's move distribution, play one game.

    python examples/notebook_api.py runs/demo/run [--step N] [--top K]

Prints the model's distribution over White's first moves at T=1 and T=0.1 (the K most likely moves and
the sum over every legal move, which is 1), then plays one game against the random mover at the arg-max
(T=0) and prints its result. The API is jaxformer.eval.api (docs/notebook.md).
"""
from __future__ import annotations

import argparse
import logging
import sys

import chess

from jaxformer.eval.api import load_run


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a run directory written by `transcend train`")
    p.add_argument("--step", type=int, default=None, help="checkpoint step (default: the latest complete one)")
    p.add_argument("--top", type=int, default=5, help="moves to print per distribution (default: 5)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    run = load_run(args.run_dir, args.step)
    print(f"loaded {run.name}: step {run.step}, {run.config.model.n_layer} layers x {run.config.model.d_model}")
    for temperature in (1.0, 0.1):
        dist = run.move_distribution(chess.Board(), temperature)
        top = ", ".join(f"{san} {p:.3f}" for san, p in dist[:args.top])
        print(f"T={temperature:g}: {len(dist)} legal moves, total probability {sum(p for _, p in dist):.6f}; top: {top}")

    record = run.play("random", temperature=0.0, as_white=True, seed=0)
    print(f"game vs random at T=0 (model White): {record['result']} by {record['termination']} after "
          f"{record['plies']} plies: {' '.join(record['moves_san'][:10])} ...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
