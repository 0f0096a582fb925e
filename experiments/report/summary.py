"""The report's figures as data: per run and temperature, the rating, its interval and the verdict.

A run transcends at a temperature when the LOWER end of its 95% rating interval lies above the
reference: the training cutoff, or (no cutoff) the best expert's measured rating. A point estimate
above the line with an interval that reaches below it is reported as "not shown". What cannot be
rated (no game against a rated opponent) or judged (no reference rating) is None, and the verdict
says why in words.
"""
from __future__ import annotations

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


def result_row(result: dict, reference: float | None) -> dict:
    ci = list(result.get("elo_ci95") or [None, None])
    margin = result["margin"] if "margin" in result else _minus(result["elo"], reference)
    margin_ci = result.get("margin_ci95") or [_minus(c, reference) for c in ci]
    return {
        "temperature": result["temperature"], "mode": result.get("mode", "move"), "games": result["games"],
        "unrated_games": result.get("unrated_games", 0),
        "wins": result.get("wins"), "draws": result.get("draws"), "losses": result.get("losses"),
        "score": result.get("score"), "elo": result["elo"], "elo_ci95": ci,
        "elo_bound": result.get("elo_bound"), "margin": margin, "margin_ci95": list(margin_ci),
        "transcended": transcended(result, reference),
    }


def _temps(rows: list[dict]) -> str:
    return ", ".join(f"T={r['temperature']:g}" for r in rows)


def verdict(name: str, rows: list[dict], reference: float | None, kind: str | None) -> str:
    """One sentence: transcended or not, and where; or why there is no verdict."""
    if not rows:
        return f"{name}: not evaluated yet (no eval/<step>/ratings.json)"
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
        raise ValueError(f"{run.path}: no evaluation at step {step}; evaluated steps: {sorted(run.evals)}")
    ratings = run.evals.get(step, {}) if step is not None else {}
    reference = ratings.get("reference_rating")
    kind = ratings.get("reference_kind", "cutoff") if reference is not None else None
    rows = sorted((result_row(r, reference) for r in ratings.get("results", [])), key=lambda r: r["temperature"])
    fits = compare_fits(ratings.get("fit"), run.population)
    sentence = verdict(run.name, rows, reference, kind)
    if fits["comparable"] is False:
        sentence += f"; WARNING: {DIFFERENT_FITS}"
    return {
        "name": run.name, "path": str(run.path), "params": run.n_params,
        "model": {"n_layer": cfg.model.n_layer, "n_head": cfg.model.n_head, "d_model": cfg.model.d_model},
        "cutoff": cfg.data.cutoff, "data_dir": cfg.data.dir,
        "trained_steps": run.train[-1]["step"] if run.train else None,
        "final_loss": run.train[-1]["loss"] if run.train else None,
        "final_val_loss": run.val[-1]["val_loss"] if run.val else None,
        "eval_step": step, "anchor_table": ratings.get("anchor_table"),
        "reference_rating": reference, "reference_kind": kind, "fit": fits,
        "population": _population_summary(run.population),
        "results": rows,
        "results_by_step": {str(s): [result_row(r, ev["reference_rating"]) for r in ev["results"]]
                            for s, ev in sorted(run.evals.items())},
        "transcended": any(r["transcended"] for r in rows),
        "verdict": sentence,
    }


def _population_summary(pop: dict | None) -> dict | None:
    if pop is None:
        return None
    keys = ("name", "engine", "bias", "epsilon", "rating", "rating_ci95", "rating_bound", "games", "score")
    return {"path": pop["path"], "kind": pop["kind"], "anchors": pop["anchors"], "best_expert": pop["best_expert"],
            "fit": pop.get("fit"), "experts": [{k: e.get(k) for k in keys} for e in pop["experts"]]}
