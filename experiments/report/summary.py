"""The report's figures as data: per run and temperature, the rating, its interval and the verdict.

A run transcends at a temperature when the LOWER end of its 95% rating interval lies above the
reference: the training cutoff, or (no cutoff) the best expert's measured rating. A point estimate
above the line with an interval that reaches below it is reported as "not shown".
"""
from __future__ import annotations

from experiments.report.load import RunData


def transcended(result: dict, reference: float) -> bool:
    lo = result["elo_ci95"][0] if result.get("elo_ci95") else None
    if result.get("elo_bound") == "upper" or lo is None:
        return False
    return lo > reference


def result_row(result: dict, reference: float) -> dict:
    margin = result.get("margin", result["elo"] - reference)
    ci = result.get("elo_ci95") or [None, None]
    margin_ci = result.get("margin_ci95") or [None if c is None else c - reference for c in ci]
    return {
        "temperature": result["temperature"], "mode": result.get("mode", "move"), "games": result["games"],
        "wins": result.get("wins"), "draws": result.get("draws"), "losses": result.get("losses"),
        "score": result.get("score"), "elo": result["elo"], "elo_ci95": list(ci),
        "elo_bound": result.get("elo_bound"), "margin": margin, "margin_ci95": list(margin_ci),
        "transcended": transcended(result, reference),
    }


def verdict(name: str, rows: list[dict], reference: float, kind: str) -> str:
    what = f"the {'cutoff' if kind == 'cutoff' else 'best expert'} {reference:.0f}"
    if not rows:
        return f"{name}: not evaluated yet (no eval/<step>/ratings.json)"
    above = [r for r in rows if r["transcended"]]
    if above:
        temps = ", ".join(f"T={r['temperature']:g} (lower bound {r['elo_ci95'][0]:.0f})" for r in above)
        return f"{name}: TRANSCENDED at {temps}: the 95% interval lies above {what}"
    bounded = [r for r in rows if r["elo_ci95"][0] is not None]
    if not bounded:
        return f"{name}: did not transcend: it lost every game at every temperature (reference {what})"
    best = max(bounded, key=lambda r: r["elo_ci95"][0])
    return (f"{name}: did not transcend: its highest lower bound, {best['elo_ci95'][0]:.0f} at "
            f"T={best['temperature']:g} (Elo {best['elo']:.0f}), is not above {what}")


def summarize_run(run: RunData, step: int | None = None) -> dict:
    cfg = run.config
    step = run.latest_eval_step if step is None else step
    if step is not None and step not in run.evals:
        raise ValueError(f"{run.path}: no evaluation at step {step}; evaluated steps: {sorted(run.evals)}")
    ratings = run.evals.get(step, {})
    reference = ratings.get("reference_rating")
    kind = ratings.get("reference_kind", "cutoff")
    rows = sorted((result_row(r, reference) for r in ratings.get("results", [])), key=lambda r: r["temperature"])
    all_steps = {
        s: [result_row(r, ev["reference_rating"]) for r in ev["results"]] for s, ev in sorted(run.evals.items())
    }
    return {
        "name": run.name, "path": str(run.path), "params": run.n_params,
        "model": {"n_layer": cfg.model.n_layer, "n_head": cfg.model.n_head, "d_model": cfg.model.d_model},
        "cutoff": cfg.data.cutoff, "data_dir": cfg.data.dir,
        "trained_steps": run.train[-1]["step"] if run.train else None,
        "final_loss": run.train[-1]["loss"] if run.train else None,
        "final_val_loss": run.val[-1]["val_loss"] if run.val else None,
        "eval_step": step, "anchor_table": ratings.get("anchor_table"),
        "reference_rating": reference, "reference_kind": kind,
        "population": _population_summary(run.population),
        "results": rows, "results_by_step": {str(s): r for s, r in all_steps.items()},
        "transcended": any(r["transcended"] for r in rows),
        "verdict": verdict(run.name, rows, reference, kind) if rows else verdict(run.name, [], 0.0, kind),
    }


def _population_summary(pop: dict | None) -> dict | None:
    if pop is None:
        return None
    keys = ("name", "engine", "bias", "epsilon", "rating", "rating_ci95", "rating_bound", "games", "score")
    return {"path": pop["path"], "kind": pop["kind"], "anchors": pop["anchors"], "best_expert": pop["best_expert"],
            "experts": [{k: e.get(k) for k in keys} for e in pop["experts"]]}
