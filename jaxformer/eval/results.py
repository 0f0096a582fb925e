"""ratings.json for one evaluated step: per temperature, MLE Elo with a bootstrap interval, Glicko-2
(one rating period) and the transcendence margin over the reference rating (docs/INTERFACES.md).
"""
from __future__ import annotations

import json
import logging
import math
import os
import pathlib

from arena import (
    bootstrap_interval,
    fit_bradley_terry_detailed,
    glicko2_vs_anchors,
)

log = logging.getLogger(__name__)
MODEL = "model"  # the rated player's name inside each per-temperature fit


def reference_rating(run_cfg) -> tuple[float | None, str | None]:
    """The data's cutoff, else the best player in the data (manifest rating_max), else (None, None)."""
    if run_cfg.data.cutoff is not None:
        return float(run_cfg.data.cutoff), "cutoff"
    if run_cfg.data.dir:
        manifest = pathlib.Path(run_cfg.data.dir) / "manifest.json"
        try:
            rating_max = json.loads(manifest.read_text()).get("rating_max")
        except (OSError, ValueError) as err:
            log.warning("no reference rating: cannot read %s (%s)", manifest, err)
            return None, None
        if rating_max is not None:
            return float(rating_max), "best_player"
    return None, None


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 1)


def rate_step(records: list[dict], model_name: str, anchors: dict[str, float], *, run: str, step: int,
              anchor_table: str, reference: tuple[float | None, str | None], n_boot: int = 1000) -> dict:
    """The ratings.json object from a step's game records."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if model_name in (r["white"], r["black"]):
            groups.setdefault((r["temperature"], r["mode"]), []).append(r)
    ref, ref_kind = reference
    results = []
    for (temp, mode), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        games, per_opp, unrated = [], {}, 0
        for r in recs:
            opp = r["black"] if r["white"] == model_name else r["white"]
            s = r["white_score"] if r["white"] == model_name else 1.0 - r["white_score"]
            o = per_opp.setdefault(opp, {"games": 0, "wins": 0, "draws": 0, "losses": 0, "adjudicated": 0,
                                         "illegal_attempts": 0})
            o["games"] += 1
            o["wins" if s == 1.0 else "losses" if s == 0.0 else "draws"] += 1
            o["adjudicated"] += bool(r["adjudicated"])
            side = "white" if r["white"] == model_name else "black"
            o["illegal_attempts"] += r["players"][side]["illegal_attempts"]
            if opp in anchors:
                games.append((MODEL, opp, s))
            else:
                unrated += 1
        wins = sum(1 for _, _, s in games if s == 1.0)
        draws = sum(1 for _, _, s in games if s == 0.5)
        score = round((wins + 0.5 * draws) / len(games), 4) if games else None
        entry = {"temperature": temp, "mode": mode, "games": len(games), "wins": wins, "draws": draws,
                 "losses": len(games) - wins - draws, "score": score,
                 "unrated_games": unrated, "opponents": per_opp,
                 "elo": None, "elo_ci95": [None, None], "elo_bound": None, "glicko2": None,
                 "margin": None, "margin_ci95": [None, None]}
        if games:
            fit = fit_bradley_terry_detailed(games, anchors)
            lo, hi, bound = bootstrap_interval(games, anchors, MODEL, n_boot=n_boot, seed=step)
            rating, rd, vol = glicko2_vs_anchors(MODEL, games, anchors)
            entry.update(elo=_finite(fit.ratings[MODEL]), elo_ci95=[_finite(lo), _finite(hi)], elo_bound=bound,
                         glicko2={"rating": round(rating, 1), "rd": round(rd, 1), "volatility": round(vol, 6)})
            if ref is not None:
                entry.update(margin=_finite(fit.ratings[MODEL] - ref),
                             margin_ci95=[_finite(lo - ref), _finite(hi - ref)])
        results.append(entry)
    return {"run": run, "step": step, "anchor_table": anchor_table, "anchors": anchors,
            "reference_rating": ref, "reference_kind": ref_kind, "model": model_name, "results": results}


def write_json_atomic(path: pathlib.Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
