"""write_report: load the runs -> summarize them -> draw the figures -> write summary.json and report.md."""
from __future__ import annotations

import logging
import pathlib

from experiments.report.arms import compare_arms
from experiments.report.load import load_run
from experiments.report.markdown import render_markdown
from experiments.report.plots import draw_figures
from experiments.report.protocols import compare_protocols, protocol_labels
from experiments.report.summary import summarize_run
from safeio import write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)


def write_report(run_dirs: list[str], out: str | pathlib.Path, step: int | None = None, *,
                 compare: bool = False, n_boot: int | None = None, arms: dict[str, str] | None = None) -> dict:
    """Writes OUT/report.md, OUT/summary.json and the figures; returns the summary (summary.json's content).

    `arms` (name -> run directory) are further runs, each named by its arm, put side by side first
    (experiments.report.arms; summary.json's "arms").

    Each run's "protocols" is the protocol comparison of its reported step (experiments.report.protocols) when
    that step holds results of more than one protocol, or `compare` asks for it; else None. `n_boot`: the
    comparison's resamples (default: ratings.json's)."""
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [load_run(d) for d in run_dirs]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):  # same basename in different parents: disambiguate by path
        for r in runs:
            r.name = str(r.path)
    arms = arms or {}
    for name, path in arms.items():
        arm = load_run(path)
        arm.name = name
        runs.append(arm)
    summaries = [summarize_run(r, step) for r in runs]
    for run, s in zip(runs, summaries):
        evaluated = s["eval_step"] is not None and s["eval_step"] in run.evals
        several = evaluated and len(protocol_labels(run.evals[s["eval_step"]])) > 1
        s["protocols"] = compare_protocols(run, s["eval_step"], n_boot) if evaluated and (compare or several) else None
    figures = draw_figures(summaries, runs, out)
    summary: dict = {"runs": summaries, "figures": figures}
    if arms:
        summary["arms"] = compare_arms(dict(zip(arms, summaries[-len(arms):])))
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(out / "report.md", render_markdown(summaries, figures, summary.get("arms")))
    log.info("wrote %s/report.md, summary.json and %d figure(s)", out, len(figures))
    return summary
