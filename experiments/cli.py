"""The `transcend` command: dispatches each subcommand to its part's own entry function.

Entry functions are imported lazily so `transcend data ...` never pays for importing JAX.
"""
from __future__ import annotations

import importlib
import os
import sys

# (subcommand, optional sub-subcommand) -> "module:function"; each function takes argv and returns an exit code.
COMMANDS: dict[tuple[str, ...], str] = {
    ("data", "synth"): "experiments.synth.cli:main",
    ("data",): "data_pipeline.cli:main",
    ("train",): "jaxformer.train:main",
    ("eval",): "jaxformer.eval.worker:main",
    ("ladder",): "arena.ladder:main",
    ("report",): "experiments.report.cli:main",
    ("sweep",): "experiments.sweep.cli:main",
    ("analyze",): "experiments.analyze.cli:main",
    ("uci",): "jaxformer.eval.uci:main",
}

USAGE = """usage: transcend COMMAND [ARGS...]

commands:
  data build|stats|dump   build and inspect rating-indexed token shards
  data synth              generate a synthetic population of imperfect Stockfish experts (PGN)
  train                   train a decoder transformer (resumes automatically)
  eval                    play rated matches of checkpoints against Stockfish
  ladder                  calibrate opponents on one rating scale
  report                  transcendence report: plots, tables, summary.json
  sweep                   a grid of runs (train, eval, report) here, on SLURM or on a TPU pod
  analyze KIND            the paper's analyses: advantage, diversity, move-matching (JSON + PNG)
  uci                     the model as a UCI engine (cutechess-cli, chess GUIs, lichess-bot)

Run `transcend COMMAND --help` for a command's options; add --debug to see the traceback of an error."""


def resolve(argv: list[str]) -> tuple[str, list[str]]:
    """Longest matching command key wins; returns the target and the remaining arguments."""
    for n in (2, 1):
        key = tuple(argv[:n])
        if len(key) == n and key in COMMANDS:
            # `data synth` consumes both words; `data` passes its sub-command on to data_pipeline.cli.
            return COMMANDS[key], argv[n:]
    raise KeyError(argv[0] if argv else "")


# Errors a user can cause (bad input, missing or damaged files, a full disk): one sentence, no traceback.
USER_ERRORS = (ValueError, OSError)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv  # keep the traceback of a user error
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    try:
        target, rest = resolve(argv)
    except KeyError:
        print(f"transcend: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    name = " ".join(argv[: len(argv) - len(rest)])
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(rest) or 0)
    except KeyboardInterrupt:
        print(f"transcend {name}: interrupted; what was finished is saved: rerun the same command to continue",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `transcend data dump ... | head`: the reader has gone, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except USER_ERRORS as err:
        if debug:
            raise
        print(f"transcend {name}: error: {err} (rerun with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
