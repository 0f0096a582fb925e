"""`python -m experiments.bench NAME [ARGS...]`: run one benchmark; each prints its JSON line last."""
from __future__ import annotations

import importlib
import pkgutil
import sys

import experiments.bench as bench_pkg


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(bench_pkg.__path__) if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = available()
    if not argv or argv[0] not in names:
        print(f"usage: python -m experiments.bench NAME [ARGS...]; NAME is one of {names}", file=sys.stderr)
        return 2
    return int(importlib.import_module(f"experiments.bench.{argv[0]}").main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
