"""Ratings: MLE Elo recovery, one-sided bounds, anchor tables (Glicko-2: tests/test_arena_glicko2.py)."""
import json
import math

import numpy as np
import pytest

from arena.anchors import PAPER_ANCHORS, load_anchor_table
from arena.ratings import PRIOR_DRAWS, fit_info, rate_players


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
    fit = rate_players(games, PAPER_ANCHORS, n_boot=300, seed=1)["model"]
    lo, hi = fit.ci95
    assert fit.bound is None
    assert lo < fit.elo < hi
    assert lo <= 1800.0 <= hi
    assert abs(fit.elo - 1800.0) < 80  # 300 games: the standard error is about 25 Elo
    assert 40 < hi - lo < 200
    assert (fit.games, fit.wins + fit.draws + fit.losses) == (300, 300)
    assert fit.score == pytest.approx(sum(s if a == "model" else 1.0 - s for a, _, s in games) / 300)


def test_bootstrap_interval_covers_the_true_rating_about_95_percent_of_the_time():
    covered = 0
    for seed in range(30):
        true_elo = 1400.0 + 25 * seed
        lo, hi = rate_players(_simulate(true_elo, 20, seed), PAPER_ANCHORS, n_boot=200, seed=seed)["model"].ci95
        covered += lo <= true_elo <= hi
    assert covered >= 25  # expected 28.5 of 30; P(< 25 | 95% coverage) < 1%


def test_mle_elo_of_an_even_score_against_one_anchor_is_that_anchor():
    games = [("model", "stockfish-l3", 1.0), ("model", "stockfish-l3", 0.0), ("stockfish-l3", "model", 0.5)] * 4
    assert rate_players(games, PAPER_ANCHORS, n_boot=0)["model"].elo == pytest.approx(1867.0, abs=1e-6)
    # 3:1 odds are exactly +400 * log10(3) Elo.
    games = [("model", "stockfish-l1", 1.0)] * 3 + [("stockfish-l1", "model", 1.0)]
    fit = rate_players(games, PAPER_ANCHORS, n_boot=0)["model"]
    assert fit.elo == pytest.approx(1554 + 400 * math.log10(3), abs=1e-6)
    assert (fit.wins, fit.draws, fit.losses) == (3, 0, 1) and fit.ci95 == (None, None)  # no bootstrap asked for


def test_all_wins_gives_a_marked_lower_bound():
    games = [("model", "stockfish-l5", 1.0)] * 5 + [("stockfish-l5", "model", 0.0)] * 5
    fit = rate_players(games, PAPER_ANCHORS, n_boot=50)["model"]
    assert fit.bound == "lower" and fit.ci95 == (fit.elo, None)
    # 10 wins have probability 5% when each has probability 0.05 ** 0.1.
    p = 0.05 ** 0.1
    assert fit.elo == pytest.approx(2148 + 400 * math.log10(p / (1 - p)), abs=1e-3)


def test_all_losses_gives_a_marked_upper_bound():
    games = [("model", "stockfish-l1", 0.0)] * 20
    fit = rate_players(games, PAPER_ANCHORS, n_boot=50)["model"]
    assert fit.bound == "upper" and fit.ci95 == (None, fit.elo) and fit.elo < 1554 - 300
    assert (fit.games, fit.losses) == (20, 20)


def test_ladder_fit_rates_unanchored_players_through_chains():
    # random < a < anchor: `a` is rated from its games with the anchor, `random` (all losses) gets an upper bound.
    games = ([("a", "stockfish-l1", 1.0)] * 3 + [("a", "stockfish-l1", 0.0)] * 9
             + [("random", "a", 0.0)] * 10)
    fit = rate_players(games, PAPER_ANCHORS, n_boot=50)
    assert set(fit) == {"a", "random"}  # anchors are not returned
    assert fit["a"].elo == pytest.approx(1554 - 400 * math.log10(3), abs=1e-6) and fit["a"].bound is None
    assert fit["random"].bound == "upper" and fit["random"].elo < fit["a"].elo
    assert set(rate_players(games, PAPER_ANCHORS, players=["random"], n_boot=0)) == {"random"}


def test_a_prior_of_virtual_draws_pulls_towards_the_anchors_and_keeps_the_record_real():
    games = [("model", "stockfish-l1", 0.0)] * 20  # no finite MLE without a prior
    fit = rate_players(games, PAPER_ANCHORS, prior_draws=1, n_boot=0)["model"]
    # 0.5 points from 21 games against one anchor: exactly that odds ratio, no longer a bound.
    assert fit.bound is None and fit.elo == pytest.approx(1554 + 400 * math.log10(0.5 / 20.5), abs=1e-6)
    assert (fit.games, fit.draws, fit.losses) == (20, 0, 20)
    assert PRIOR_DRAWS == 0 and fit_info()["prior_draws"] == 0  # the project's fit: no prior, for everyone
    assert fit_info(1, 300) == {"method": "bradley-terry-mle", "prior_draws": 1, "anchors_fixed": True,
                                "interval": "bootstrap-95", "n_boot": 300}


def test_bad_inputs_are_rejected_with_a_reason():
    with pytest.raises(ValueError, match="no chain of games"):
        rate_players([("x", "y", 1.0), ("model", "stockfish-l1", 0.5)], PAPER_ANCHORS, n_boot=0)
    with pytest.raises(ValueError, match="none of the players"):
        rate_players([("x", "y", 1.0)], PAPER_ANCHORS, n_boot=0)
    with pytest.raises(ValueError, match="scores must be"):
        rate_players([("x", "stockfish-l1", 2.0)], PAPER_ANCHORS, n_boot=0)
    with pytest.raises(ValueError, match="not identifiable"):  # z beat only x, who won all its games: no scale
        rate_players([("x", "stockfish-l1", 1.0), ("z", "x", 1.0)], PAPER_ANCHORS, n_boot=0)
    games = [("model", "stockfish-l1", 0.5)]
    with pytest.raises(ValueError, match="cannot be rated"):
        rate_players(games, PAPER_ANCHORS, players=["stockfish-l1"], n_boot=0)
    with pytest.raises(ValueError, match="cannot be rated"):
        rate_players(games, PAPER_ANCHORS, players=["nobody"], n_boot=0)
    with pytest.raises(ValueError, match="prior_draws"):
        rate_players(games, PAPER_ANCHORS, prior_draws=-1)


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
