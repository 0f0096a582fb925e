"""The evaluation protocols of one step side by side: how far each of the paper's items moved the rating.

A step evaluated under several protocols (`transcend eval --protocol paper|fixed`, or one switch at a time) holds
one ratings.json result per (temperature, mode, protocol label). Per temperature, `compare_protocols` gives one
row per protocol label: the switches it flips relative to the `fixed` row there (the baseline), its games, W/D/L,
its Elo with ratings.json's 95% interval, and its difference from the baseline with a 95% interval of its own.

The difference's interval is a joint bootstrap when the step's game records are on this machine: each resample
draws the games of every protocol anew (independently: they are separate samples) and the ladder's games once,
shared by every protocol (they are the same data; ratings.json's "rungs" says whether the eval refitted them),
and refits each protocol with the one rating fit (arena.rate_players) against that resample's rungs. The rungs'
uncertainty, common to both ratings, largely cancels in the difference, as it should. Without the records (a
report written on another machine) the two intervals' half-widths are added in quadrature, as if independent:
wider, since the rungs' uncertainty is counted twice. A one-sided rating (a protocol that won or lost every game)
has no bootstrap interval: its difference is bounded by the interval ends alone ("at most" / "at least").
"""
from __future__ import annotations

import logging
import math
import zlib

import numpy as np

from arena import PRIOR_DRAWS, RungDraws, rate_players, read_all_records
from experiments.report.load import RunData
from jaxformer.eval.protocol import PRESETS, SWITCHES
from jaxformer.eval.results import prepare_rungs, unique_games
from jaxformer.rundir import RunDir

log = logging.getLogger(__name__)
BASELINE = "fixed"
JOINT_BOOTSTRAP, QUADRATURE, INTERVAL_ENDS = "joint-bootstrap", "quadrature", "interval-ends"
MIN_KEPT = 0.5  # as arena's bootstrap: at least this share of the resamples must rate both protocols
# The command-line switch of each protocol field (jaxformer/eval/protocol.py, add_protocol_arguments).
FLAGS = {"movetime": "--movetime", "engine_per_match": "--engine-per-match", "max_plies": "--max-plies",
         "cap_result": "--cap-result", "claim_threefold": "--claim-threefold",
         "white_to_move_bug": "--score-bug-white-to-move", "mode": "--mode", "char_sampler": "--char-sampler",
         "illegal": "--illegal", "strip_own_check": "--strip-own-check", "glicko": "--glicko"}
Game = tuple[str, str, float]


def protocol_of(result: dict) -> dict:
    """A result's protocol object; results from before protocols were recorded are `fixed`'s."""
    return result.get("protocol") or PRESETS[BASELINE].record()


def protocol_labels(ratings: dict) -> list[str]:
    """The protocol labels of one ratings.json's results, baseline first."""
    return sorted({protocol_of(r)["label"] for r in ratings["results"]}, key=lambda label: (label != BASELINE, label))


def _flag_value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "off (node limit)" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def differing_switches(protocol: dict, baseline: dict) -> list[str]:
    """The switches `protocol` sets otherwise than `baseline`, as command-line text: ["--cap-result draw", ...]."""
    return [f"{FLAGS[name]} {_flag_value(protocol.get(name))}" for name in (*SWITCHES, "glicko")
            if protocol.get(name) != baseline.get(name)]


def row_name(protocol: dict, switches: list[str]) -> str:
    """`fixed`, `paper`; "only --cap-result draw" for a protocol one switch away from the baseline; a preset with a
    switch or two changed by its preset and those ("paper with --max-plies 40"); else its label."""
    label = protocol["label"]
    if label in PRESETS:
        return label
    if len(switches) == 1:
        return f"only {switches[0]}"
    preset = protocol.get("name")
    changed = differing_switches(protocol, PRESETS[preset].record()) if preset in PRESETS else []
    return f"{preset} with {', '.join(changed)}" if 0 < len(changed) <= 2 else label


def _wdl_row(result: dict, baseline_protocol: dict, is_baseline: bool) -> dict:
    protocol = protocol_of(result)
    switches = differing_switches(protocol, baseline_protocol)
    glicko = result.get("glicko2") or {}
    return {"label": protocol["label"], "name": row_name(protocol, switches), "switches": switches,
            "baseline": is_baseline, "protocol": protocol, "mode": result.get("mode", "move"),
            "games": result["games"], "wins": result.get("wins"), "draws": result.get("draws"),
            "losses": result.get("losses"), "score": result.get("score"), "draw_rate": result.get("draw_rate"),
            "elo": result["elo"], "elo_ci95": list(result.get("elo_ci95") or [None, None]),
            "elo_bound": result.get("elo_bound"), "outside_ladder": result.get("outside_ladder"),
            "anchor_uncertainty": result.get("anchor_uncertainty"),
            "glicko2": glicko.get("rating"), "glicko2_rd": glicko.get("rd"), "glicko2_method": glicko.get("method"),
            "diff": None, "diff_ci95": [None, None], "diff_method": None, "diff_note": None}


def _rated_games(records: list[dict], result: dict, model: str, anchors: dict[str, float]) -> list[Game]:
    """The model's rated games (against an anchor) behind one result, as the eval rated them."""
    label, key = protocol_of(result)["label"], (result["temperature"], result.get("mode", "move"))
    games = []
    for r in records:
        if protocol_of(r)["label"] != label or (r["temperature"], r["mode"]) != key or model not in (r["white"], r["black"]):
            continue
        if (r["black"] if r["white"] == model else r["white"]) in anchors:
            games.append((r["white"], r["black"], float(r["white_score"])))
    return games


class JointBootstrap:
    """Resampled ratings of every protocol at one temperature, the ladder's rungs drawn once per resample for all."""

    def __init__(self, ratings: dict, rungs: RungDraws | None, n_boot: int):
        fit = ratings.get("fit") or {}
        self.model, self.anchors, self.rungs, self.n_boot = ratings["model"], ratings["anchors"], rungs, n_boot
        self.options = {"prior_draws": fit.get("prior_draws", PRIOR_DRAWS), "draw_model": fit.get("draw_model", "half"),
                        "white_advantage": bool(fit.get("white_advantage", False))}
        self.step = int(ratings.get("step") or 0)

    def _fixed(self, b: int) -> dict[str, float] | None:
        """The anchors of resample `b`: the table's, with the ladder's rungs at that resample's draw."""
        if self.rungs is None:
            return self.anchors
        draw = self.rungs.draws[b]
        return None if draw is None else {**self.anchors, **self.rungs.anchors, **draw}

    def samples(self, games: list[Game], stream: str) -> list[float | None]:
        """The model's rating in each resample (None where it could not be rated); `stream` seeds the games' draws,
        one stream per protocol, so two protocols' resamples are independent."""
        rng = np.random.default_rng([self.step, zlib.crc32(stream.encode())])
        out: list[float | None] = []
        for b in range(self.n_boot):
            counts = rng.multinomial(len(games), np.full(len(games), 1.0 / len(games)))
            fixed = self._fixed(b)
            if fixed is None:
                out.append(None)
                continue
            resample = [g for g, c in zip(games, counts) for _ in range(c)]
            try:
                out.append(rate_players(resample, fixed, players=[self.model], n_boot=0, **self.options)[self.model].elo)
            except ValueError:  # a resample that cuts the model off from every anchor carries no information
                out.append(None)
        return out


def _difference_interval(a: list[float | None], b: list[float | None]) -> tuple[float | None, float | None]:
    diffs = [x - y for x, y in zip(a, b) if x is not None and y is not None]
    if len(diffs) < MIN_KEPT * len(a):
        return None, None
    lo, hi = np.percentile(np.array(diffs), [2.5, 97.5])
    return round(float(lo), 1), round(float(hi), 1)


def _combined_ends(row: dict, base: dict) -> tuple[str, tuple[float | None, float | None]]:
    """The difference's interval from the two rows' intervals: quadrature for two-sided ones, else the ends."""
    (lo, hi), (blo, bhi) = row["elo_ci95"], base["elo_ci95"]
    if row["elo_bound"] is None and base["elo_bound"] is None and None not in (lo, hi, blo, bhi):
        d = row["elo"] - base["elo"]
        down = math.hypot(row["elo"] - lo, bhi - base["elo"])
        up = math.hypot(hi - row["elo"], base["elo"] - blo)
        return QUADRATURE, (round(d - down, 1), round(d + up, 1))
    return INTERVAL_ENDS, (None if lo is None or bhi is None else round(lo - bhi, 1),
                           None if hi is None or blo is None else round(hi - blo, 1))


def _set_differences(rows: list[dict], games: dict[str, list[Game]] | None, boot: JointBootstrap | None,
                     stream: str) -> None:
    """Fills each row's difference from the baseline row (in place); rows of a temperature without one get a note."""
    base = rows[0] if rows and rows[0]["baseline"] else None
    if base is None:
        for r in rows:
            r["diff_note"] = f"no {BASELINE}-protocol result at this temperature to compare with"
        return
    rated = [r for r in rows if r["elo"] is not None]
    two_sided = [r for r in rated if r["elo_bound"] is None]
    samples = {} if games is None or boot is None or base not in two_sided else \
        {_key(r): boot.samples(games[_key(r)], f"{stream}/{_key(r)}") for r in two_sided}
    for r in rated:
        if r is base or base["elo"] is None:
            continue
        if _key(r) in samples:
            r["diff"], r["diff_method"] = round(r["elo"] - base["elo"], 1), JOINT_BOOTSTRAP
            r["diff_ci95"] = list(_difference_interval(samples[_key(r)], samples[_key(base)]))
            continue
        r["diff_method"], ends = _combined_ends(r, base)
        r["diff_ci95"] = list(ends)
        if r["diff_method"] == QUADRATURE:
            r["diff"] = round(r["elo"] - base["elo"], 1)
        else:
            one_sided = [x["name"] for x in (r, base) if x["elo_bound"] is not None]
            r["diff_note"] = f"one-sided ({', '.join(one_sided)} won or lost every game): bounded by the interval ends"


def _records_and_rungs(run: RunData, step: int, ratings: dict, n_boot: int) -> tuple[list[dict] | None, RungDraws | None, str]:
    """The step's game records (None when they are not here) and the ladder's rungs as the eval drew them."""
    records, _ = unique_games(read_all_records(RunDir(run.path).eval_step(step)))
    if not records:
        return None, None, "no game records here"
    rungs_info = ratings.get("rungs") or {}
    if not rungs_info.get("refit"):
        return records, None, "rungs held at their table values, as in ratings.json"
    fit = ratings.get("fit") or {}
    try:
        rungs, _ = prepare_rungs(ratings["anchor_table"], ratings["anchors"], n_boot=n_boot,
                                 draw_model=fit.get("draw_model", "half"),
                                 white_advantage=bool(fit.get("white_advantage", False)))
    except (OSError, ValueError) as err:
        log.warning("the rungs of table %s cannot be refitted here (%s): the differences' bootstrap holds them fixed",
                    ratings["anchor_table"], err)
        return records, None, f"rungs held fixed: table {ratings['anchor_table']!r} cannot be refitted here"
    return records, rungs, f"the ladder's {rungs.games if rungs else 0} games resampled with every draw, shared"


def _row_order(result: dict) -> tuple:
    """The baseline first (in move mode, the protocol's own), then by label."""
    label = protocol_of(result)["label"]
    return label != BASELINE, label, result.get("mode", "move") != "move"


def _key(row: dict) -> str:
    return f"{row['label']}/{row['mode']}"


def compare_protocols(run: RunData, step: int, n_boot: int | None = None) -> dict:
    """The protocol comparison of one evaluated step (summary.json's "protocols"): per temperature, a row per
    protocol label with its difference from the `fixed` row; `n_boot` (default: ratings.json's) resamples."""
    ratings = run.evals[step]
    n_boot = n_boot or int((ratings.get("fit") or {}).get("n_boot") or 1000)
    labels = protocol_labels(ratings)
    records, rungs, rungs_text = _records_and_rungs(run, step, ratings, n_boot) if len(labels) > 1 else (None, None, "")
    boot = JointBootstrap(ratings, rungs, n_boot) if records is not None else None
    tables = []
    for temp in sorted({r["temperature"] for r in ratings["results"]}):
        results = sorted((r for r in ratings["results"] if r["temperature"] == temp), key=_row_order)
        baseline = next((protocol_of(r) for r in results if protocol_of(r)["label"] == BASELINE),
                        PRESETS[BASELINE].record())
        rows = [_wdl_row(r, baseline, k == 0 and protocol_of(r)["label"] == BASELINE) for k, r in enumerate(results)]
        games = None if records is None else \
            {_key(row): _rated_games(records, r, ratings["model"], ratings["anchors"]) for row, r in zip(rows, results)}
        if games is not None and any(len(games[_key(row)]) != row["games"] for row in rows):
            log.warning("step %d T=%g: the game records do not match ratings.json's game counts (rerun transcend "
                        "eval to rate them); the differences combine the recorded intervals instead", step, temp)
            games = None
        _set_differences(rows, games, boot, f"T{temp:g}")
        tables.append({"temperature": temp, "rows": rows})
    method = (f"{JOINT_BOOTSTRAP} where both ratings are two-sided ({n_boot} resamples; {rungs_text})" if records is not None
              else f"{QUADRATURE} of the recorded intervals (no game records here)" if len(labels) > 1 else None)
    return {"step": step, "labels": labels, "n_boot": n_boot, "method": method, "tables": tables}
