"""The fit's options: Davidson's draw model and a White advantage recover known values from simulated games,
and change nothing when the games have no draws and no colour effect."""
import math

import numpy as np
import pytest

from arena.likelihood import ELO_K
from arena.ratings import fit_info, rate_players

ANCHORS = {"a1": 1400.0, "a2": 1700.0, "a3": 2000.0}
TRUTH = {"x": 1550.0, "y": 1850.0}


def _simulate(nu: float, white_elo: float, n_per_pair: int, seed: int) -> list[tuple[str, str, float]]:
    """Davidson games (White, Black, White's score) of x and y against every anchor and each other, colours alternating."""
    rng = np.random.default_rng(seed)
    ratings = {**ANCHORS, **TRUTH}
    pairs = [(p, q) for p in TRUTH for q in ratings if q != p and not (q in TRUTH and q < p)]
    games = []
    for p, q in pairs:
        for k in range(n_per_pair):
            white, black = (p, q) if k % 2 == 0 else (q, p)
            d = ELO_K * (ratings[white] + white_elo - ratings[black])
            weights = np.array([math.exp(d / 2), nu, math.exp(-d / 2)])
            games.append((white, black, float(rng.choice([1.0, 0.5, 0.0], p=weights / weights.sum()))))
    return games


def test_davidson_and_white_advantage_recover_known_values():
    games = _simulate(nu=0.8, white_elo=60.0, n_per_pair=1500, seed=0)
    fit = rate_players(games, ANCHORS, n_boot=0, draw_model="davidson", white_advantage=True)
    assert fit["x"].draw_nu == pytest.approx(0.8, rel=0.1)
    assert fit["x"].white_advantage == pytest.approx(60.0, abs=12)
    assert fit["y"].draw_nu == fit["x"].draw_nu and fit["y"].white_advantage == fit["x"].white_advantage
    for name, truth in TRUTH.items():
        assert fit[name].elo == pytest.approx(truth, abs=20)  # 7500 games each: standard error ~6 Elo
        assert fit[name].draw_rate == pytest.approx(fit[name].draws / fit[name].games)
    half = rate_players(games, ANCHORS, n_boot=0)  # no options: no extras reported
    assert half["x"].white_advantage is None and half["x"].draw_nu is None


def test_without_draws_or_colour_effect_the_options_give_the_same_ratings():
    games = _simulate(nu=0.0, white_elo=0.0, n_per_pair=200, seed=1)
    assert all(s != 0.5 for _, _, s in games)
    half = rate_players(games, ANCHORS, n_boot=0)
    davidson = rate_players(games, ANCHORS, n_boot=0, draw_model="davidson")
    both = rate_players(games, ANCHORS, n_boot=0, draw_model="davidson", white_advantage=True)
    for name in TRUTH:
        assert davidson[name].elo == pytest.approx(half[name].elo, abs=1e-6)  # nu = 0: exactly Bradley-Terry
        assert davidson[name].draw_nu == 0.0
        assert both[name].elo == pytest.approx(half[name].elo, abs=5)
    assert abs(both["x"].white_advantage) < 30  # 1000 games: standard error ~12 Elo


def test_the_options_are_recorded_and_bounds_still_work():
    assert fit_info(0, 100) == {"method": "bradley-terry-mle", "prior_draws": 0, "anchors_fixed": True,
                                "interval": "bootstrap-95", "n_boot": 100}  # defaults: as before the options
    assert fit_info(0, 100, "davidson", True) == {**fit_info(0, 100), "draw_model": "davidson", "white_advantage": True}
    games = [("m", "a1", 0.0), ("a1", "m", 1.0)] * 5 + _simulate(nu=0.5, white_elo=30.0, n_per_pair=20, seed=2)
    fit = rate_players(games, ANCHORS, n_boot=50, draw_model="davidson", white_advantage=True)
    assert fit["m"].bound == "upper" and fit["m"].elo < 1400 and fit["x"].bound is None
    # Ten losses have probability 5% at the bound, under the fitted model (colours, draws and all).
    h, nu = fit["m"].white_advantage, fit["m"].draw_nu
    d_white, d_black = ELO_K * (fit["m"].elo + h - 1400.0), ELO_K * (1400.0 + h - fit["m"].elo)
    p_loss_white = math.exp(-d_white / 2) / (math.exp(d_white / 2) + nu + math.exp(-d_white / 2))
    p_loss_black = math.exp(d_black / 2) / (math.exp(d_black / 2) + nu + math.exp(-d_black / 2))
    assert (p_loss_white * p_loss_black) ** 5 == pytest.approx(0.05, rel=1e-4)
    with pytest.raises(ValueError, match="draw model"):
        rate_players(games, ANCHORS, draw_model="ordo")
    with pytest.raises(ValueError, match="every game is a draw"):
        rate_players([("m", "a1", 0.5), ("a1", "m", 0.5)], ANCHORS, n_boot=0, draw_model="davidson")
    with pytest.raises(ValueError, match="White advantage needs"):  # m always White: its rating and h are one
        rate_players([("m", "a1", 1.0), ("m", "a1", 0.0)] * 3, ANCHORS, n_boot=0, white_advantage=True)
