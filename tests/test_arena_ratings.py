"""Ratings: Glicko-2 against Glickman's worked example, MLE Elo recovery, one-sided bounds, anchor tables."""
import json
import math

import numpy as np
import pytest

from arena.anchors import PAPER_ANCHORS, load_anchor_table
from arena.ratings import (
    bootstrap_interval,
    fit_bradley_terry,
    fit_bradley_terry_detailed,
    glicko2_update,
    glicko2_vs_anchors,
)


def test_glicko2_matches_glickmans_worked_example():
    # Glickman, "Example of the Glicko-2 system" (2012): the paper rounds intermediate values, hence 0.02.
    rating, rd, vol = glicko2_update(1500, 200, 0.06, [(1400, 30, 1), (1550, 100, 0), (1700, 300, 0)])
    assert rating == pytest.approx(1464.06, abs=0.02)
    assert rd == pytest.approx(151.52, abs=0.01)
    assert vol == pytest.approx(0.05999, abs=1e-5)


def test_glicko2_one_period_is_order_independent():
    games = [("m", "stockfish-l1", 1.0), ("m", "stockfish-l3", 0.0), ("stockfish-l2", "m", 0.5)] * 5
    a = glicko2_vs_anchors("m", games, PAPER_ANCHORS)
    b = glicko2_vs_anchors("m", games[::-1], PAPER_ANCHORS)
    assert a == pytest.approx(b, rel=1e-12)


def _simulate(true_elo: float, n_per_anchor: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    games = []
    for name, r in PAPER_ANCHORS.items():
        p = 1.0 / (1.0 + 10 ** ((r - true_elo) / 400))
        for k in range(n_per_anchor):
            s = float(rng.random() < p)
            games.append(("model", name, s) if k % 2 else (name, "model", 1.0 - s))
    return games


def test_mle_elo_recovers_a_known_rating_inside_its_interval():
    games = _simulate(1800.0, 60, seed=1)
    est = fit_bradley_terry(games, PAPER_ANCHORS)["model"]
    lo, hi, bound = bootstrap_interval(games, PAPER_ANCHORS, "model", n_boot=300, seed=1)
    assert bound is None
    assert lo < est < hi
    assert lo <= 1800.0 <= hi
    assert abs(est - 1800.0) < 80  # 300 games: the standard error is about 25 Elo
    assert 40 < hi - lo < 200


def test_bootstrap_interval_covers_the_true_rating_about_95_percent_of_the_time():
    covered = 0
    for seed in range(30):
        true_elo = 1400.0 + 25 * seed
        lo, hi, _ = bootstrap_interval(_simulate(true_elo, 20, seed), PAPER_ANCHORS, "model", n_boot=200, seed=seed)
        covered += lo <= true_elo <= hi
    assert covered >= 25  # expected 28.5 of 30; P(< 25 | 95% coverage) < 1%


def test_mle_elo_of_an_even_score_against_one_anchor_is_that_anchor():
    games = [("model", "stockfish-l3", 1.0), ("model", "stockfish-l3", 0.0), ("stockfish-l3", "model", 0.5)] * 4
    assert fit_bradley_terry(games, PAPER_ANCHORS)["model"] == pytest.approx(1867.0, abs=1e-6)
    # 3:1 odds are exactly +400 * log10(3) Elo.
    games = [("model", "stockfish-l1", 1.0)] * 3 + [("stockfish-l1", "model", 1.0)]
    assert fit_bradley_terry(games, PAPER_ANCHORS)["model"] == pytest.approx(1554 + 400 * math.log10(3), abs=1e-6)


def test_all_wins_gives_a_marked_lower_bound():
    games = [("model", "stockfish-l5", 1.0)] * 5 + [("stockfish-l5", "model", 0.0)] * 5
    lo, hi, bound = bootstrap_interval(games, PAPER_ANCHORS, "model", n_boot=50)
    assert bound == "lower" and hi == math.inf
    # 10 wins have probability 5% when each has probability 0.05 ** 0.1.
    p = 0.05 ** 0.1
    assert lo == pytest.approx(2148 + 400 * math.log10(p / (1 - p)), abs=1e-3)
    fit = fit_bradley_terry_detailed(games, PAPER_ANCHORS)
    assert fit.bounds == {"model": "lower"} and fit.ratings["model"] == pytest.approx(lo)


def test_all_losses_gives_a_marked_upper_bound():
    games = [("model", "stockfish-l1", 0.0)] * 20
    lo, hi, bound = bootstrap_interval(games, PAPER_ANCHORS, "model", n_boot=50)
    assert bound == "upper" and lo == -math.inf and hi < 1554 - 300


def test_ladder_fit_rates_unanchored_players_through_chains():
    # random < a < anchor: `a` is rated from its games with the anchor, `random` (all losses) gets an upper bound.
    games = ([("a", "stockfish-l1", 1.0)] * 3 + [("a", "stockfish-l1", 0.0)] * 9
             + [("random", "a", 0.0)] * 10)
    fit = fit_bradley_terry_detailed(games, PAPER_ANCHORS)
    assert fit.ratings["a"] == pytest.approx(1554 - 400 * math.log10(3), abs=1e-6)
    assert fit.bounds == {"random": "upper"} and fit.ratings["random"] < fit.ratings["a"]


def test_bad_inputs_are_rejected_with_a_reason():
    with pytest.raises(ValueError, match="no chain of games"):
        fit_bradley_terry([("x", "y", 1.0), ("model", "stockfish-l1", 0.5)], PAPER_ANCHORS)
    with pytest.raises(ValueError, match="none of the players"):
        fit_bradley_terry([("x", "y", 1.0)], PAPER_ANCHORS)
    with pytest.raises(ValueError, match="scores must be"):
        fit_bradley_terry([("x", "stockfish-l1", 2.0)], PAPER_ANCHORS)


def test_anchor_tables_load_by_name_and_file(tmp_path):
    assert load_anchor_table("paper") == PAPER_ANCHORS
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"ratings": {"random": 100.0, "stockfish-l1": 1554}, "note": "x"}))
    assert load_anchor_table(str(path)) == {"random": 100.0, "stockfish-l1": 1554.0}
    with pytest.raises(FileNotFoundError, match="neither a file nor a bundled table"):
        load_anchor_table("no-such-table")
    path.write_text(json.dumps({"ratings": {"random": "weak"}}))
    with pytest.raises(ValueError, match="'ratings' map"):
        load_anchor_table(str(path))
