"""The report's figures (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments.report.load import RunData  # noqa: E402

DPI = 120


def _reference_label(run: dict) -> str:
    kind = "cutoff" if run["reference_kind"] == "cutoff" else "best expert"
    return f"{run['name']}: {kind} {run['reference_rating']:.0f}"


def rating_vs_temperature(runs: list[dict], path: pathlib.Path) -> None:
    """The paper's main figure: rating against sampling temperature, 95% band, reference line(s)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs = [r for r in runs if r["results"]]
    shared_reference = len({(r["reference_rating"], r["reference_kind"]) for r in runs}) == 1
    if shared_reference:
        label = _reference_label(runs[0]).split(": ", 1)[1]
        ax.axhline(runs[0]["reference_rating"], color="black", linestyle="--", linewidth=1, label=label)
    for i, run in enumerate(runs):
        color = f"C{i}"
        rows = run["results"]
        temps = [r["temperature"] for r in rows]
        elo = [r["elo"] for r in rows]
        lo = [_or(r["elo_ci95"][0], r["elo"]) for r in rows]
        hi = [_or(r["elo_ci95"][1], r["elo"]) for r in rows]
        ax.plot(temps, elo, "o-", color=color, label=f"{run['name']} (step {run['eval_step']})")
        ax.fill_between(temps, lo, hi, color=color, alpha=0.2, linewidth=0)
        if not shared_reference:
            ax.axhline(run["reference_rating"], color=color, linestyle="--", linewidth=1, label=_reference_label(run))
    ax.set_xscale("log")
    ax.set_xlabel("sampling temperature")
    ax.set_ylabel("Elo (95% bootstrap band)")
    ax.set_title("Rating vs temperature: above the dashed line = transcendence")
    _save(fig, ax, path)


def margin_vs_size(runs: list[dict], path: pathlib.Path) -> None:
    """Transcendence margin (Elo - reference) against parameter count, one line per temperature."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    temps = sorted({r["temperature"] for run in runs for r in run["results"]})
    for j, t in enumerate(temps):
        pts = sorted((run["params"], r) for run in runs for r in run["results"] if r["temperature"] == t)
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
