"""`python -m experiments.robustness NAME [--trials N] [--out DIR] [--seed S]`: run one check; its JSON line comes last."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import pathlib
import random
import sys
import tempfile
import time

# check name -> module under experiments.robustness; each has run(work, trials, rng) -> Outcome and DEFAULT_TRIALS
CHECKS = {"train-kill": "train_kill", "eval-kill": "eval_kill", "concurrency": "concurrency",
          "checkpoint-damage": "checkpoint_damage", "fuzz": "fuzz"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m experiments.robustness",
                                description="Issue 12's robustness checks, through the public CLI on tiny runs.")
    p.add_argument("name", choices=sorted(CHECKS), help="the check to run")
    p.add_argument("--trials", type=int, default=None,
                   help="trials (checkpoint-damage: kinds of damage; fuzz: generated inputs) "
                        "(default: the check's own: 10, 10, 2, 11, 40)")
    p.add_argument("--out", default=None, help="work directory, kept afterwards (default: a temporary directory)")
    p.add_argument("--seed", type=int, default=0, help="seeds the random kill moments and damages (default: %(default)s)")
    return p


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    if args.trials is not None and args.trials < 1:
        build_parser().error(f"--trials {args.trials}: must be at least 1")
    module = importlib.import_module(f"experiments.robustness.{CHECKS[args.name]}")
    trials = args.trials or module.DEFAULT_TRIALS
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="robustness-") as tmp:
        work = pathlib.Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        outcome = module.run(work.resolve(), trials, random.Random(args.seed))
    print(json.dumps({**outcome.to_json(), "seed": args.seed, "seconds": round(time.time() - t0, 1)}), flush=True)
    return 0 if not outcome.failed else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("robustness: interrupted", file=sys.stderr)
        sys.exit(130)
