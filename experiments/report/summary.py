"""The report's figures as data: per run and temperature, the rating, its interval and the verdict.

A run transcends at a temperature when the LOWER end of its 95% rating interval lies above the
reference: the training cutoff, or (no cutoff) the best expert's measured rating. A point estimate
above the line with an interval that reaches below it is reported as "not shown". What cannot be
rated (no game against a rated opponent) or judged (no reference rating) is None, and the verdict
says why in words.
"""
from __future__ import annotations

from experiments.report.completeness import COMPLETE, describe_incomplete, mark_completeness, recorded_games
from experiments.report.fits import DIFFERENT_FITS, compare_fits
from experiments.report.load import RunData

NOT_RATED = "not rated: no game against a rated opponent"
NO_REFERENCE = ("no reference rating (the run has no data.cutoff and its data's manifest gives no rating_max, "
                "the best player's rating)")


def _minus(x: float | None, reference: float | None) -> float | None:
    return None if x is None or reference is None else x - reference


def transcended(result: dict, reference: float | None) -> bool | None:
    """Whether the whole interval lies above the reference; None when there is no Elo or no reference."""
    if result.get("elo") is None or reference is None:
        return None
    lo = (result.get("elo_ci95") or [None, None])[0]
    if result.get("elo_bound") == "upper" or lo is None:
        return False
    return lo > reference


def _score(wins: int, draws: int, games: int) -> float | None:
    return None if not games else round((wins + 0.5 * draws) / games, 4)


def opponent_rows(opponents: dict[str, dict], anchors: dict[str, float]) -> list[dict]:
    """A result's record against each opponent, with the opponent's anchor rating (None: unrated), by name."""
    rows = []
    for name, o in sorted(opponents.items()):
        games, wins, draws, losses = (int(o.get(k) or 0) for k in ("games", "wins", "draws", "losses"))
        rows.append({"name": name, "rating": anchors.get(name), "games": games, "wins": wins, "draws": draws,
                     "losses": losses, "score": _score(wins, draws, games), "adjudicated": o.get("adjudicated"),
                     "illegal_attempts": o.get("illegal_attempts")})
    return rows


def result_row(result: dict, reference: float | None, anchors: dict[str, float] | None = None) -> dict:
    """One result of ratings.json as the report shows it; "status" is set per step by `step_rows`."""
    ci = list(result.get("elo_ci95") or [None, None])
    margin = result["margin"] if "margin" in result else _minus(result["elo"], reference)
    margin_ci = result.get("margin_ci95") or [_minus(c, reference) for c in ci]
    return {
        "temperature": result["temperature"], "mode": result.get("mode", "move"),
        "protocol": (result.get("protocol") or {}).get("label", "fixed"), "games": result["games"],
        "unrated_games": result.get("unrated_games", 0),
        "wins": result.get("wins"), "draws": result.get("draws"), "losses": result.get("losses"),
        "score": result.get("score"), "elo": result["elo"], "elo_ci95": ci,
        "elo_bound": result.get("elo_bound"), "margin": margin, "margin_ci95": list(margin_ci),
        "transcended": transcended(result, reference),
        "recorded_games": recorded_games(result), "planned_games": result.get("planned_games"),
        "opponents": opponent_rows(result.get("opponents") or {}, anchors or {}),
    }


def step_rows(ratings: dict) -> list[dict]:
    """Every result of one ratings.json, sorted by temperature, mode and protocol, each marked complete or partial
    (among the results of its own protocol: only the protocol evaluated last records its plan)."""
    rows = sorted((result_row(r, ratings.get("reference_rating"), ratings.get("anchors")) for r in ratings["results"]),
                  key=lambda r: (r["temperature"], r["mode"], r["protocol"] != "fixed", r["protocol"]))
    for label in {r["protocol"] for r in rows}:
        mark_completeness([r for r in rows if r["protocol"] == label])
    return rows


def _temps(rows: list[dict]) -> str:
    return ", ".join(f"T={r['temperature']:g}" for r in rows)


def not_rated_yet(path: str, unrated_steps: dict[int, int]) -> str:
    """Steps with recorded games but no ratings.json (an evaluation stopped before it rated them), in words."""
    counts = ", ".join(f"{n} game(s) at step {step}" for step, n in sorted(unrated_steps.items()))
    return (f"partly evaluated: {counts} recorded but not rated yet (rerun `transcend eval --run {path}` "
            "to finish and rate them; finished games are kept)")


def verdict(name: str, rows: list[dict], reference: float | None, kind: str | None) -> str:
    """One sentence: transcended or not, and where; or why there is no verdict."""
    if not rows:
        return f"{name}: not evaluated yet (no eval/<step>/ratings.json and no recorded games)"
    rated = [r for r in rows if r["elo"] is not None]
    unrated = [r for r in rows if r["elo"] is None]
    if not rated:
        n_unrated = sum(r["unrated_games"] for r in rows)
        return f"{name}: {NOT_RATED}" + (f" (all {n_unrated} games were against players missing from the anchor table)"
                                         if n_unrated else "")
    also = f"; {_temps(unrated)} {NOT_RATED}" if unrated else ""
    if reference is None:
        best = max(rated, key=lambda r: r["elo"])
        return f"{name}: no verdict: {NO_REFERENCE}; highest Elo {best['elo']:.0f} at T={best['temperature']:g}{also}"
    what = f"the {'cutoff' if kind == 'cutoff' else 'best expert'} {reference:.0f}"
    above = [r for r in rated if r["transcended"]]
    if above:
        temps = ", ".join(f"T={r['temperature']:g} (lower bound {r['elo_ci95'][0]:.0f})" for r in above)
        return f"{name}: TRANSCENDED at {temps}: the 95% interval lies above {what}{also}"
    bounded = [r for r in rated if r["elo_ci95"][0] is not None]
    if not bounded:
        return f"{name}: did not transcend: it lost every rated game at every temperature (reference {what}){also}"
    best = max(bounded, key=lambda r: r["elo_ci95"][0])
    return (f"{name}: did not transcend: its highest lower bound, {best['elo_ci95'][0]:.0f} at "
            f"T={best['temperature']:g} (Elo {best['elo']:.0f}), is not above {what}{also}")


def summarize_run(run: RunData, step: int | None = None) -> dict:
    cfg = run.config
    step = run.latest_eval_step if step is None else step
    if step is not None and step not in run.evals:
        recorded = (f"; step {step} is {not_rated_yet(str(run.path), {step: run.unrated_steps[step]})}"
                    if step in run.unrated_steps else "")
        raise ValueError(f"{run.path}: no evaluation at step {step}; evaluated steps: {sorted(run.evals)}{recorded}")
    ratings = run.evals.get(step, {}) if step is not None else {}
    reference = ratings.get("reference_rating")
    kind = ratings.get("reference_kind", "cutoff") if reference is not None else None
    rows = step_rows(ratings) if ratings else []
    fits = compare_fits(ratings.get("fit"), run.population)
    sentence = _full_verdict(run, rows, reference, kind, fits)
    return {
        "name": run.name, "path": str(run.path), "params": run.n_params,
        "model": {"n_layer": cfg.model.n_layer, "n_head": cfg.model.n_head, "d_model": cfg.model.d_model},
        "cutoff": cfg.data.cutoff, "data_dir": cfg.data.dir,
        "trained_steps": run.train[-1]["step"] if run.train else None,
        "final_loss": run.train[-1]["loss"] if run.train else None,
        "final_val_loss": run.val[-1]["val_loss"] if run.val else None,
        "eval_step": step, "anchor_table": ratings.get("anchor_table"),
        "opponent_ratings": _opponent_ratings(rows),
        "complete": all(r["status"] == COMPLETE for r in rows),
        "unrated_steps": {str(s): n for s, n in sorted(run.unrated_steps.items())},
        "reference_rating": reference, "reference_kind": kind, "fit": fits,
        "population": _population_summary(run.population),
        "results": rows,
        "results_by_step": {str(s): step_rows(ev) for s, ev in sorted(run.evals.items())},
        "transcended": any(r["transcended"] for r in rows),
        "verdict": sentence,
    }


def _full_verdict(run: RunData, rows: list[dict], reference: float | None, kind: str | None, fits: dict) -> str:
    """The verdict, then what limits it: partial temperatures, games not rated yet, different rating fits."""
    if not rows and run.unrated_steps:
        return f"{run.name}: {not_rated_yet(str(run.path), run.unrated_steps)}"
    sentence = verdict(run.name, rows, reference, kind)
    incomplete = describe_incomplete(rows)
    if incomplete:
        sentence += f"; {incomplete}"
    later = {s: n for s, n in run.unrated_steps.items() if rows and s > (run.latest_eval_step or -1)}
    if later:
        sentence += f"; {not_rated_yet(str(run.path), later)}"
    if fits["comparable"] is False:
        sentence += f"; WARNING: {DIFFERENT_FITS}"
    return sentence


def _opponent_ratings(rows: list[dict]) -> dict[str, float | None]:
    """Every opponent the run played at its reported step, with its anchor rating (None: not in the table)."""
    return {o["name"]: o["rating"] for r in rows for o in r["opponents"]}


def _population_summary(pop: dict | None) -> dict | None:
    if pop is None:
        return None
    keys = ("name", "engine", "bias", "epsilon", "rating", "rating_ci95", "rating_bound", "games", "score")
    return {"path": pop["path"], "kind": pop["kind"], "anchors": pop["anchors"], "best_expert": pop["best_expert"],
            "fit": pop.get("fit"), "experts": [{k: e.get(k) for k in keys} for e in pop["experts"]]}
