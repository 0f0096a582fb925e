"""Ratings against fixed anchors: Glicko-2 (one rating period), maximum-likelihood Elo, bootstrap intervals.

The paper ran one Glicko-2 rating period per game, so its ratings depended on game order. Here
Glicko-2 is one period over all games, and the headline number is the maximum-likelihood Elo of a
Bradley-Terry model (draws as half points) with the anchors held fixed, with a 95% interval from a
bootstrap over games. A player that wins (loses) every game has no finite maximum-likelihood
rating; it gets a one-sided 95% bound instead: the rating at which its record would have
probability 5%, marked "lower" (it is at least that strong) or "upper".

`rate_players` is the one fit: experts, ladder rungs and models are all rated by it, with the same
prior (PRIOR_DRAWS), and `fit_info` is recorded beside every rating it produces.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.optimize import brentq

GLICKO_SCALE = 173.7178  # Glicko-2's conversion between the Glicko scale and its internal mu/phi scale
ELO_K = math.log(10.0) / 400.0  # Elo: P(a beats b) = 1 / (1 + 10 ** ((r_b - r_a) / 400))
BOUND_ALPHA = 0.05  # one-sided bounds are 95% bounds
ANCHOR_RD = 0.0  # anchors are fixed by definition; their ratings carry no uncertainty in Glicko-2


Game = tuple[str, str, float]  # (player a, player b, a's score: 1, 0.5 or 0)


# --------------------------------------------------------------------------- Glicko-2
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
    e_j = 1.0 / (1.0 + np.exp(-g_j * (mu - mu_j)))
    v = 1.0 / float(np.sum(g_j**2 * e_j * (1.0 - e_j)))
    delta = v * float(np.sum(g_j * (s_j - e_j)))

    # Step 5: new volatility by the Illinois algorithm.
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
    while abs(big_b - big_a) > 1e-6:
        big_c = big_a + (big_a - big_b) * f_a / (f_b - f_a)
        f_c = f(big_c)
        if f_c * f_b <= 0:
            big_a, f_a = big_b, f_b
        else:
            f_a /= 2.0
        big_b, f_b = big_c, f_c
    new_vol = math.exp(big_a / 2.0)

    phi_star = math.sqrt(phi**2 + new_vol**2)
    new_phi = 1.0 / math.sqrt(1.0 / phi_star**2 + 1.0 / v)
    new_mu = mu + new_phi**2 * float(np.sum(g_j * (s_j - e_j)))
    return new_mu * GLICKO_SCALE + 1500.0, new_phi * GLICKO_SCALE, new_vol


def glicko2_vs_anchors(player: str, games: list[Game], anchors: dict[str, float],
                       start: tuple[float, float, float] = (1500.0, 350.0, 0.06)) -> tuple[float, float, float]:
    """`player`'s Glicko-2 rating after ONE rating period over all its games against anchors."""
    opponents = []
    for a, b, s in games:
        if a == player and b in anchors:
            opponents.append((anchors[b], ANCHOR_RD, s))
        elif b == player and a in anchors:
            opponents.append((anchors[a], ANCHOR_RD, 1.0 - s))
    return glicko2_update(*start, opponents)


# --------------------------------------------------------------------------- Bradley-Terry MLE
class _Problem:
    """Games indexed once, so bootstrap resamples only change per-game weights."""

    def __init__(self, games: list[Game], anchors: dict[str, float]):
        if not games:
            raise ValueError("no games to rate")
        self.names = sorted({a for a, _, _ in games} | {b for _, b, _ in games})
        index = {n: i for i, n in enumerate(self.names)}
        self.a = np.array([index[a] for a, _, _ in games])
        self.b = np.array([index[b] for _, b, _ in games])
        self.s = np.array([float(s) for _, _, s in games])
        if np.any((self.s < 0) | (self.s > 1)):
            raise ValueError("game scores must be in [0, 1] (1 win, 0.5 draw, 0 loss for player a)")
        if np.any(self.a == self.b):
            raise ValueError("a player cannot play itself")
        self.anchor = np.array([n in anchors for n in self.names])
        self.fixed = np.array([anchors.get(n, 0.0) for n in self.names], dtype=np.float64)
        if not self.anchor.any():
            raise ValueError(f"none of the players {self.names} is an anchor {sorted(anchors)}; ratings would float")
        self._check_connected()

    def _check_connected(self) -> None:
        reached = self.anchor.copy()
        while True:
            grow = reached[self.a] | reached[self.b]
            new = reached.copy()
            new[self.a[grow]] = True
            new[self.b[grow]] = True
            if (new == reached).all():
                break
            reached = new
        if not reached.all():
            lost = [n for n, r in zip(self.names, reached) if not r]
            raise ValueError(f"players {lost} have no chain of games to any anchor; their ratings are undefined")

    def fit(self, w: np.ndarray, alpha: float = BOUND_ALPHA) -> tuple[np.ndarray, dict[int, str]]:
        """Ratings (Elo) of all players for game weights `w`, and which are one-sided bounds.

        With the anchors fixed, the maximum-likelihood ratings are finite exactly when every player
        can reach an anchor, and be reached from one, along "scored against" edges (a -> b when a
        won or drew a game against b). A group that cannot reach an anchor lost every game it played
        outside the group (its MLE is -infinity): each member gets an upper bound from those losses.
        Symmetrically for groups that won every game outside (lower bounds).
        """
        n = len(self.names)
        active = w > 0
        adj = np.zeros((n, n), bool)
        scored, conceded = active & (self.s > 0), active & (self.s < 1)
        adj[self.a[scored], self.b[scored]] = True
        adj[self.b[conceded], self.a[conceded]] = True
        reaches, reached = self.anchor.copy(), self.anchor.copy()
        while True:
            new_reaches = reaches | adj[:, reaches].any(axis=1)
            new_reached = reached | adj[reached, :].any(axis=0)
            if (new_reaches == reaches).all() and (new_reached == reached).all():
                break
            reaches, reached = new_reaches, new_reached
        upper, lower = ~reaches, ~reached
        if np.any(upper & lower):
            raise ValueError(f"players {[self.names[i] for i in np.flatnonzero(upper & lower)]} have no "
                             "informative games (no wins, draws or losses linking them to an anchor)")
        finite = ~upper & ~lower
        r = self._newton(self.fixed.copy(), finite & ~self.anchor, w * (active & finite[self.a] & finite[self.b]))
        bounds = {int(i): "upper" for i in np.flatnonzero(upper)} | {int(i): "lower" for i in np.flatnonzero(lower)}
        rated = finite.copy()
        pending = dict(bounds)
        partial = False  # True once no bound can wait for all its opponents: use the rated ones only
        while pending:  # a bound uses the games outside the player's group, against rated opponents
            progress = False
            for i, kind in list(pending.items()):
                group = upper if kind == "upper" else lower
                mine = active & ((self.a == i) | (self.b == i))
                opp_all = np.where(self.a == i, self.b, self.a)
                mine &= ~group[opp_all]
                if partial:  # an all-loser who lost to an all-winner: that game only loosens its bound
                    mine &= rated[opp_all]
                opp = opp_all[mine]
                if opp.size == 0 or not rated[opp].all():
                    continue
                r[i] = _one_sided_bound(r[opp], w[mine], kind, alpha)
                rated[i], progress = True, True
                del pending[i]
            if not progress and not partial:
                partial = True
                continue
            partial = False
            if not progress:
                raise ValueError(f"ratings of {[self.names[i] for i in pending]} are not identifiable: they only "
                                 "played each other or other players with one-sided results")
        return r, bounds

    def _newton(self, r: np.ndarray, free: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Maximise the (concave) Bradley-Terry log-likelihood over the free players by damped Newton."""
        idx = np.flatnonzero(free)
        if idx.size == 0:
            return r
        pos = -np.ones(len(self.names), dtype=np.int64)
        pos[idx] = np.arange(idx.size)
        pa, pb = pos[self.a], pos[self.b]
        for _ in range(200):
            e = 1.0 / (1.0 + np.exp(-ELO_K * (r[self.a] - r[self.b])))
            gi = w * ELO_K * (self.s - e)
            hi = w * ELO_K**2 * e * (1.0 - e)
            grad = np.zeros(idx.size)
            hess = np.zeros((idx.size, idx.size))
            ma, mb = pa >= 0, pb >= 0
            np.add.at(grad, pa[ma], gi[ma])
            np.add.at(grad, pb[mb], -gi[mb])
            np.add.at(hess, (pa[ma], pa[ma]), -hi[ma])
            np.add.at(hess, (pb[mb], pb[mb]), -hi[mb])
            both = ma & mb
            np.add.at(hess, (pa[both], pb[both]), hi[both])
            np.add.at(hess, (pb[both], pa[both]), hi[both])
            step = np.linalg.solve(hess - 1e-12 * np.eye(idx.size), -grad)
            step = np.clip(step, -400.0, 400.0)  # damping: far from the optimum Newton can overshoot
            r[idx] += step
            if np.max(np.abs(step)) < 1e-7:
                return r
        raise ValueError("Bradley-Terry fit did not converge: a group of players won or lost all its games "
                         "against the rest (add games between the groups)")


def _one_sided_bound(opp_r: np.ndarray, w: np.ndarray, kind: str, alpha: float) -> float:
    """The rating R at which an all-win ("lower") / all-loss ("upper") record has probability alpha."""
    sign = 1.0 if kind == "lower" else -1.0

    def log_p(r: float) -> float:  # log P(record | R) - log(alpha); increasing in sign * R
        return float(np.sum(w * -np.logaddexp(0.0, -sign * ELO_K * (r - opp_r)))) - math.log(alpha)

    centre = float(np.average(opp_r, weights=w))
    return brentq(log_p, centre - 4000.0, centre + 4000.0, xtol=1e-6)


def _bootstrap_percentiles(prob: _Problem, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """2.5th and 97.5th percentiles of every player's rating over `n_boot` resamples of the games."""
    n_games = len(prob.s)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n_boot):
        w = rng.multinomial(n_games, np.full(n_games, 1.0 / n_games)).astype(np.float64)
        try:
            samples.append(prob.fit(w)[0])
        except ValueError:  # a resample that cuts a player off from the anchors carries no information
            continue
    if len(samples) < n_boot // 2:
        raise ValueError(f"bootstrap: only {len(samples)}/{n_boot} resamples were identifiable; play more games")
    lo, hi = np.percentile(np.array(samples), [2.5, 97.5], axis=0)
    return lo, hi


# --------------------------------------------------------------------------- the one fit
PRIOR_DRAWS = 0  # virtual draws between each rated player and each anchor in its fit; 0 = no prior


@dataclasses.dataclass(frozen=True)
class PlayerRating:
    """One player's rating from `rate_players`, with its record in the real games (prior excluded)."""

    name: str
    elo: float  # maximum-likelihood Elo, or the one-sided bound's value when `bound` is set
    ci95: tuple[float | None, float | None]  # None on the open side of a one-sided bound (and with n_boot=0)
    bound: str | None  # None, "lower" (won every game: at least elo) or "upper" (lost every game)
    games: int
    wins: int
    draws: int
    losses: int

    @property
    def score(self) -> float | None:
        return (self.wins + 0.5 * self.draws) / self.games if self.games else None


def fit_info(prior_draws: int = PRIOR_DRAWS, n_boot: int = 1000) -> dict:
    """How `rate_players` rated: recorded beside every rating it produces (ratings.json, population.json,
    ladder tables), so a report can check that two ratings it compares came from the same fit."""
    return {"method": "bradley-terry-mle", "prior_draws": prior_draws, "anchors_fixed": True,
            "interval": "bootstrap-95", "n_boot": n_boot}


def rate_players(games: list[Game], anchors: dict[str, float], *, players: list[str] | None = None,
                 prior_draws: int = PRIOR_DRAWS, n_boot: int = 1000, seed: int = 0) -> dict[str, PlayerRating]:
    """The project's one rating fit: experts, ladder rungs and models are all rated by this function.

    Bradley-Terry maximum likelihood (draws as half points) with the anchors that appear in `games`
    held fixed, and a 95% bootstrap interval over games (one-sided bounds for players who won or lost
    everything). `prior_draws` adds that many virtual draws between every rated player and every
    anchor in the fit (BayesElo's prior); the same value must be used for everything compared.
    Returns the non-anchor players (or only `players`).
    """
    if prior_draws < 0:
        raise ValueError(f"prior_draws must be >= 0, got {prior_draws}")
    used = [k for k in anchors if any(k in (a, b) for a, b, _ in games)]
    names = sorted({n for a, b, _ in games for n in (a, b)} - set(used))
    fitted = games + [(n, a, 0.5) for n in names for a in used for _ in range(prior_draws)]
    prob = _Problem(fitted, anchors)
    r, bounds = prob.fit(np.ones(len(fitted)))
    if n_boot > 0:
        lo, hi = _bootstrap_percentiles(prob, n_boot, seed)
    else:
        lo = hi = np.full(len(prob.names), math.nan)
    records = _records(games)
    index = {n: i for i, n in enumerate(prob.names) if n in records and n not in used}
    out = {}
    for name in players if players is not None else names:
        if name not in index:
            raise ValueError(f"{name!r} cannot be rated: it is an anchor or played none of the games")
        i = index[name]
        bound = bounds.get(i)
        ci95: tuple[float | None, float | None]
        if bound == "lower":  # at least r: the interval is open above
            ci95 = (float(r[i]), None)
        elif bound == "upper":
            ci95 = (None, float(r[i]))
        else:
            ci95 = (_finite_or_none(lo[i]), _finite_or_none(hi[i]))
        out[name] = PlayerRating(name, float(r[i]), ci95, bound, *records[name])
    return out


def _records(games: list[Game]) -> dict[str, tuple[int, int, int, int]]:
    """(games, wins, draws, losses) of every player, from one pass over the games."""
    tally: dict[str, list[int]] = {}
    for a, b, s in games:
        for name, score in ((a, s), (b, 1.0 - s)):
            t = tally.setdefault(name, [0, 0, 0, 0])
            t[0] += 1
            t[1 if score == 1.0 else 3 if score == 0.0 else 2] += 1
    return {name: (t[0], t[1], t[2], t[3]) for name, t in tally.items()}


def _finite_or_none(x: float) -> float | None:  # nan: no bootstrap was run
    return float(x) if math.isfinite(x) else None
