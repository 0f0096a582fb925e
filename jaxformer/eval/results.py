"""ratings.json for one evaluated step: per temperature, MLE Elo with a bootstrap interval (the project's
one rating fit, `arena.rate_players`, the same that rates the synthetic experts and the ladder), Glicko-2
(one rating period) and the transcendence margin over the reference rating (docs/contracts.md).

A game id is counted once: a second record of a game (two workers that played it, from before games
were claimed) is reported and counted in "duplicate_games", never rated twice. Glicko-2 is null
without rated games and for a one-sided record (won or lost every game), where one rating period
has no finite answer (its iteration diverges to values like -8884).
"""
from __future__ import annotations

import logging
import math
from typing import Any

from arena import PRIOR_DRAWS, fit_info, glicko2_vs_anchors, rate_players
from data_pipeline import read_manifest
from jaxformer.config import RunConfig

log = logging.getLogger(__name__)


def reference_rating(run_cfg: RunConfig) -> tuple[float | None, str | None]:
    """The data's cutoff, else the best player in the data (manifest rating_max), else (None, None)."""
    if run_cfg.data.cutoff is not None:
        return float(run_cfg.data.cutoff), "cutoff"
    if run_cfg.data.dir:
        try:
            rating_max = read_manifest(run_cfg.data.dir).get("rating_max")
        except (OSError, ValueError) as err:
            log.warning("no reference rating: cannot read the manifest of %s (%s)", run_cfg.data.dir, err)
            return None, None
        if rating_max is not None:
            return float(rating_max), "best_player"
    return None, None


def _rounded(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 1)


def _minus(x: float | None, ref: float) -> float | None:
    return None if x is None else x - ref


def _model_games(records: list[dict], model_name: str,
                 anchors: dict[str, float]) -> tuple[list[tuple[str, str, float]], dict[str, dict[str, int]], int]:
    """The model's rated games (model, anchor, model's score), its record per opponent, and its unrated games."""
    games: list[tuple[str, str, float]] = []
    per_opp: dict[str, dict[str, int]] = {}
    unrated = 0
    for r in records:
        opp = r["black"] if r["white"] == model_name else r["white"]
        side = "white" if r["white"] == model_name else "black"
        s = r["white_score"] if side == "white" else 1.0 - r["white_score"]
        o = per_opp.setdefault(opp, {"games": 0, "wins": 0, "draws": 0, "losses": 0, "adjudicated": 0,
                                     "illegal_attempts": 0})
        o["games"] += 1
        o["wins" if s == 1.0 else "losses" if s == 0.0 else "draws"] += 1
        o["adjudicated"] += bool(r["adjudicated"])
        o["illegal_attempts"] += r["players"][side]["illegal_attempts"]
        if opp in anchors:
            games.append((model_name, opp, s))
        else:
            unrated += 1
    return games, per_opp, unrated


def _rate_group(records: list[dict], model_name: str, anchors: dict[str, float], ref: float | None, *,
                planned: int | None, n_boot: int, seed: int) -> dict[str, Any]:
    """One temperature's entry of ratings.json (without its temperature and mode)."""
    games, per_opp, unrated = _model_games(records, model_name, anchors)
    entry: dict[str, Any] = {"games": len(games), "planned_games": planned, "wins": 0, "draws": 0, "losses": 0,
                             "score": None,
                             "unrated_games": unrated, "opponents": per_opp,
                             "elo": None, "elo_ci95": [None, None], "elo_bound": None, "glicko2": None,
                             "margin": None, "margin_ci95": [None, None]}
    if not games:
        return entry
    fit = rate_players(games, anchors, players=[model_name], prior_draws=PRIOR_DRAWS, n_boot=n_boot,
                       seed=seed)[model_name]
    lo, hi = fit.ci95
    rating, rd, vol = glicko2_vs_anchors(model_name, games, anchors)
    entry.update(wins=fit.wins, draws=fit.draws, losses=fit.losses, score=round((fit.wins + 0.5 * fit.draws) / fit.games, 4),
                 elo=_rounded(fit.elo), elo_ci95=[_rounded(lo), _rounded(hi)], elo_bound=fit.bound,
                 glicko2=None if fit.bound else {"rating": round(rating, 1), "rd": round(rd, 1),
                                                 "volatility": round(vol, 6)})
    if ref is not None:
        entry.update(margin=_rounded(fit.elo - ref),
                     margin_ci95=[_rounded(_minus(lo, ref)), _rounded(_minus(hi, ref))])
    return entry


def unique_games(records: list[dict]) -> tuple[list[dict], int]:
    """The records with each game id once (its first record), and how many later copies were dropped."""
    seen: set[str] = set()
    unique = []
    for r in records:
        if r["game_id"] not in seen:
            seen.add(r["game_id"])
            unique.append(r)
    return unique, len(records) - len(unique)


def rate_step(records: list[dict], model_name: str, anchors: dict[str, float], *, run: str, step: int,
              anchor_table: str, reference: tuple[float | None, str | None], n_boot: int = 1000,
              planned: dict[tuple[float, str], int] | None = None) -> dict:
    """The ratings.json object from a step's game records: one entry per (temperature, mode), recorded or planned.

    `planned` maps (temperature, mode) to the games the plan holds for it (every shard, every opponent).
    """
    records, duplicates = unique_games(records)
    if duplicates:
        log.warning("step %d: %d games are recorded more than once (workers that played the same games); "
                    "each game is counted once", step, duplicates)
    planned = planned or {}
    groups: dict[tuple, list[dict]] = {key: [] for key in planned}
    for r in records:
        if model_name in (r["white"], r["black"]):
            groups.setdefault((r["temperature"], r["mode"]), []).append(r)
    ref, ref_kind = reference
    results = [{"temperature": temp, "mode": mode,
                **_rate_group(recs, model_name, anchors, ref, planned=planned.get((temp, mode)), n_boot=n_boot,
                              seed=step)}
               for (temp, mode), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1]))]
    return {"run": run, "step": step, "anchor_table": anchor_table, "anchors": anchors,
            "reference_rating": ref, "reference_kind": ref_kind, "model": model_name,
            "fit": fit_info(PRIOR_DRAWS, n_boot), "duplicate_games": duplicates, "results": results}


def describe_rating(entry: dict) -> str:
    """One result's rating in words: never a number that was not measured."""
    if not entry["games"]:
        return "not rated (no game against a rated opponent)"
    if entry["elo"] is None:
        return "not rated (the fit found no finite rating)"
    lo, hi = entry["elo_ci95"]
    if entry["elo_bound"] == "upper":
        return f"Elo at most {entry['elo']:.0f} (lost every game)"
    if entry["elo_bound"] == "lower":
        return f"Elo at least {entry['elo']:.0f} (won every game)"
    interval = f" [{lo:.0f}, {hi:.0f}]" if lo is not None and hi is not None else ""
    return f"Elo {entry['elo']:.0f}{interval}"
