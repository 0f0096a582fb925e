"""Glicko-2: Glickman's worked example, one period (order independent), the paper's one period per game (order
dependent: the issue's figures), and its behaviour on lopsided records."""
import math

import pytest
from scipy.optimize import brentq

from arena.anchors import PAPER_ANCHORS
from arena.glicko2 import (
    GLICKO_SCALE,
    PAPER_START,
    glicko2_per_game,
    glicko2_update,
    glicko2_vs_anchors,
    volatility_step,
)
from arena.ratings import rate_players

# 30 wins, then 10 draws, then 60 losses against skill 1 (1554): the example.
FORWARD = [("m", "stockfish-l1", 1.0)] * 30 + [("m", "stockfish-l1", 0.5)] * 10 + [("m", "stockfish-l1", 0.0)] * 60


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


def test_per_game_glicko2_reproduces_the_papers_order_dependence():
    forward = glicko2_per_game("m", FORWARD, PAPER_ANCHORS)
    backward = glicko2_per_game("m", FORWARD[::-1], PAPER_ANCHORS)
    assert forward[0] == pytest.approx(1191, abs=1) and backward[0] == pytest.approx(1782, abs=1)
    # The paper's own code (chess_research/eval/glicko2.py GlickoCalc, run on these games) ends at exactly:
    assert forward == pytest.approx((1191.43356628, 71.08137508, 0.05993302), abs=1e-6)
    assert backward == pytest.approx((1781.54837939, 69.212219, 0.05998607), abs=1e-6)
    assert PAPER_START == (1500.0, 500.0, 0.06)
    # The model's colour does not matter to Glicko-2: the same games with the model as Black end the same.
    as_black = [(b, a, 1.0 - s) for a, b, s in FORWARD]
    assert glicko2_per_game("m", as_black, PAPER_ANCHORS) == forward


def test_one_fit_over_the_same_games_is_order_free_and_between_the_two():
    fit = rate_players(FORWARD, PAPER_ANCHORS, n_boot=1000, seed=0)["m"]
    assert fit.elo == pytest.approx(1554 + 400 * math.log10(0.35 / 0.65), abs=1e-6)  # 1446.5
    lo, hi = fit.ci95
    assert lo == pytest.approx(1377, abs=15) and hi == pytest.approx(1512, abs=15)
    assert rate_players(FORWARD[::-1], PAPER_ANCHORS, n_boot=0)["m"].elo == pytest.approx(fit.elo, abs=1e-9)


def _f(x: float, phi: float, vol: float, delta: float, v: float, tau: float) -> float:
    """Glickman's step-5 function, written out independently."""
    a, ex = math.log(vol**2), math.exp(x)
    return ex * (delta**2 - phi**2 - v - ex) / (2.0 * (phi**2 + v + ex) ** 2) - (x - a) / tau**2


def _step5_inputs(rating: float, rd: float, opp: float, score: float, n: int) -> tuple[float, float, float]:
    mu, phi, mu_j = (rating - 1500) / GLICKO_SCALE, rd / GLICKO_SCALE, (opp - 1500) / GLICKO_SCALE
    e = 1.0 / (1.0 + math.exp(-(mu - mu_j)))
    v = 1.0 / (n * e * (1.0 - e))
    return phi, v * n * (score - e), v


@pytest.mark.parametrize("n", [8, 100])
def test_a_huge_volatility_on_lopsided_records_is_glicko2s_own_root(n):
    """100 losses to a player 1662 below (1500 vs the random mover's -162): the volatility equation's root is
    about 1100, and the Illinois iteration finds exactly it; with 8 losses it stays near 0.06."""
    phi, delta, v = _step5_inputs(1500, 350, -162.3, 0.0, n)
    ours = volatility_step(phi, 0.06, delta, v, 0.5)
    upper = math.log(delta**2 - phi**2 - v)  # Glickman's bracket [ln(vol^2), B] when delta^2 > phi^2 + v
    root = brentq(lambda x: _f(x, phi, 0.06, delta, v, 0.5), math.log(0.06**2), upper, xtol=1e-12)
    assert ours == pytest.approx(math.exp(root / 2), rel=1e-5)
    assert (ours > 1000) if n == 100 else (0.06 < ours < 0.07)
    rating, _, vol = glicko2_update(1500, 350, 0.06, [(-162.3, 0.0, 0.0)] * n)
    assert vol == pytest.approx(ours, rel=1e-9) and rating < -4000


def test_a_gap_too_large_for_floating_point_is_no_information_not_a_crash():
    # 1 - E rounds to 0 here; the update must not divide by zero.
    rating, rd, vol = glicko2_update(1500, 350, 0.06, [(-9000.0, 0.0, 1.0)])
    assert math.isfinite(rating) and rating == pytest.approx(1500, abs=1e-6) and rd > 350 and vol == 0.06
