"""The analyses' figures (matplotlib, Agg backend: no display needed), drawn from their JSON summaries."""
from __future__ import annotations

import io
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import safeio  # noqa: E402

DPI = 120


def advantage_figure(summary: dict, path: pathlib.Path) -> None:
    """Left: each temperature's mean gain in expected score over T = 1 (95% bootstrap interval). Middle: the
    per-position gains. Right: the share of the net gain delivered by the best x% of positions."""
    base = str(summary["baseline_temperature"])
    others = [r for r in summary["results"] if r["temperature"] != summary["baseline_temperature"]]
    fig, (ax_mean, ax_hist, ax_share) = plt.subplots(1, 3, figsize=(15, 4.5))
    labels = [f"T={r['temperature']:g}" for r in others]
    deltas = np.array([100 * r["delta_win_prob"] for r in others])
    err = np.array([[100 * (r["delta_win_prob"] - r["delta_win_prob_ci95"][0]) for r in others],
                    [100 * (r["delta_win_prob_ci95"][1] - r["delta_win_prob"]) for r in others]])
    ax_mean.bar(labels, deltas, yerr=err, capsize=6, color="tab:blue")
    ax_mean.axhline(0, color="black", lw=0.8)
    ax_mean.set_ylabel(f"mean gain in expected score over T={base} (%)")
    ax_mean.set_title(f"{len(summary['per_position'])} held-out positions")
    for r in others:
        t = str(r["temperature"])
        gains = np.array([100 * (p["win_prob"][t] - p["win_prob"][base]) for p in summary["per_position"]])
        ax_hist.hist(gains, bins=40, histtype="step", lw=1.5, label=f"T={r['temperature']:g}")
        best_first = np.sort(gains)[::-1]
        net = gains.sum()
        if net > 0:
            share = np.cumsum(best_first) / net
            ax_share.plot(100 * np.arange(1, len(gains) + 1) / len(gains), 100 * share, label=f"T={r['temperature']:g}")
    ax_hist.set_yscale("log")  # the tails (the few positions with large gains) stay visible
    ax_hist.set_ylim(bottom=0.5)
    ax_hist.set_xlabel(f"per-position gain over T={base} (% expected score)")
    ax_hist.set_ylabel("positions")
    ax_hist.legend()
    ax_share.axhline(100, color="grey", lw=0.8, ls="--")
    ax_share.set_xlabel("best positions (% of all, largest gain first)")
    ax_share.set_ylabel("share of the net gain (%)")
    if ax_share.get_lines()[1:]:
        ax_share.legend()
    else:
        ax_share.text(0.5, 0.5, "no temperature gains over the baseline", transform=ax_share.transAxes, ha="center")
    fig.suptitle(f"Where the low-temperature gain comes from: {summary['model']} (Stockfish {summary['nodes']} nodes)")
    _save(fig, path)


def diversity_figure(summary: dict, path: pathlib.Path) -> None:
    """Left: mean normalized entropy per cutoff, both normalizations, with the paper's means. Right: per state."""
    rows = summary["cutoffs"]
    fig, (ax_mean, ax_hist) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = np.arange(len(rows))
    names = [str(r["cutoff"]) if r["cutoff"] is not None else "all" for r in rows]
    observed = [r["mean_normalized_entropy"] or 0.0 for r in rows]
    legal = [r["mean_normalized_entropy_by_legal"] or 0.0 for r in rows]
    ax_mean.bar(x - 0.2, observed, 0.4, label="/ log2(distinct observed moves) (paper)")
    ax_mean.bar(x + 0.2, legal, 0.4, label="/ log2(legal moves)")
    paper = [(i, r["paper_mean_normalized_entropy"]) for i, r in enumerate(rows) if r["paper_mean_normalized_entropy"]]
    if paper:
        ax_mean.plot([i - 0.2 for i, _ in paper], [v for _, v in paper], "k_", ms=20, mew=2, label="paper's mean")
    ax_mean.set_xticks(x, [f"{n}\n({r['common_states']} states)" for n, r in zip(names, rows)])
    ax_mean.set_xlabel("rating cutoff")
    ax_mean.set_ylabel("mean normalized entropy")
    ax_mean.set_ylim(0, 1)
    ax_mean.legend(fontsize=8)
    for name, r in zip(names, rows):
        values = [s["normalized"] for s in r["states"]]
        if values:
            ax_hist.hist(values, bins=20, range=(0, 1), histtype="step", lw=1.5, label=name)
    ax_hist.set_xlabel("normalized entropy of a state's moves (paper's)")
    ax_hist.set_ylabel("states")
    ax_hist.legend(title="cutoff")
    fig.suptitle(f"Action diversity over states at plies <= {summary['max_ply']} seen more than "
                 f"{summary['min_visits']} times")
    _save(fig, path)


def matching_figure(summary: dict, path: pathlib.Path) -> None:
    """Top-1 agreement with the human move per rating band, with 95% Wilson intervals and move counts."""
    bands = [b for b in summary["bands"] if b["moves"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(bands) + 2), 4.5))
    x = [b["band"][0] for b in bands]
    acc = np.array([100 * b["accuracy"] for b in bands])
    err = np.array([[100 * b["accuracy"] - 100 * b["ci95"][0] for b in bands],
                    [100 * b["ci95"][1] - 100 * b["accuracy"] for b in bands]])
    ax.errorbar(x, acc, yerr=err, fmt="o", capsize=4)  # no line: bands with no moves between them are unknown
    for xi, yi, b in zip(x, acc, bands):
        ax.annotate(str(b["moves"]), (xi, yi), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=7)
    ax.set_xlabel("mover's rating band (lower edge; labels: moves)")
    ax.set_ylabel("model arg-max = human move (%)")
    ax.set_title(f"Move-matching: {summary['model']}, overall {100 * (summary['overall']['accuracy'] or 0):.1f}% "
                 f"of {summary['overall']['moves']} moves")
    _save(fig, path)


def _save(fig: plt.Figure, path: pathlib.Path) -> None:
    """Written whole or not at all (an interrupted run never leaves half a PNG)."""
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, dpi=DPI, format="png")
    plt.close(fig)
    safeio.write_bytes_atomic(path, png.getvalue())
