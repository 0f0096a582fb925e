"""report.md from the run summaries (experiments.report.summary): verdicts, runs, rating fits, every rating,
the experts behind synthetic data, and the figures. Whatever could not be rated or judged shows as "-".
"""
from __future__ import annotations

from experiments.report.arms import describe_prediction
from experiments.report.completeness import MAYBE_PARTIAL, PARTIAL
from experiments.report.fits import DIFFERENT_FITS
from experiments.report.protocols import INTERVAL_ENDS, JOINT_BOOTSTRAP, QUADRATURE

VERDICT_RULE = ("A run transcends at a temperature when the lower end of its 95% rating interval lies above the "
                "reference: the training cutoff, or (without a cutoff) the best expert's measured rating.")


def _num(x: float | None, fmt: str = ".0f") -> str:
    return "-" if x is None else format(x, fmt)


def _ci(lo_hi: list[float | None], estimate: float | None) -> str:
    """[lo, hi]; an open end of a one-sided interval is -inf / inf; no estimate at all is "-"."""
    if estimate is None:
        return "-"
    lo, hi = lo_hi
    return f"[{'-inf' if lo is None else f'{lo:.0f}'}, {'inf' if hi is None else f'{hi:.0f}'}]"


def _mode(r: dict) -> str:
    """The sampling mode, and the evaluation protocol when it is not `fixed` (e.g. "char (paper)")."""
    return r["mode"] if r.get("protocol", "fixed") == "fixed" else f"{r['mode']} ({r['protocol']})"


def _yes_no(x: bool | None) -> str:
    return "-" if x is None else "yes" if x else "no"


def render_markdown(runs: list[dict], figures: list[str], arms: dict | None = None) -> str:
    """The report; `arms` (experiments.report.arms.compare_arms) puts the arms side by side first."""
    lines = ["# Transcendence report", ""]
    lines += arms_markdown(arms) if arms is not None else []
    lines += _verdict_markdown(runs)
    lines += _runs_markdown(runs)
    lines += _fits_markdown(runs)
    lines += _ratings_markdown(runs)
    lines += _opponents_markdown(runs)
    for run in runs:
        lines += protocols_markdown(run)
    for run in runs:
        lines += _population_markdown(run)
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures] + [""]
    return "\n".join(lines)


def _elo_interval(x: dict | None) -> str:
    """An arm's rating as "Elo [lo, hi]"; "-" when not rated."""
    return "-" if x is None or x["elo"] is None else f"{x['elo']:.0f} {_ci([x['lo'], x['hi']], x['elo'])}"


def arms_markdown(comparison: dict) -> list[str]:
    """The arms side by side: rating vs temperature per arm, each arm's best expert, its verdict, the prediction."""
    arms = comparison["arms"]
    names = list(arms)
    lines = ["## Arms side by side", "", describe_prediction(comparison), "",
             "Elo [95% interval] of each arm's model per sampling temperature; \"best expert\" is the arm's reference "
             "(its population's best expert, for the clones the clone itself), rated by the same fit on the same "
             "anchors. \"clears\" marks a lower bound above the best expert's upper bound as well.", "",
             "| T | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in comparison["temperatures"]:
        cells = []
        for name in names:
            row = next((r for r in arms[name]["temperatures"] if r["temperature"] == t), None)
            mark = "" if row is None else " **above**" if row["transcended"] else ""
            mark += " (clears)" if row is not None and row["clears_expert_interval"] else ""
            cells.append(_elo_interval(row) + mark)
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    experts = [f"{_elo_interval(a['best_expert'])} ({a['best_expert']['name']})" if a["best_expert"] else "-"
               for a in arms.values()]
    lines += ["| best expert | " + " | ".join(experts) + " |", ""]
    lines += [f"- {a['verdict']}" for a in arms.values()]
    return lines + [""]


def _verdict_markdown(runs: list[dict]) -> list[str]:
    lines = ["## Verdict", "", VERDICT_RULE, ""]
    lines += [f"- {run['verdict']}" for run in runs]
    warned = [run["name"] for run in runs if run["fit"]["comparable"] is False]
    if warned:
        lines += ["", f"> **WARNING: {DIFFERENT_FITS}** ({', '.join(warned)}): the model's Elo and its experts' "
                      "ratings come from different rating fits, so a margin between them means nothing. "
                      "See \"Rating fits\" below."]
    return lines


def _runs_markdown(runs: list[dict]) -> list[str]:
    lines = ["", "## Runs", "",
             "| run | parameters | layers x d_model | cutoff | trained steps | final loss | final val loss | "
             "eval step | reference |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        m = run["model"]
        ref = "-" if run["reference_rating"] is None else f"{run['reference_rating']:.0f} ({run['reference_kind']})"
        lines.append(f"| {run['name']} | {run['params']:,} | {m['n_layer']} x {m['d_model']} | {_num(run['cutoff'])} | "
                     f"{_num(run['trained_steps'])} | {_num(run['final_loss'], '.4f')} | "
                     f"{_num(run['final_val_loss'], '.4f')} | {_num(run['eval_step'])} | {ref} |")
    return lines


def _fits_markdown(runs: list[dict]) -> list[str]:
    lines = ["", "## Rating fits", "",
             "The fit behind each set of ratings (from the `fit` field of ratings.json and population.json). A model "
             "and the experts it learned from are comparable only when one fit, with the same prior and anchors, "
             "rated both.", "",
             "| run | model's ratings | experts' ratings | same fit |", "|---|---|---|---|"]
    for run in runs:
        fit = run["fit"]
        same = "-" if fit["experts_text"] is None else {True: "yes", False: f"**NO: {DIFFERENT_FITS}**",
                                                        None: "unknown (fit not recorded)"}[fit["comparable"]]
        lines.append(f"| {run['name']} | {fit['model_text']} | {fit['experts_text'] or '-'} | {same} |")
    notes = [f"- {run['name']}: {run['fit']['note']}" for run in runs if run["fit"]["note"]]
    return lines + ([""] + notes if notes else [])


def _ratings_markdown(runs: list[dict]) -> list[str]:
    lines = ["", "## Ratings", "",
             "Every evaluated step and temperature. Elo is the rating fit (see \"Rating fits\") against the "
             "calibrated opponents; the interval is a 95% bootstrap over games (one-sided when a run won or lost "
             "every game). Games against players missing from the anchor table are counted apart (\"unrated\") "
             "and rate nothing; \"-\" marks what could not be rated or judged. \"partial\" marks a temperature with "
             "fewer games recorded than planned; \"partial?\" (for files that do not record the plan) one with fewer "
             "games than another temperature of the same step.", "",
             "| run | step | T | mode | games | W / D / L | score | Elo | 95% interval | margin | transcended |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        for step, rows in run["results_by_step"].items():
            for r in sorted(rows, key=lambda r: r["temperature"]):
                games = _games_cell(r)
                wdl = f"{_num(r['wins'])} / {_num(r['draws'])} / {_num(r['losses'])}"
                lines.append(f"| {run['name']} | {step} | {r['temperature']:g} | {_mode(r)} | {games} | {wdl} | "
                             f"{_num(r['score'], '.3f')} | {_num(r['elo'])} | {_ci(r['elo_ci95'], r['elo'])} | "
                             f"{_num(r['margin'], '+.0f')} | {_yes_no(r['transcended'])} |")
    return lines


def _games_cell(r: dict) -> str:
    games = f"{r['games']}" + (f" (+{r['unrated_games']} unrated)" if r["unrated_games"] else "")
    if r["status"] == PARTIAL:
        return f"{games}, partial: {r['recorded_games']} of {r['planned_games']} planned"
    return games + (", partial?" if r["status"] == MAYBE_PARTIAL else "")


def _opponents_markdown(runs: list[dict]) -> list[str]:
    lines = ["", "## Games per opponent", "",
             "The model's wins, draws and losses against each opponent at each run's reported step (the step in the "
             "figure), from the `opponents` of ratings.json. An opponent's Elo is its anchor rating; \"-\": not in "
             "the anchor table, so its games rate nothing. \"partial\" / \"partial?\" as in \"Ratings\".", "",
             "| run | step | T | mode | opponent | opponent Elo | games | W / D / L | score | adjudicated | "
             "illegal attempts | evaluation |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    listed = 0
    for run in runs:
        for r in run["results"]:
            for o in r["opponents"]:
                listed += 1
                lines.append(f"| {run['name']} | {run['eval_step']} | {r['temperature']:g} | {_mode(r)} | {o['name']} | "
                             f"{_num(o['rating'])} | {o['games']} | {o['wins']} / {o['draws']} / {o['losses']} | "
                             f"{_num(o['score'], '.3f')} | {_num(o['adjudicated'], 'd')} | "
                             f"{_num(o['illegal_attempts'], 'd')} | {o['status']} |")
    if not listed:
        lines += ["", "No result records its opponents (ratings.json written before per-opponent records)."]
    return lines


def _population_markdown(run: dict) -> list[str]:
    pop = run["population"]
    if pop is None:
        return []
    held = ", ".join(f"{a['name']} at {a['rating']:.0f}" for a in pop["anchors"])
    lines = ["", f"## Experts behind {run['name']} ({pop['kind']} synthetic population)", "",
             f"From `{pop['path']}`. Ratings are fits on the generated games with the anchors {held} held fixed "
             f"({pop['anchors'][0]['source']}), so they share the evaluation's scale. Fit: {run['fit']['experts_text']}.",
             "", "| expert | engine | bias | epsilon | Elo | 95% interval | games | score |",
             "|---|---|---|---|---|---|---|---|"]
    rated_first = sorted(pop["experts"], key=lambda e: (e["rating"] is None, e["rating"] or 0.0))
    for e in rated_first:
        best = " (best)" if e["name"] == pop["best_expert"]["name"] else ""
        lines.append(f"| {e['name']}{best} | {e['engine']} | {e['bias']} | {e['epsilon']:g} | {_num(e['rating'])} | "
                     f"{_ci(e['rating_ci95'] or [None, None], e['rating'])} | {e['games']} | {_num(e['score'], '.3f')} |")
    return lines


PROTOCOLS_TEXT = (
    "The same checkpoint evaluated under several protocols (`transcend eval --protocol paper|fixed`, or one of the "
    "paper's items at a time): per temperature, each protocol's Elo with its 95% interval (from ratings.json) and "
    "its difference from the `fixed` row with a 95% interval of the difference, so each row shows how far its "
    "switches moved the rating. \"switches\" are those it sets otherwise than the `fixed` row; a protocol one "
    "switch away is named by it (\"only --cap-result draw\"). Under `--movetime` the engines search by time yet keep the "
    "anchor ratings measured at their node limits, as the paper's evaluation did; that is part of what the row shows.")
DIFF_METHODS = {
    JOINT_BOOTSTRAP: "joint bootstrap: every resample draws each protocol's games anew, independently, and the ladder's "
                     "games once for all protocols, so the rungs' uncertainty, common to both ratings, cancels",
    QUADRATURE: "the two intervals' half-widths in quadrature, as if independent (no game records here): wider than a "
                "joint bootstrap, since the rungs' uncertainty is counted twice",
    INTERVAL_ENDS: "a one-sided rating (won or lost every game): the difference is bounded by the interval ends only",
}


def _diff_cell(r: dict) -> str:
    lo, hi = r["diff_ci95"]
    if r["diff"] is not None:
        return f"{r['diff']:+.0f}"
    if r["diff_method"] == INTERVAL_ENDS:
        return f"at most {hi:+.0f}" if lo is None and hi is not None else \
            f"at least {lo:+.0f}" if hi is None and lo is not None else "-"
    return "-"


def _diff_ci_cell(r: dict) -> str:
    lo, hi = r["diff_ci95"]
    if lo is None and hi is None:
        return "-"
    return f"[{'-inf' if lo is None else f'{lo:+.0f}'}, {'inf' if hi is None else f'{hi:+.0f}'}]"


def _elo_cell(r: dict) -> str:
    if r["elo"] is None:
        return "-"
    bound = {"upper": "at most ", "lower": "at least "}.get(r["elo_bound"] or "", "")
    outside = f" ({r['outside_ladder']} every rung: extrapolated)" if r.get("outside_ladder") else ""
    return f"{bound}{r['elo']:.0f}{outside}"


def _glicko_cell(r: dict) -> str:
    if r["glicko2"] is None:
        return "-"
    return f"{r['glicko2']:.0f} (RD {r['glicko2_rd']:.0f}, {r['glicko2_method'] or '-'})"


def protocol_rows_markdown(comparison: dict) -> list[str]:
    """The comparison's tables, one per temperature (also what `transcend report --compare-protocols` prints)."""
    lines = []
    for table in comparison["tables"]:
        lines += ["", f"T={table['temperature']:g}", "",
                  "| protocol | switches vs fixed | mode | games | W / D / L | score | Elo | 95% interval | "
                  "vs fixed | 95% interval of the difference | Glicko-2 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in table["rows"]:
            switches = "(baseline)" if r["baseline"] else ", ".join(f"`{s}`" for s in r["switches"]) or "none"
            wdl = f"{_num(r['wins'])} / {_num(r['draws'])} / {_num(r['losses'])}"
            lines.append(f"| {r['name']} | {switches} | {r['mode']} | {r['games']} | {wdl} | {_num(r['score'], '.3f')} | "
                         f"{_elo_cell(r)} | {_ci(r['elo_ci95'], r['elo'])} | {_diff_cell(r)} | {_diff_ci_cell(r)} | "
                         f"{_glicko_cell(r)} |")
        notes = [f"{r['name']}: {r['diff_note']}" for r in table["rows"] if r["diff_note"]]
        lines += [""] + [f"- {n}" for n in notes] if notes else []
    return lines


def protocols_markdown(run: dict) -> list[str]:
    comparison = run.get("protocols")
    if comparison is None:
        return []
    lines = ["", f"## Protocols side by side: {run['name']}, step {comparison['step']}", "", PROTOCOLS_TEXT]
    if len(comparison["labels"]) < 2:
        only = comparison["labels"][0] if comparison["labels"] else "none"
        return lines + ["", f"Step {comparison['step']} holds results of one protocol only ({only}): evaluate it again "
                            "with `transcend eval --protocol paper` (or single switches) to compare."]
    methods = sorted({r["diff_method"] for t in comparison["tables"] for r in t["rows"] if r["diff_method"]})
    lines += ["", f"Intervals of the differences: {comparison['method']}; used here:"]
    lines += [f"- {m}: {DIFF_METHODS[m]}." for m in methods]
    return lines + protocol_rows_markdown(comparison)
