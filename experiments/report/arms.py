"""Arms side by side: the same experiment on two training sets (`make demo`: the diverse population and its clones).

Built from the runs' summaries (experiments.report.summary), so the verdict is the report's own: an arm
transcends when, at some evaluated temperature, the lower end of its model's 95% interval lies above its
reference (the best expert's measured rating, or the cutoff). The ratings of every arm are on one scale when
every evaluation used the same anchor table and each model was rated by the same fit as its experts.
"clears_expert_interval" is the stricter reading (the lower bound above the best expert's UPPER bound), shown
beside the verdict, never instead of it.
"""
from __future__ import annotations

from experiments.report.summary import NOT_RATED

# The theory's prediction for the diversity ablation (docs/demo.md): which arm should transcend.
PREDICTION = {"diverse": True, "clones": False}


def _interval(elo: float | None, ci95: list[float | None] | None) -> dict:
    lo, hi = ci95 if ci95 else (None, None)
    return {"elo": elo, "lo": lo, "hi": hi}


def best_expert(run: dict) -> dict | None:
    """The arm's reference player: the population's best expert (name, rating, interval), or the cutoff as a
    point; None when the run has no reference."""
    population, reference = run.get("population"), run["reference_rating"]
    if population is not None and run["reference_kind"] != "cutoff":
        best = population["best_expert"]
        return {"name": best["name"], **_interval(best["rating"], best.get("rating_ci95"))}
    if reference is None:
        return None
    return {"name": run["reference_kind"], "elo": reference, "lo": reference, "hi": reference}


def _temperature_row(row: dict, expert: dict | None) -> dict:
    out = {"temperature": row["temperature"], "games": row["games"], **_interval(row["elo"], row["elo_ci95"]),
           "transcended": row["transcended"]}
    lo, expert_hi = out["lo"], None if expert is None else expert["hi"]
    out["clears_expert_interval"] = None if row["elo"] is None or expert_hi is None else lo is not None and lo > expert_hi
    return out


def arm_summary(run: dict) -> dict:
    """One arm of the comparison from its run's summary (summarize_run's dict)."""
    expert = best_expert(run)
    rows = [_temperature_row(r, expert) for r in run["results"] if r.get("protocol", "fixed") == "fixed"]
    rated = [r for r in rows if r["elo"] is not None]
    transcends = None if not rated or run["reference_rating"] is None else any(r["transcended"] for r in rated)
    population = run.get("population")
    return {"run": run["path"], "population": None if population is None else population["kind"],
            "params": run["params"], "trained_steps": run["trained_steps"], "final_val_loss": run["final_val_loss"],
            "eval_step": run["eval_step"], "anchor_table": run["anchor_table"],
            "same_fit_as_experts": run["fit"]["comparable"], "complete": run["complete"],
            "reference": {"rating": run["reference_rating"], "kind": run["reference_kind"]},
            "best_expert": expert, "temperatures": rows, "transcends": transcends, "verdict": run["verdict"]}


def compare_arms(runs: dict[str, dict]) -> dict:
    """Every arm (name -> its run's summary) side by side, whether their ratings share one scale, and whether
    the theory's prediction (the diverse arm transcends, the clones do not) held; None where it cannot be told."""
    arms = {name: arm_summary(run) for name, run in runs.items()}
    tables = {a["anchor_table"] for a in arms.values()}
    same_scale = len(tables) == 1 and None not in tables and all(a["same_fit_as_experts"] for a in arms.values())
    predicted = {name: want for name, want in PREDICTION.items() if name in arms}
    outcomes = [arms[name]["transcends"] for name in predicted]
    holds = None if len(predicted) < len(PREDICTION) or None in outcomes else \
        all(arms[name]["transcends"] is want for name, want in predicted.items())
    return {"arms": arms, "same_scale": same_scale,
            "temperatures": sorted({r["temperature"] for a in arms.values() for r in a["temperatures"]}),
            "prediction": {"expected": predicted, "holds": holds}}


def describe_prediction(comparison: dict) -> str:
    """The comparison's outcome in one sentence."""
    holds, arms = comparison["prediction"]["holds"], comparison["arms"]
    scale = "" if comparison["same_scale"] else (" WARNING: the arms' ratings are not on one scale (different anchor "
                                                  "tables or fits), so they cannot be compared.")
    if holds is None:
        missing = [n for n in PREDICTION if n not in arms or arms[n]["transcends"] is None]
        return (f"The theory's prediction (the diverse arm transcends, its clones do not) cannot be judged: "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing or without a verdict "
                f"({NOT_RATED} or no reference).{scale}")
    return ("The theory's prediction (the diverse arm transcends, its clones do not) "
            f"{'HELD' if holds else 'did NOT hold'}: diverse {_word(arms['diverse'])}, clones {_word(arms['clones'])}."
            + scale)


def _word(arm: dict) -> str:
    return "transcended" if arm["transcends"] else "did not transcend"
