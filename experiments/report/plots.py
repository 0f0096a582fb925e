"""The report's figures (matplotlib, Agg backend: no display needed).

Only what was rated is drawn: a temperature without an Elo (no game against a rated opponent) has no
point, and a run without a reference rating has no reference line.
"""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.report.load import RunData  # noqa: E402

DPI = 120
RATING_VS_TEMPERATURE = "rating_vs_temperature.png"
MARGIN_VS_SIZE = "margin_vs_size.png"
LOSS_CURVES = "loss_curves.png"


def draw_figures(summaries: list[dict], runs: list[RunData], out: pathlib.Path) -> list[str]:
    """Every figure the data allows, written under `out`; returns their file names in report order."""
    figures = []
    rated = [s for s in summaries if _rated(s["results"])]
    if rated:
        rating_vs_temperature(rated, out / RATING_VS_TEMPERATURE)
        figures.append(RATING_VS_TEMPERATURE)
    with_margin = [s for s in summaries if any(r["margin"] is not None for r in s["results"])]
    if len({s["params"] for s in with_margin}) > 1:
        margin_vs_size(with_margin, out / MARGIN_VS_SIZE)
        figures.append(MARGIN_VS_SIZE)
    if any(r.train or r.val for r in runs):
        loss_curves(runs, out / LOSS_CURVES)
        figures.append(LOSS_CURVES)
    return figures


def _rated(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["elo"] is not None]


def _reference_label(run: dict) -> str:
    kind = "cutoff" if run["reference_kind"] == "cutoff" else "best expert"
    return f"{run['name']}: {kind} {run['reference_rating']:.0f}"


def rating_vs_temperature(runs: list[dict], path: pathlib.Path) -> None:
    """The paper's main figure: rating against sampling temperature, 95% band, reference line(s)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs = [r for r in runs if _rated(r["results"])]
    references = {(r["reference_rating"], r["reference_kind"]) for r in runs}
    shared_reference = len(references) == 1 and runs[0]["reference_rating"] is not None
    if shared_reference:
        label = _reference_label(runs[0]).split(": ", 1)[1]
        ax.axhline(runs[0]["reference_rating"], color="black", linestyle="--", linewidth=1, label=label)
    for i, run in enumerate(runs):
        color = f"C{i}"
        rows = _rated(run["results"])
        temps = [r["temperature"] for r in rows]
        elo = [r["elo"] for r in rows]
        lo = [_or(r["elo_ci95"][0], r["elo"]) for r in rows]
        hi = [_or(r["elo_ci95"][1], r["elo"]) for r in rows]
        ax.plot(temps, elo, "o-", color=color, label=f"{run['name']} (step {run['eval_step']})")
        ax.fill_between(temps, lo, hi, color=color, alpha=0.2, linewidth=0)
        if not shared_reference and run["reference_rating"] is not None:
            ax.axhline(run["reference_rating"], color=color, linestyle="--", linewidth=1, label=_reference_label(run))
    ax.set_xscale("log")
    ax.set_xlabel("sampling temperature")
    ax.set_ylabel("Elo (95% bootstrap band)")
    ax.set_title("Rating vs temperature: above the dashed line = transcendence")
    _save(fig, ax, path)


def margin_vs_size(runs: list[dict], path: pathlib.Path) -> None:
    """Transcendence margin (Elo - reference) against parameter count, one line per temperature."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows_by_run = [(run["params"], [r for r in run["results"] if r["margin"] is not None]) for run in runs]
    temps = sorted({r["temperature"] for _, rows in rows_by_run for r in rows})
    for j, t in enumerate(temps):
        # Sorted by size only: runs of one size (e.g. different cutoffs) are equal keys, never compared further.
        pts = sorted(((params, r) for params, rows in rows_by_run for r in rows if r["temperature"] == t),
                     key=lambda pt: pt[0])
        xs = [p for p, _ in pts]
        ys = [r["margin"] for _, r in pts]
        # A one-sided interval draws no bar on its open side.
        err_lo = [max(0.0, r["margin"] - _or(r["margin_ci95"][0], r["margin"])) for _, r in pts]
        err_hi = [max(0.0, _or(r["margin_ci95"][1], r["margin"]) - r["margin"]) for _, r in pts]
        ax.errorbar(xs, ys, yerr=[err_lo, err_hi], fmt="o-", color=f"C{j}", capsize=3, label=f"T={t:g}")
    ax.axhline(0.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("margin over reference (Elo)")
    ax.set_title("Transcendence margin vs model size")
    _save(fig, ax, path)


def _or(x: float | None, default: float) -> float:
    return default if x is None else x


def _save(fig: plt.Figure, ax: plt.Axes, path: pathlib.Path) -> None:
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def loss_curves(runs: list[RunData], path: pathlib.Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, run in enumerate(runs):
        if run.train:
            ax.plot([m["step"] for m in run.train], [m["loss"] for m in run.train], color=f"C{i}",
                    label=f"{run.name} train")
        if run.val:
            ax.plot([m["step"] for m in run.val], [m["val_loss"] for m in run.val], "s--", color=f"C{i}",
                    label=f"{run.name} validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per character)")
    ax.set_title("Training and validation loss")
    _save(fig, ax, path)
