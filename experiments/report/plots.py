"""The report's figures (matplotlib, Agg backend: no display needed).

Only what was rated is drawn: a temperature without an Elo (no game against a rated opponent) has no
point, and a run without a reference rating has no reference line. The temperature axis is logarithmic;
the arg-max (T = 0) gets its own tick, "arg-max (T=0)", one decade left of the smallest positive temperature.
"""
from __future__ import annotations

import pathlib
from collections.abc import Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from experiments.report.completeness import MAYBE_PARTIAL, PARTIAL  # noqa: E402
from experiments.report.load import RunData  # noqa: E402

DPI = 120
ARGMAX_LABEL = "arg-max (T=0)"
ARGMAX_OFFSET = 10.0  # T = 0 sits this factor left of the smallest positive temperature
ARGMAX_DODGE = 1.25  # each further run's arg-max point sits this factor right of the previous run's
HATCHES = ("", "//", "\\\\", "..", "xx", "--")  # bands that overlap stay apart in print and for colour-blind readers
RATING_VS_TEMPERATURE = "rating_vs_temperature.png"
MARGIN_VS_SIZE = "margin_vs_size.png"
LOSS_CURVES = "loss_curves.png"
PROTOCOL_DODGE = 0.12  # the protocols of one temperature side by side, this far apart on the categorical axis
BAND_HALF_WIDTH = 0.04
ONE_SIDED_ELO = 150.0  # the length of the arrow that marks a one-sided bound


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
    for i, s in enumerate(summaries):
        comparison = s.get("protocols")
        if comparison is not None and len(comparison["labels"]) > 1:
            name = protocols_figure_name(i)
            _write(protocols_figure(s["name"], comparison), out / name)
            figures.append(name)
    return figures


def protocols_figure_name(index: int) -> str:
    """The protocol figure of the report's run number `index` (the first run's is protocols.png)."""
    return "protocols.png" if index == 0 else f"protocols_{index}.png"


def _rated(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["elo"] is not None]


def _reference_label(run: dict) -> str:
    kind = "cutoff" if run["reference_kind"] == "cutoff" else "best expert"
    return f"{run['name']}: {kind} {run['reference_rating']:.0f}"


def temperature_positions(temperatures: Iterable[float]) -> dict[float, float]:
    """Where each temperature sits on the log axis: a positive T at itself; T = 0 (the arg-max), which a log
    axis cannot show, one decade left of the smallest positive T (or at 1 when it is the only one)."""
    temps = set(temperatures)
    positive = sorted(t for t in temps if t > 0)
    positions = {t: t for t in positive}
    if any(t <= 0 for t in temps):
        positions[0.0] = positive[0] / ARGMAX_OFFSET if positive else 1.0
    return positions


def _point_note(r: dict) -> str:
    """The games behind a point, and whether its evaluation is partial."""
    if r["status"] == PARTIAL:
        return f"n={r['games']} (partial: {r['recorded_games']} of {r['planned_games']})"
    return f"n={r['games']}" + (" (partial?)" if r["status"] == MAYBE_PARTIAL else "")


def rating_vs_temperature_figure(runs: list[dict]) -> Figure:
    """The paper's main figure: rating against sampling temperature, with per run a colour, a 95% band and a
    legend entry each; the reference line(s); dotted lines at the ratings of the opponents played; the number
    of rated games at each point; the arg-max (T = 0) at its own tick left of the positive temperatures."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    runs = [r for r in runs if _rated(r["results"])]
    positions = temperature_positions(r["temperature"] for run in runs for r in _rated(run["results"]))
    _reference_lines(ax, runs)
    _opponent_lines(ax, runs)
    for i, run in enumerate(runs):
        _run_curve(ax, run, positions, i)
    _temperature_ticks(ax, positions)
    ax.set_ylabel("Elo (95% bootstrap interval)")
    ax.set_title("Rating vs temperature: above the dashed line = transcendence")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _reference_lines(ax: Axes, runs: list[dict]) -> None:
    """One black dashed line when every run shares its reference, else a dashed line in each run's colour."""
    references = {(r["reference_rating"], r["reference_kind"]) for r in runs}
    if len(references) == 1 and runs[0]["reference_rating"] is not None:
        label = _reference_label(runs[0]).split(": ", 1)[1]
        ax.axhline(runs[0]["reference_rating"], color="black", linestyle="--", linewidth=1, label=label)
        return
    for i, run in enumerate(runs):
        if run["reference_rating"] is not None:
            ax.axhline(run["reference_rating"], color=f"C{i}", linestyle="--", linewidth=1, label=_reference_label(run))


def _opponent_lines(ax: Axes, runs: list[dict]) -> None:
    """A grey dotted line at each rated opponent's anchor rating, labelled with its name, e.g. "random 400"."""
    opponents = sorted({(rating, name) for run in runs for name, rating in run["opponent_ratings"].items()
                        if rating is not None})
    for rating, name in opponents:
        ax.axhline(rating, color="0.45", linestyle=":", linewidth=1, label=f"opponent {name} ({rating:.0f})")
        ax.text(0.995, rating, f"{name} {rating:.0f}", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                fontsize=7, color="0.35")


def _run_curve(ax: Axes, run: dict, positions: dict[float, float], index: int) -> None:
    """Run number `index`'s ratings in its own colour: a line with its band over the positive temperatures, the
    arg-max as its own point with an error bar (runs side by side), and the number of games beside each point
    (above the point for even runs, below for odd ones, so two runs' notes do not overlap)."""
    color, hatch = f"C{index}", HATCHES[index % len(HATCHES)]
    rows = _rated(run["results"])
    curve = [r for r in rows if r["temperature"] > 0]
    label = f"{run['name']} (step {run['eval_step']})"
    if curve:
        xs = [positions[r["temperature"]] for r in curve]
        ax.plot(xs, [r["elo"] for r in curve], "o-", color=color, label=label)
        ax.fill_between(xs, [_or(r["elo_ci95"][0], r["elo"]) for r in curve],
                        [_or(r["elo_ci95"][1], r["elo"]) for r in curve],
                        facecolor=color, edgecolor=color, alpha=0.2, hatch=hatch, linewidth=0,
                        label=f"{run['name']}: 95% interval")
    for r in rows:
        if r["temperature"] <= 0:
            lo, hi = _or(r["elo_ci95"][0], r["elo"]), _or(r["elo_ci95"][1], r["elo"])
            ax.errorbar([positions[0.0] * ARGMAX_DODGE ** index], [r["elo"]], yerr=[[r["elo"] - lo], [hi - r["elo"]]],
                        fmt="s", color=color, capsize=4, label=None if curve else f"{label}: arg-max, 95% interval")
    for r in rows:
        x = positions[r["temperature"]] * (ARGMAX_DODGE ** index if r["temperature"] <= 0 else 1.0)
        ax.annotate(_point_note(r), (x, r["elo"]), textcoords="offset points", xytext=(4, 5 if index % 2 == 0 else -11),
                    fontsize=7, color=color)


def _temperature_ticks(ax: Axes, positions: dict[float, float]) -> None:
    """A log axis with a tick at each evaluated temperature; T = 0 labelled as the arg-max, set apart by a line."""
    ax.set_xscale("log")
    ticks = sorted(positions.items(), key=lambda kv: kv[1])
    ax.set_xticks([x for _, x in ticks], [ARGMAX_LABEL if t <= 0 else f"{t:g}" for t, _ in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    positive = [x for t, x in ticks if t > 0]
    if 0.0 in positions and positive:
        ax.axvline((positions[0.0] * positive[0]) ** 0.5, color="0.7", linewidth=0.8)
    ax.set_xlabel("sampling temperature (log scale)")


def rating_vs_temperature(runs: list[dict], path: pathlib.Path) -> None:
    _write(rating_vs_temperature_figure(runs), path)


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


def _write(fig: Figure, path: pathlib.Path) -> None:
    fig.savefig(path, dpi=DPI)


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


def _interval_marks(ax: Axes, x: float, value: float, lo: float | None, hi: float | None, color: str,
                    label: str | None) -> None:
    """A point with its 95% interval as a band and an error bar; an open end (a one-sided bound) is a dashed
    line ONE_SIDED_ELO long that ends in an arrow head pointing the open way."""
    ax.fill_between([x - BAND_HALF_WIDTH, x + BAND_HALF_WIDTH], [_or(lo, value)] * 2, [_or(hi, value)] * 2,
                    color=color, alpha=0.25, linewidth=0)
    ax.errorbar([x], [value], yerr=[[value - _or(lo, value)], [_or(hi, value) - value]], fmt="o", color=color,
                capsize=4, label=label)
    for open_end, sign, head in ((lo is None, -1, "v"), (hi is None, 1, "^")):
        if open_end:
            tip = value + sign * ONE_SIDED_ELO
            ax.plot([x, x], [value, tip], linestyle="--", color=color)
            ax.plot([x], [tip], marker=head, color=color)


def protocols_figure(run_name: str, comparison: dict) -> Figure:
    """Elo by protocol at each temperature with 95% bands (top), and each protocol's difference from `fixed` with
    the difference's 95% interval (bottom): how far each of the paper's items moved the rating. A one-sided
    rating or difference (a protocol that won or lost every game) is its bound with an arrow."""
    fig = Figure(figsize=(8, 7))
    top, bottom = fig.subplots(2, 1, sharex=True)
    names = sorted({r["name"] for t in comparison["tables"] for r in t["rows"]},
                   key=lambda n: (n != "fixed", n))
    offsets = {n: (k - (len(names) - 1) / 2) * PROTOCOL_DODGE for k, n in enumerate(names)}
    labelled: set[tuple[int, str]] = set()
    for i, table in enumerate(comparison["tables"]):
        for r in table["rows"]:
            color, x = f"C{names.index(r['name'])}", i + offsets[r["name"]]
            if r["elo"] is not None:
                first = (0, r["name"]) not in labelled
                labelled.add((0, r["name"]))
                legend = f"{r['name']} (n={r['games']})" if first else None
                _interval_marks(top, x, r["elo"], r["elo_ci95"][0], r["elo_ci95"][1], color, legend)
            lo, hi = r["diff_ci95"]
            value = r["diff"] if r["diff"] is not None else lo if lo is not None else hi  # a bound: its one end
            if value is not None:
                first = (1, r["name"]) not in labelled
                labelled.add((1, r["name"]))
                _interval_marks(bottom, x, value, lo, hi, color, r["name"] if first else None)
    bottom.axhline(0.0, color="black", linewidth=1)
    bottom.set_xlim(-0.5, len(comparison["tables"]) - 0.5)
    bottom.set_xticks(range(len(comparison["tables"])), [f"T={t['temperature']:g}" for t in comparison["tables"]])
    top.set_ylabel("Elo (95% interval)")
    bottom.set_ylabel("difference from fixed (Elo, 95%)")
    top.set_title(f"{run_name}, step {comparison['step']}: the rating under each evaluation protocol")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
