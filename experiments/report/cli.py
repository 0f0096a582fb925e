"""`transcend report RUN_DIR... --out DIR`: did the model play better than the experts it learned from?

Writes report.md, summary.json (the same figures as data) and PNG plots: rating vs temperature with
95% bands and the reference line (the paper's main figure), margin vs model size (when the runs
differ in size) and the loss curves.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

from experiments.report import plots as report_plots
from experiments.report.load import load_run
from experiments.report.summary import summarize_run


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="transcend report", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Transcendence report over one or more run directories (each with config.json, "
                    "metrics.jsonl and eval/<step>/ratings.json). A run transcends at a temperature when the lower "
                    "end of its 95% rating interval is above the cutoff (or the best expert's rating).")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--out", required=True, help="output directory for report.md, summary.json and the plots")
    p.add_argument("--step", type=int, default=None, help="evaluation step to plot (default: each run's latest)")
    return p.parse_args(argv)


def _ci(r: dict) -> str:
    lo, hi = r["elo_ci95"]
    return f"[{'-inf' if lo is None else f'{lo:.0f}'}, {'inf' if hi is None else f'{hi:.0f}'}]"


def _num(x, fmt: str = ".0f") -> str:
    return "-" if x is None else format(x, fmt)


def render_markdown(runs: list[dict], figures: list[str]) -> str:
    lines = ["# Transcendence report", ""]
    lines += ["## Verdict", "",
              "A run transcends at a temperature when the lower end of its 95% rating interval lies above the "
              "reference: the training cutoff, or (without a cutoff) the best expert's measured rating.", ""]
    lines += [f"- {run['verdict']}" for run in runs]
    lines += ["", "## Runs", "",
              "| run | parameters | layers x d_model | cutoff | trained steps | final loss | final val loss | "
              "eval step | reference |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        m = run["model"]
        ref = "-" if run["reference_rating"] is None else f"{run['reference_rating']:.0f} ({run['reference_kind']})"
        lines.append(f"| {run['name']} | {run['params']:,} | {m['n_layer']} x {m['d_model']} | {_num(run['cutoff'])} | "
                     f"{_num(run['trained_steps'])} | {_num(run['final_loss'], '.4f')} | "
                     f"{_num(run['final_val_loss'], '.4f')} | {_num(run['eval_step'])} | {ref} |")
    lines += ["", "## Ratings", "",
              "Every evaluated step and temperature. Elo is the Bradley-Terry maximum-likelihood rating against the "
              "calibrated opponents; the interval is a 95% bootstrap over games (one-sided when a run won or lost "
              "every game).", "",
              "| run | step | T | mode | games | W / D / L | score | Elo | 95% interval | margin | transcended |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        for step, rows in run["results_by_step"].items():
            for r in sorted(rows, key=lambda r: r["temperature"]):
                wdl = f"{_num(r['wins'])} / {_num(r['draws'])} / {_num(r['losses'])}"
                lines.append(f"| {run['name']} | {step} | {r['temperature']:g} | {r['mode']} | {r['games']} | {wdl} | "
                             f"{_num(r['score'], '.3f')} | {r['elo']:.0f} | {_ci(r)} | {r['margin']:+.0f} | "
                             f"{'yes' if r['transcended'] else 'no'} |")
    for run in runs:
        lines += _population_markdown(run)
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures] + [""]
    return "\n".join(lines)


def _population_markdown(run: dict) -> list[str]:
    pop = run["population"]
    if pop is None:
        return []
    held = ", ".join(f"{a['name']} at {a['rating']:.0f}" for a in pop["anchors"])
    lines = ["", f"## Experts behind {run['name']} ({pop['kind']} synthetic population)", "",
             f"From `{pop['path']}`. Ratings are Bradley-Terry fits on the generated games with the anchors "
             f"{held} held fixed ({pop['anchors'][0]['source']}), so they share the evaluation's scale.", "",
             "| expert | engine | bias | epsilon | Elo | 95% interval | games | score |",
             "|---|---|---|---|---|---|---|---|"]
    for e in sorted(pop["experts"], key=lambda e: e["rating"]):
        best = " (best)" if e["name"] == pop["best_expert"]["name"] else ""
        lines.append(f"| {e['name']}{best} | {e['engine']} | {e['bias']} | {e['epsilon']:g} | {e['rating']:.0f} | "
                     f"{_ci({'elo_ci95': e['rating_ci95']})} | {e['games']} | {_num(e['score'], '.3f')} |")
    return lines


def write_report(run_dirs: list[str], out: str | pathlib.Path, step: int | None = None) -> dict:
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):  # same basename in different parents: disambiguate by path
        for r in runs:
            r.name = str(r.path)
    summaries = [summarize_run(r, step) for r in runs]
    figures = []
    if any(s["results"] for s in summaries):
        report_plots.rating_vs_temperature(summaries, out / "rating_vs_temperature.png")
        figures.append("rating_vs_temperature.png")
    if len({s["params"] for s in summaries if s["results"]}) > 1:
        report_plots.margin_vs_size([s for s in summaries if s["results"]], out / "margin_vs_size.png")
        figures.append("margin_vs_size.png")
    if any(r.train or r.val for r in runs):
        report_plots.loss_curves(runs, out / "loss_curves.png")
        figures.append("loss_curves.png")
    summary = {"runs": summaries, "figures": figures}
    _write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    _write_atomic(out / "report.md", render_markdown(summaries, figures))
    return summary


def _write_atomic(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        summary = write_report(args.runs, args.out, args.step)
    except (FileNotFoundError, ValueError) as err:
        print(f"transcend report: error: {err}", file=sys.stderr)
        return 2
    for run in summary["runs"]:
        print(run["verdict"])
    print(f"report: wrote {args.out}/report.md, summary.json and {', '.join(summary['figures']) or 'no figures'}")
    return 0
