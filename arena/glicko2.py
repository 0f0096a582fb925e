"""Glicko-2 against fixed anchors: one rating period over all games (ours), or one period per game (the paper's).

The paper (chess_research/eval/glicko2.py, GlickoCalc, and eval/evaluation.py lines 191-199) starts the
model at 1500 / RD 500 / volatility 0.06 with tau 0.5, holds Stockfish at RD 0, and runs one rating
period per game, so its rating depends on the order of the games: 30 wins, 10 draws, 60 losses against
skill 1 (1554) end at 1191, the same games reversed at 1782. One period over all games
(`glicko2_vs_anchors`) is order independent.

Glicko-2 is one Newton step from its prior per period, so a record far from the prior moves the
rating far (8 losses to the random mover from 1500 / 350 land near -4100), and a very surprising one
(100 such losses) makes the volatility equation's root (Glickman's step 5) large (about 1100): that is
Glicko-2's own answer, solved exactly by the Illinois iteration (tests/test_arena_glicko2.py checks it
against an independent root finder), not a bug. The headline rating is the Bradley-Terry fit.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import expit

GLICKO_SCALE = 173.7178  # Glicko-2's conversion between the Glicko scale and its internal mu/phi scale
ANCHOR_RD = 0.0  # anchors are fixed by definition; their ratings carry no uncertainty in Glicko-2
ILLINOIS_EPS = 1e-6  # convergence of step 5 (Glickman's epsilon; the paper's EPSILON)
PAPER_START = (1500.0, 500.0, 0.06)  # the paper's GlickoCalc: nanogpt_rating, nanogpt_rd, nanogpt_v
PAPER_TAU = 0.5
PERIOD_START = (1500.0, 350.0, 0.06)  # our one-period rating: Glickman's default new-player RD
PAPER_DECIMALS = 8  # GlickoCalc.rating_update rounds the state to 8 decimals after every game

Game = tuple[str, str, float]  # (White, Black, White's score: 1, 0.5 or 0)


def volatility_step(phi: float, vol: float, delta: float, v: float, tau: float) -> float:
    """Glickman (2012) step 5: the new volatility, the root of f by the Illinois (regula falsi) iteration."""
    a = math.log(vol**2)

    def f(x: float) -> float:
        ex = math.exp(x)
        return ex * (delta**2 - phi**2 - v - ex) / (2.0 * (phi**2 + v + ex) ** 2) - (x - a) / tau**2

    big_a = a
    if delta**2 > phi**2 + v:
        big_b = math.log(delta**2 - phi**2 - v)
    else:
        k = 1
        while f(a - k * tau) < 0:
            k += 1
        big_b = a - k * tau
    f_a, f_b = f(big_a), f(big_b)
    while abs(big_b - big_a) > ILLINOIS_EPS:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    return math.exp(big_a / 2.0)


def glicko2_update(rating: float, rd: float, vol: float, opponents: list[tuple[float, float, float]],
                   tau: float = 0.5) -> tuple[float, float, float]:
    """One Glicko-2 rating period (Glickman 2012, steps 2-8); opponents are (rating, rd, score)."""
    mu, phi = (rating - 1500.0) / GLICKO_SCALE, rd / GLICKO_SCALE
    if not opponents:
        return rating, math.sqrt(phi**2 + vol**2) * GLICKO_SCALE, vol
    mu_j = np.array([(r - 1500.0) / GLICKO_SCALE for r, _, _ in opponents])
    phi_j = np.array([d / GLICKO_SCALE for _, d, _ in opponents])
    s_j = np.array([s for _, _, s in opponents], dtype=np.float64)
    g_j = 1.0 / np.sqrt(1.0 + 3.0 * phi_j**2 / math.pi**2)
    z_j = g_j * (mu - mu_j)
    e_j = expit(z_j)
    # E(1 - E) as expit(z) * expit(-z): 1 - E rounds to 0 for a gap over ~6000 Elo (v would divide by zero)
    info = float(np.sum(g_j**2 * e_j * expit(-z_j)))
    if info == 0.0:
        return rating, math.sqrt(phi**2 + vol**2) * GLICKO_SCALE, vol  # the games carry no information
    v = 1.0 / info
    delta = v * float(np.sum(g_j * (s_j - e_j)))
    new_vol = volatility_step(phi, vol, delta, v, tau)
    phi_star = math.sqrt(phi**2 + new_vol**2)
    new_phi = 1.0 / math.sqrt(1.0 / phi_star**2 + 1.0 / v)
    new_mu = mu + new_phi**2 * float(np.sum(g_j * (s_j - e_j)))
    return new_mu * GLICKO_SCALE + 1500.0, new_phi * GLICKO_SCALE, new_vol


def _opponents(player: str, games: list[Game], anchors: dict[str, float]) -> list[tuple[float, float, float]]:
    """`player`'s games against anchors as Glicko-2 opponents (rating, RD 0, player's score), in game order."""
    out = []
    for a, b, s in games:
        if a == player and b in anchors:
            out.append((anchors[b], ANCHOR_RD, s))
        elif b == player and a in anchors:
            out.append((anchors[a], ANCHOR_RD, 1.0 - s))
    return out


def glicko2_vs_anchors(player: str, games: list[Game], anchors: dict[str, float],
                       start: tuple[float, float, float] = PERIOD_START) -> tuple[float, float, float]:
    """`player`'s Glicko-2 rating after ONE rating period over all its games against anchors."""
    return glicko2_update(*start, _opponents(player, games, anchors))


def glicko2_per_game(player: str, games: list[Game], anchors: dict[str, float],
                     start: tuple[float, float, float] = PAPER_START, tau: float = PAPER_TAU) -> tuple[float, float, float]:
    """The paper's rating: one Glicko-2 period per game, in the order of `games`, the anchors at RD 0.

    Reproduces GlickoCalc.glicko2_update (chess_research/eval/glicko2.py lines 200-229): each game rates
    the model against the anchor alone, and the state is rounded to 8 decimals after each (lines 195-198).
    """
    state = start
    for opponent in _opponents(player, games, anchors):
        rating, rd, vol = glicko2_update(*state, [opponent], tau=tau)
        state = (round(rating, PAPER_DECIMALS), round(rd, PAPER_DECIMALS), round(vol, PAPER_DECIMALS))
    return state
