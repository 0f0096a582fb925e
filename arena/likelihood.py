"""The likelihood behind the one rating fit: Bradley-Terry on the Elo scale, maximised with the anchors fixed.

Two outcome models (`DRAW_MODELS`):
- "half": draws count as half a win and half a loss (logistic Bradley-Terry; the project's default);
- "davidson": Davidson's (1970) extension with a fitted draw parameter nu: with d the rating
  difference in natural units, P(win) : P(draw) : P(loss) = e^(d/2) : nu : e^(-d/2), as in BayesElo /
  Ordo. Among decisive games it is exactly Bradley-Terry, so Elo keeps its meaning; nu = 0 is "half"
  on a record without draws.
Either can add a fitted White advantage h (Elo added to White's rating in every game). Games are
(White, Black, White's score). The log-likelihood is concave in (ratings, h, log nu), so Newton finds
its maximum.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

ELO_K = math.log(10.0) / 400.0  # Elo: P(a beats b) = 1 / (1 + 10 ** ((r_b - r_a) / 400))
BOUND_ALPHA = 0.05  # one-sided bounds are 95% bounds
DRAW_MODELS = ("half", "davidson")
MAX_RATING_STEP = 400.0  # Newton damping (Elo): far from the optimum a full step can overshoot
MAX_LOG_NU_STEP = 2.0

Game = tuple[str, str, float]  # (White, Black, White's score: 1, 0.5 or 0)


def outcome_terms(d: np.ndarray, s: np.ndarray, log_nu: float | None) -> tuple[np.ndarray, ...]:
    """Per game: the log-likelihood and its derivatives in d (natural units) and log nu.

    Returns (ll, ll_d, ll_dd, ll_t, ll_tt, ll_dt); log_nu None is the "half" model (no t terms).
    """
    if log_nu is None:
        e, q = expit(d), expit(-d)
        ll = s * -np.logaddexp(0.0, -d) + (1.0 - s) * -np.logaddexp(0.0, d)
        zero = np.zeros_like(d)
        return ll, s - e, -e * q, zero, zero, zero
    win, loss, draw = (s == 1.0), (s == 0.0), (s == 0.5)
    log_z = np.logaddexp(np.logaddexp(d / 2.0, -d / 2.0), log_nu)
    p_w, p_l, p_d = np.exp(d / 2.0 - log_z), np.exp(-d / 2.0 - log_z), np.exp(log_nu - log_z)
    ll = win * d / 2.0 - loss * d / 2.0 + draw * log_nu - log_z
    ll_d = (win.astype(float) - loss) / 2.0 - (p_w - p_l) / 2.0
    ll_dd = -((p_w + p_l) - (p_w - p_l) ** 2) / 4.0
    return ll, ll_d, ll_dd, draw - p_d, -p_d * (1.0 - p_d), (p_w - p_l) * p_d / 2.0


class RatingProblem:
    """Games indexed once, so bootstrap resamples only change per-game weights (and the anchors' values)."""

    def __init__(self, games: list[Game], anchors: dict[str, float], draw_model: str = "half",
                 white_advantage: bool = False):
        if not games:
            raise ValueError("no games to rate")
        if draw_model not in DRAW_MODELS:
            raise ValueError(f"draw model {draw_model!r}: expected one of {', '.join(DRAW_MODELS)}")
        self.draw_model, self.white_advantage = draw_model, white_advantage
        self.names = sorted({a for a, _, _ in games} | {b for _, b, _ in games})
        index = {n: i for i, n in enumerate(self.names)}
        self.a = np.array([index[a] for a, _, _ in games])
        self.b = np.array([index[b] for _, b, _ in games])
        self.s = np.array([float(s) for _, _, s in games])
        if np.any((self.s < 0) | (self.s > 1)):
            raise ValueError("game scores must be in [0, 1] (1 win, 0.5 draw, 0 loss for player a)")
        if draw_model == "davidson" and not np.all(np.isin(self.s, (0.0, 0.5, 1.0))):
            raise ValueError("the davidson draw model needs scores of 1, 0.5 or 0 (win, draw, loss)")
        if np.any(self.a == self.b):
            raise ValueError("a player cannot play itself")
        self.anchor = np.array([n in anchors for n in self.names])
        self.fixed = np.array([anchors.get(n, 0.0) for n in self.names], dtype=np.float64)
        if not self.anchor.any():
            raise ValueError(f"none of the players {self.names} is an anchor {sorted(anchors)}; ratings would float")
        self._check_connected()

    def anchor_values(self, anchors: dict[str, float]) -> np.ndarray:
        """The fixed-rating vector for other values of the same anchors (a bootstrap draw of the rungs)."""
        return np.array([anchors.get(n, 0.0) if a else 0.0 for n, a in zip(self.names, self.anchor)], dtype=np.float64)

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

    def fit(self, w: np.ndarray, fixed: np.ndarray | None = None,
            alpha: float = BOUND_ALPHA) -> tuple[np.ndarray, dict[int, str], dict[str, float]]:
        """Ratings (Elo) of all players for game weights `w`, which are one-sided bounds, and the fitted
        extras ({"white_advantage": Elo, "draw_nu": nu}, those the options ask for).

        With the anchors fixed, the maximum-likelihood ratings are finite exactly when every player
        can reach an anchor, and be reached from one, along "scored against" edges (a -> b when a
        won or drew a game against b). A group that cannot reach an anchor lost every game it played
        outside the group (its MLE is -infinity): each member gets an upper bound from those losses.
        Symmetrically for groups that won every game outside (lower bounds).
        """
        active = w > 0
        upper, lower = self._unbounded_groups(active)
        finite = ~upper & ~lower
        r = (self.fixed if fixed is None else fixed).copy()
        w_finite = w * (active & finite[self.a] & finite[self.b])
        h, log_nu = self._newton(r, finite & ~self.anchor, w_finite)
        bounds = {int(i): "upper" for i in np.flatnonzero(upper)} | {int(i): "lower" for i in np.flatnonzero(lower)}
        self._bound_ratings(r, w, active, upper, lower, bounds, h, log_nu, alpha)
        extras = {}
        if self.white_advantage:
            extras["white_advantage"] = h
        if self.draw_model == "davidson":
            extras["draw_nu"] = 0.0 if log_nu is None else math.exp(log_nu)
        return r, bounds, extras

    def _unbounded_groups(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Players who cannot reach an anchor (upper bounds) and who cannot be reached from one (lower)."""
        n = len(self.names)
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
        return upper, lower

    def _bound_ratings(self, r: np.ndarray, w: np.ndarray, active: np.ndarray, upper: np.ndarray, lower: np.ndarray,
                       bounds: dict[int, str], h: float, log_nu: float | None, alpha: float) -> None:
        """Set r[i] of every bounded player from its games outside its group, against rated opponents."""
        rated = ~upper & ~lower
        pending = dict(bounds)
        partial = False  # True once no bound can wait for all its opponents: use the rated ones only
        while pending:
            progress = False
            for i, kind in list(pending.items()):
                group = upper if kind == "upper" else lower
                opp_all = np.where(self.a == i, self.b, self.a)
                mine = active & ((self.a == i) | (self.b == i)) & ~group[opp_all]
                if partial:  # an all-loser who lost to an all-winner: that game only loosens its bound
                    mine &= rated[opp_all]
                if not mine.any() or not rated[opp_all[mine]].all():
                    continue
                r[i] = self._one_sided_bound(i, r, w, mine, kind, h, log_nu, alpha)
                rated[i], progress = True, True
                del pending[i]
            if not progress and not partial:
                partial = True
                continue
            partial = False
            if not progress:
                raise ValueError(f"ratings of {[self.names[i] for i in pending]} are not identifiable: they only "
                                 "played each other or other players with one-sided results")

    def _one_sided_bound(self, i: int, r: np.ndarray, w: np.ndarray, mine: np.ndarray, kind: str, h: float,
                         log_nu: float | None, alpha: float) -> float:
        """The rating R at which player i's all-win ("lower") / all-loss ("upper") record has probability alpha."""
        as_white = self.a[mine] == i
        opp_r = r[np.where(as_white, self.b[mine], self.a[mine])]
        s, wm = self.s[mine], w[mine]

        def log_p(x: float) -> float:  # log P(record | R = x) - log(alpha); monotone in x
            d = ELO_K * (np.where(as_white, x - opp_r, opp_r - x) + h)
            return float(np.sum(wm * outcome_terms(d, s, log_nu)[0])) - math.log(alpha)

        centre = float(np.average(opp_r, weights=wm))
        return brentq(log_p, centre - 4000.0, centre + 4000.0, xtol=1e-6)

    def _log_nu_start(self, w: np.ndarray) -> float | None:
        """log nu's starting point (None: no draw parameter, or nu = 0 because no weighted game is drawn)."""
        if self.draw_model != "davidson":
            return None
        draws = float(np.sum(w * (self.s == 0.5)))
        if draws == 0.0:
            return None  # nu's MLE is 0: the davidson model is then the half model on decisive games
        if draws == float(np.sum(w)):
            raise ValueError("every game is a draw: the davidson draw parameter has no finite estimate "
                             "(use the half draw model)")
        rate = draws / float(np.sum(w))
        return math.log(2.0 * rate / (1.0 - rate))  # nu at equal strength: P(draw) = nu / (2 + nu)

    def _newton(self, r: np.ndarray, free: np.ndarray, w: np.ndarray) -> tuple[float, float | None]:
        """Maximise the (concave) log-likelihood over the free players' ratings (in place in r), the White
        advantage and log nu, by damped Newton; returns (h in Elo, log nu or None)."""
        idx = np.flatnonzero(free)
        log_nu = self._log_nu_start(w)
        n_h, n_t = int(self.white_advantage), int(log_nu is not None)
        size = idx.size + n_h + n_t
        h = 0.0
        if size == 0:
            return h, log_nu
        pos = -np.ones(len(self.names), dtype=np.int64)
        pos[idx] = np.arange(idx.size)
        pa, pb = pos[self.a], pos[self.b]
        ma, mb = pa >= 0, pb >= 0
        ih, it = idx.size, idx.size + n_h
        for iteration in range(200):
            d = ELO_K * (r[self.a] - r[self.b] + h)
            _, ll_d, ll_dd, ll_t, ll_tt, ll_dt = outcome_terms(d, self.s, log_nu)
            gd, hd, ct = w * ELO_K * ll_d, w * ELO_K**2 * ll_dd, w * ELO_K * ll_dt
            grad, hess = np.zeros(size), np.zeros((size, size))
            np.add.at(grad, pa[ma], gd[ma])
            np.add.at(grad, pb[mb], -gd[mb])
            np.add.at(hess, (pa[ma], pa[ma]), hd[ma])
            np.add.at(hess, (pb[mb], pb[mb]), hd[mb])
            both = ma & mb
            np.add.at(hess, (pa[both], pb[both]), -hd[both])
            np.add.at(hess, (pb[both], pa[both]), -hd[both])
            if n_h:
                hess[ih, :ih] = hess[:ih, ih] = self._per_player(coef=hd, pa=pa, pb=pb, size=ih)
                grad[ih], hess[ih, ih] = gd.sum(), hd.sum()
            if n_t:
                hess[it, :ih] = hess[:ih, it] = self._per_player(coef=ct, pa=pa, pb=pb, size=ih)
                grad[it], hess[it, it] = float(np.sum(w * ll_t)), float(np.sum(w * ll_tt))
                if n_h:
                    hess[ih, it] = hess[it, ih] = ct.sum()
            if iteration == 0 and np.linalg.matrix_rank(hess) < size:
                raise ValueError("the fit's parameters are not identifiable: the White advantage needs players "
                                 "who play both colours against rated opponents" if n_h else
                                 "the fit's parameters are not identifiable from these games")
            step = np.linalg.solve(hess - 1e-12 * np.eye(size), -grad)
            step[:ih + n_h] = np.clip(step[:ih + n_h], -MAX_RATING_STEP, MAX_RATING_STEP)
            r[idx] += step[:idx.size]
            if n_h:
                h += float(step[ih])
            if log_nu is not None:
                step[it] = float(np.clip(step[it], -MAX_LOG_NU_STEP, MAX_LOG_NU_STEP))
                log_nu += float(step[it])
            if np.max(np.abs(step)) < 1e-7:
                return h, log_nu
        extra = " or the White advantage / draw parameter has no finite estimate on these games" if n_h + n_t else ""
        raise ValueError("Bradley-Terry fit did not converge: a group of players won or lost all its games "
                         f"against the rest (add games between the groups){extra}")

    @staticmethod
    def _per_player(coef: np.ndarray, pa: np.ndarray, pb: np.ndarray, size: int) -> np.ndarray:
        """Sum of +coef over the games each free player played as White, -coef as Black (a Hessian row)."""
        row = np.zeros(size)
        np.add.at(row, pa[pa >= 0], coef[pa >= 0])
        np.add.at(row, pb[pb >= 0], -coef[pb >= 0])
        return row
