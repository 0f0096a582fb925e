"""ratings.json for one evaluated step: per temperature, MLE Elo with a bootstrap interval (the project's
one rating fit, `arena.rate_players`, the same that rates the synthetic experts and the ladder), Glicko-2
(one rating period, or the paper's one period per game) and the transcendence margin over the reference
rating (docs/contracts.md).

When the anchor table ships the games it was measured from (a ladder), its rungs are refitted from them
in every bootstrap resample, with only the table's own anchors (`anchored_to`, e.g. the paper's) fixed,
so the model's interval includes the rungs' uncertainty (`prepare_rungs`; each result says so in
"anchor_uncertainty"). Otherwise the rungs are held at their table values, and ratings.json says why.

Results are per temperature, mode and "as_rating" (the rating a "+elo" model was conditioned on, read from the
model's recorded settings; null when unused).

A game id is counted once: a second record of a game (two workers that played it, from before games
were claimed) is reported and counted in "duplicate_games", never rated twice. One-period Glicko-2 is
null without rated games and for a one-sided record (won or lost every game), where one rating period
moves the rating by thousands of Elo (Glicko-2's own answer, see arena/glicko2.py).
"""
from __future__ import annotations

import logging
import math
from typing import Any

from arena import (
    PRIOR_DRAWS,
    RungDraws,
    fit_info,
    glicko2_per_game,
    glicko2_vs_anchors,
    load_anchor_games,
    load_anchored_to,
    rate_players,
    rung_draws,
)
from data_pipeline import read_manifest
from jaxformer.config import RunConfig

log = logging.getLogger(__name__)
GLICKO_MODES = ("one-period", "per-game")
RUNG_SEED = 0  # every step's fit uses the same draws of the rungs, so steps differ only by their own games
RUNG_MISMATCH_ELO = 1.0  # a refitted rung further than this from its table value: the games file is not the table's


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
                 anchors: dict[str, float]) -> tuple[list[dict], dict[str, dict[str, int]], int]:
    """The model's rated records (against an anchor), its record per opponent, and its unrated games."""
    rated: list[dict] = []
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
            rated.append(r)
        else:
            unrated += 1
    return rated, per_opp, unrated


def _as_rating(record: dict, model_name: str) -> int | None:
    """The rating the model was conditioned on in this game (its recorded settings' "as_rating"), else None."""
    side = "white" if record["white"] == model_name else "black"
    return record["players"][side].get("settings", {}).get("as_rating")


def _games(records: list[dict]) -> list[tuple[str, str, float]]:
    return [(r["white"], r["black"], r["white_score"]) for r in records]


def _paper_order(records: list[dict], model_name: str, anchors: dict[str, float]) -> dict[str, list[dict]]:
    """Per opponent (weakest first), its games in the paper's order: the model Black in the first games, then
    White (chess_research/eval/evaluation.py lines 170-174), each colour by round."""
    by_opp: dict[str, list[dict]] = {}
    for r in records:
        by_opp.setdefault(r["black"] if r["white"] == model_name else r["white"], []).append(r)
    return {opp: sorted(games, key=lambda r: (r["white"] == model_name, r.get("round", 0)))
            for opp, games in sorted(by_opp.items(), key=lambda kv: (anchors[kv[0]], kv[0]))}


# Glicko-2 volatilities stay near the 0.06 start for any credible record; far above it the one period has diverged
# (e.g. 0 W / 10 D / 30 L against rungs near 0 Elo from the 1500 start gave -380745).
GLICKO_VOLATILITY_MAX = 1.0


def _glicko(records: list[dict], model_name: str, anchors: dict[str, float], mode: str, one_sided: bool) -> dict | None:
    """The result's "glicko2" object: one period over all games (null for a one-sided record), or the paper's
    one period per game, for each opponent from a fresh start (as the paper reported it) and over all games."""
    def fmt(rating: float, rd: float, vol: float) -> dict:
        return {"rating": round(rating, 1), "rd": round(rd, 1), "volatility": round(vol, 6)}

    if mode == "one-period":
        if one_sided:
            return None
        rating, rd, vol = glicko2_vs_anchors(model_name, _games(records), anchors)
        if vol > GLICKO_VOLATILITY_MAX:  # the record is too far from the 1500 start for one period: no rating to show
            log.warning("one-period Glicko-2 of %s diverged (volatility %.3g, rating %.0f): not reported; the "
                        "Bradley-Terry rating is the headline", model_name, vol, rating)
            return None
        return {"method": mode, **fmt(rating, rd, vol)}
    ordered = _paper_order(records, model_name, anchors)
    every = [g for games in ordered.values() for g in _games(games)]
    return {"method": mode, **fmt(*glicko2_per_game(model_name, every, anchors)),
            "per_opponent": {opp: {"games": len(games), **fmt(*glicko2_per_game(model_name, _games(games), anchors))}
                             for opp, games in ordered.items()}}


def _outside_ladder(elo: float, anchors: dict[str, float]) -> str | None:
    """"below" / "above" when the estimate lies outside the anchor table's rated range, where nothing anchors it."""
    if elo < min(anchors.values()):
        return "below"
    if elo > max(anchors.values()):
        return "above"
    return None


def _rate_group(records: list[dict], model_name: str, anchors: dict[str, float], ref: float | None, *,
                planned: int | None, n_boot: int, seed: int, options: dict, rungs: RungDraws | None,
                anchored_to: dict[str, float]) -> dict[str, Any]:
    """One temperature's entry of ratings.json (without its temperature and mode)."""
    rated, per_opp, unrated = _model_games(records, model_name, anchors)
    opponents = {r["black"] if r["white"] == model_name else r["white"] for r in rated}
    refit = set(rungs.point) if rungs is not None else set()
    entry: dict[str, Any] = {"games": len(rated), "planned_games": planned, "wins": 0, "draws": 0, "losses": 0,
                             "score": None, "draw_rate": None,
                             "unrated_games": unrated, "opponents": per_opp,
                             "elo": None, "elo_ci95": [None, None], "elo_bound": None, "outside_ladder": None,
                             "anchor_uncertainty": all(o in anchored_to or o in refit for o in opponents),
                             "white_advantage": None, "draw_nu": None, "glicko2": None,
                             "margin": None, "margin_ci95": [None, None]}
    if not rated:
        return entry
    fit = rate_players(_games(rated), anchors, players=[model_name], prior_draws=PRIOR_DRAWS, n_boot=n_boot,
                       seed=seed, draw_model=options["draw_model"], white_advantage=options["white_advantage"],
                       rungs=rungs)[model_name]
    lo, hi = fit.ci95
    entry.update(wins=fit.wins, draws=fit.draws, losses=fit.losses, score=round((fit.wins + 0.5 * fit.draws) / fit.games, 4),
                 draw_rate=round(fit.draws / fit.games, 4), elo=_rounded(fit.elo), elo_ci95=[_rounded(lo), _rounded(hi)],
                 elo_bound=fit.bound, outside_ladder=_outside_ladder(fit.elo, anchors),
                 white_advantage=_rounded(fit.white_advantage),
                 draw_nu=None if fit.draw_nu is None else round(fit.draw_nu, 4),
                 glicko2=_glicko(rated, model_name, anchors, options["glicko"], fit.bound is not None))
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


def prepare_rungs(anchor_table: str, anchors: dict[str, float], *, n_boot: int, draw_model: str = "half",
                  white_advantage: bool = False, fixed: bool = False) -> tuple[RungDraws | None, dict]:
    """The ladder's rungs for every fit of a run: refitted from the games the table ships (with only its
    `anchored_to` fixed), once, or None (held at their table values); and ratings.json's "rungs" object
    saying which, and why."""
    anchored_to = load_anchored_to(anchor_table)
    info: dict[str, Any] = {"refit": False, "games": None, "anchored_to": anchored_to, "note": None}
    if set(anchors) <= set(anchored_to):
        info["note"] = f"every player of table {anchor_table!r} is fixed by definition: there are no measured rungs"
        return None, info
    games = None if fixed else load_anchor_games(anchor_table)
    if games is None:
        why = "--fixed-rungs was given" if fixed else f"table {anchor_table!r} ships no games file"
        info["note"] = (f"rungs held at their table values ({why}): intervals of results against measured rungs "
                        "do not include the rungs' uncertainty")
        log.warning("%s", info["note"])
        return None, info
    ladder = [(r["white"], r["black"], r["white_score"]) for r in games if r["white"] != r["black"]]
    rungs = rung_draws(ladder, anchored_to, n_boot=n_boot, seed=RUNG_SEED, prior_draws=PRIOR_DRAWS,
                       draw_model=draw_model, white_advantage=white_advantage)
    moved = {n: (anchors[n], round(v, 1)) for n, v in rungs.point.items()
             if n in anchors and abs(anchors[n] - v) > RUNG_MISMATCH_ELO}
    if moved:
        log.warning("table %s: refitting its games moves rungs from their table values (table, refit): %s; the games "
                    "file may not be the one the table was fitted from", anchor_table, moved)
    info.update(refit=True, games=rungs.games,
                note=f"rungs refitted from the {rungs.games} games shipped with table {anchor_table!r} in every "
                     f"bootstrap resample, only {', '.join(sorted(rungs.anchors))} fixed")
    return rungs, info


def rate_step(records: list[dict], model_name: str, anchors: dict[str, float], *, run: str, step: int,
              anchor_table: str, reference: tuple[float | None, str | None], n_boot: int = 1000,
              planned: dict[tuple[float, str], int] | None = None, glicko: str = "one-period",
              draw_model: str = "half", white_advantage: bool = False, openings: str | None = None,
              rungs: tuple[RungDraws | None, dict] | None = None, as_rating: int | None = None) -> dict:
    """The ratings.json object from a step's game records: one entry per (temperature, mode, as_rating), recorded
    or planned.

    `planned` maps (temperature, mode) to the games the plan holds for it (every shard, every opponent), all
    played as a player rated `as_rating` (None: no rating conditioning).
    `glicko` is "one-period" or the paper's "per-game"; `draw_model` and `white_advantage` are the fit's
    options (arena.rate_players); `openings` names the opening suite played (None: the initial position).
    `rungs` is `prepare_rungs`'s answer (None: every anchor held fixed, as for the paper's table).
    """
    if glicko not in GLICKO_MODES:
        raise ValueError(f"glicko {glicko!r}: expected one of {', '.join(GLICKO_MODES)}")
    records, duplicates = unique_games(records)
    if duplicates:
        log.warning("step %d: %d games are recorded more than once (workers that played the same games); "
                    "each game is counted once", step, duplicates)
    fixed_info: dict[str, Any] = {"refit": False, "games": None, "anchored_to": anchors, "note": "every anchor held fixed"}
    draws, rungs_info = rungs if rungs is not None else (None, fixed_info)
    anchored_to: dict[str, float] = rungs_info["anchored_to"]
    planned = planned or {}
    groups: dict[tuple, list[dict]] = {(temp, mode, as_rating): [] for temp, mode in planned}
    for r in records:
        if model_name in (r["white"], r["black"]):
            groups.setdefault((r["temperature"], r["mode"], _as_rating(r, model_name)), []).append(r)
    ref, ref_kind = reference
    options = {"glicko": glicko, "draw_model": draw_model, "white_advantage": white_advantage}
    results = [{"temperature": temp, "mode": mode, "as_rating": rating,
                **_rate_group(recs, model_name, anchors, ref,
                              planned=planned.get((temp, mode)) if rating == as_rating else None, n_boot=n_boot,
                              seed=step, options=options, rungs=draws, anchored_to=anchored_to)}
               for (temp, mode, rating), recs in sorted(groups.items(), key=_group_order)]
    return {"run": run, "step": step, "anchor_table": anchor_table, "anchors": anchors,
            "reference_rating": ref, "reference_kind": ref_kind, "model": model_name,
            "fit": fit_info(PRIOR_DRAWS, n_boot, draw_model, white_advantage), "rungs": rungs_info,
            "openings": openings, "duplicate_games": duplicates, "results": results}


def _group_order(item: tuple[tuple, list[dict]]) -> tuple:
    """Results by temperature, mode, then rating (unconditioned first)."""
    temp, mode, rating = item[0]
    return temp, mode, rating is not None, rating or 0


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
    side = entry.get("outside_ladder")
    where = f" ({side} every rung of the anchor table: extrapolated)" if side else ""
    return f"Elo {entry['elo']:.0f}{interval}{where}"
