"""`transcend report RUN_DIR... --out DIR`: did the model play better than the experts it learned from?

Writes report.md, summary.json (the same figures as data) and PNG plots: rating vs temperature with
95% bands, game counts, the arg-max (T = 0) at its own tick, the reference line and the opponents'
ratings (the paper's main figure), margin vs model size (when the runs differ in size) and the loss
curves. report.md also has the wins, draws and losses per opponent, and marks partial evaluations.
The work is experiments.report.writer.write_report.
"""
from __future__ import annotations

import argparse
import logging
import sys

from experiments.report.arms import describe_prediction
from experiments.report.markdown import protocol_rows_markdown
from experiments.report.writer import write_report


class DefaultsOnceHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each option's default once: not for a required option (it has none), nor when its help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.required or "%(default)" in (action.help or "") or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="transcend report", formatter_class=DefaultsOnceHelpFormatter,
        description="Transcendence report over one or more run directories (each with config.json, "
                    "metrics.jsonl and eval/<step>/ratings.json). A run transcends at a temperature when the lower "
                    "end of its 95% rating interval is above the cutoff (or the best expert's rating).")
    p.add_argument("runs", nargs="*", help="run directories")
    p.add_argument("--arm", dest="arms", action="append", default=[], type=_arm, metavar="NAME=RUN_DIR",
                   help="a run named as one arm of an experiment (repeatable, e.g. --arm diverse=runs/a --arm "
                        "clones=runs/b): the arms are put side by side first, in report.md and summary.json's \"arms\"; "
                        "the theory predicts `diverse` transcends and `clones` does not (default: none)")
    p.add_argument("--out", required=True, help="output directory for report.md, summary.json and the plots")
    p.add_argument("--step", type=int, default=None, help="evaluation step to plot; None: each run's latest")
    p.add_argument("--compare-protocols", action="store_true",
                   help="put the evaluation protocols of the step side by side (Elo, interval and difference from "
                        "`fixed` per temperature) and print the tables; the section appears in report.md whenever "
                        "a step holds results of more than one protocol")
    p.add_argument("--n-boot", type=_positive_int, default=None,
                   help="resamples of the protocols' joint bootstrap (default: the n_boot of the step's ratings.json)")
    args = p.parse_args(argv)
    if not args.runs and not args.arms:
        p.error("give at least one run directory or --arm NAME=RUN_DIR")
    names = [name for name, _ in args.arms]
    if len(set(names)) != len(names):
        p.error(f"--arm names must differ, got {', '.join(names)}")
    return args


def _arm(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=RUN_DIR, e.g. diverse=runs/demo/diverse/run")
    return name, path


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer of at least 1")
    return int(text)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = write_report(args.runs, args.out, args.step, compare=args.compare_protocols, n_boot=args.n_boot,
                               arms=dict(args.arms))
    except (FileNotFoundError, ValueError) as err:
        print(f"transcend report: error: {err}", file=sys.stderr)
        return 2
    for run in summary["runs"]:
        print(run["verdict"])
        if run["fit"]["note"]:
            print(f"  {run['name']}: {run['fit']['note']}")
    if "arms" in summary:
        print(describe_prediction(summary["arms"]))
    if args.compare_protocols:
        _print_comparisons(summary["runs"])
    print(f"report: wrote {args.out}/report.md, summary.json and {', '.join(summary['figures']) or 'no figures'}")
    return 0


def _print_comparisons(runs: list[dict]) -> None:
    for run in runs:
        comparison = run["protocols"]
        if comparison is None:
            print(f"{run['name']}: not evaluated yet: no step to compare protocols at")
        elif len(comparison["labels"]) < 2:
            print(f"{run['name']}: step {comparison['step']} holds results of one protocol only "
                  f"({', '.join(comparison['labels']) or 'none'}); evaluate it with `transcend eval --run {run['path']} "
                  "--protocol paper` (or single switches) to compare")
        else:
            print(f"{run['name']}, step {comparison['step']}: protocols side by side (difference: {comparison['method']})")
            print("\n".join(protocol_rows_markdown(comparison)))
