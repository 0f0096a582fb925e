"""The one rating fit: maximum-likelihood Elo against fixed anchors, with bootstrap intervals.

The headline number is the maximum-likelihood Elo of a Bradley-Terry model (arena/likelihood.py:
draws as half points, or Davidson's draw model; optionally a fitted White advantage) with the
anchors held fixed, and a 95% interval from a bootstrap over games. A player that wins (loses) every
game has no finite maximum-likelihood rating; it gets a one-sided 95% bound instead: the rating at
which its record would have probability 5%, marked "lower" (it is at least that strong) or "upper".

The rungs of a measured ladder are uncertain too. `rung_draws` refits the ladder's own games (with
only the ladder's own anchors fixed, e.g. the paper's) once per bootstrap resample; `rate_players(...,
rungs=...)` then rates each resample of the model's games against that resample's rungs, so the
model's interval includes the rungs' uncertainty (a two-stage bootstrap). Without it the rungs are
held at their table values and the interval covers the model's games only.

`rate_players` is the one fit: experts, ladder rungs and models are all rated by it, with the same
prior (PRIOR_DRAWS) and options, and `fit_info` is recorded beside every rating it produces.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from arena.likelihood import DRAW_MODELS, Game, RatingProblem

PRIOR_DRAWS = 0  # virtual draws between each rated player and each anchor in its fit; 0 = no prior
MIN_IDENTIFIABLE = 0.5  # a bootstrap needs at least this share of its resamples to be identifiable


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
    white_advantage: float | None = None  # the fit's White advantage in Elo (white_advantage=True)
    draw_nu: float | None = None  # the fit's Davidson draw parameter (draw_model="davidson")

    @property
    def score(self) -> float | None:
        return (self.wins + 0.5 * self.draws) / self.games if self.games else None

    @property
    def draw_rate(self) -> float | None:
        return self.draws / self.games if self.games else None


@dataclasses.dataclass(frozen=True)
class RungDraws:
    """A ladder refitted from its own games: the rungs' ratings, and one draw of them per bootstrap resample
    (None where a resample left some rung unidentifiable)."""

    anchors: dict[str, float]  # the ladder's fixed players (a table's "anchored_to")
    point: dict[str, float]  # every rung's rating from all the ladder's games
    draws: list[dict[str, float] | None]
    games: int


def fit_info(prior_draws: int = PRIOR_DRAWS, n_boot: int = 1000, draw_model: str = "half",
             white_advantage: bool = False) -> dict:
    """How `rate_players` rated: recorded beside every rating it produces (ratings.json, population.json,
    ladder tables), so a report can check that two ratings it compares came from the same fit. The
    options appear only when they differ from the default, so default fits match files written before them."""
    info: dict = {"method": "bradley-terry-mle", "prior_draws": prior_draws, "anchors_fixed": True,
                  "interval": "bootstrap-95", "n_boot": n_boot}
    if draw_model != "half":
        info["draw_model"] = draw_model
    if white_advantage:
        info["white_advantage"] = True
    return info


def _with_prior(games: list[Game], anchors: dict[str, float], prior_draws: int) -> tuple[list[Game], list[str], list[str]]:
    """The games plus `prior_draws` virtual draws between every rated player and every anchor in the games,
    the anchors used and the rated names."""
    if prior_draws < 0:
        raise ValueError(f"prior_draws must be >= 0, got {prior_draws}")
    used = [k for k in anchors if any(k in (a, b) for a, b, _ in games)]
    names = sorted({n for a, b, _ in games for n in (a, b)} - set(used))
    prior = [(n, a, 0.5) if k % 2 == 0 else (a, n, 0.5) for n in names for a in used for k in range(prior_draws)]
    return games + prior, used, names


def _resample_weights(n_games: int, n_boot: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.multinomial(n_games, np.full(n_games, 1.0 / n_games)).astype(np.float64) for _ in range(n_boot)]


def _enough(kept: int, n_boot: int, what: str) -> None:
    if kept < n_boot * MIN_IDENTIFIABLE:
        raise ValueError(f"bootstrap of {what}: only {kept}/{n_boot} resamples were identifiable; play more games")


def rung_draws(games: list[Game], anchors: dict[str, float], *, n_boot: int = 1000, seed: int = 0,
               prior_draws: int = PRIOR_DRAWS, draw_model: str = "half", white_advantage: bool = False) -> RungDraws:
    """Refit a ladder from its games (White, Black, White's score) with `anchors` fixed: the rungs' ratings
    and `n_boot` bootstrap draws of them, for `rate_players(..., rungs=...)`."""
    fitted, _, _ = _with_prior(games, anchors, prior_draws)
    prob = RatingProblem(fitted, anchors, draw_model, white_advantage)
    r, _, _ = prob.fit(np.ones(len(fitted)))
    rungs = [i for i, a in enumerate(prob.anchor) if not a]
    draws: list[dict[str, float] | None] = []
    for w in _resample_weights(len(fitted), n_boot, seed):
        try:
            rb = prob.fit(w)[0]
        except ValueError:  # a resample that cuts a rung off from the anchors carries no information
            draws.append(None)
            continue
        draws.append({prob.names[i]: float(rb[i]) for i in rungs})
    _enough(sum(d is not None for d in draws), n_boot, "the ladder's games")
    return RungDraws({k: v for k, v in anchors.items() if k in prob.names}, {prob.names[i]: float(r[i]) for i in rungs},
                     draws, len(games))


def _bootstrap_percentiles(prob: RatingProblem, n_boot: int, seed: int, fixed_draws: list[np.ndarray | None] | None
                           ) -> tuple[np.ndarray, np.ndarray]:
    """2.5th and 97.5th percentiles of every player's rating over `n_boot` resamples of the games (each with its
    own draw of the anchors' values when `fixed_draws` is given)."""
    samples = []
    for b, w in enumerate(_resample_weights(len(prob.s), n_boot, seed)):
        fixed = None if fixed_draws is None else fixed_draws[b]
        if fixed_draws is not None and fixed is None:
            continue  # this resample of the ladder could not rate every rung
        try:
            samples.append(prob.fit(w, fixed)[0])
        except ValueError:  # a resample that cuts a player off from the anchors carries no information
            continue
    _enough(len(samples), n_boot, "the games")
    lo, hi = np.percentile(np.array(samples), [2.5, 97.5], axis=0)
    return lo, hi


def rate_players(games: list[Game], anchors: dict[str, float], *, players: list[str] | None = None,
                 prior_draws: int = PRIOR_DRAWS, n_boot: int = 1000, seed: int = 0, draw_model: str = "half",
                 white_advantage: bool = False, rungs: RungDraws | None = None) -> dict[str, PlayerRating]:
    """The project's one rating fit: experts, ladder rungs and models are all rated by this function.

    `games` are (White, Black, White's score). Maximum likelihood with the anchors that appear in `games`
    held fixed, and a 95% bootstrap interval over games (one-sided bounds for players who won or lost
    everything). `prior_draws` adds that many virtual draws between every rated player and every anchor
    in the fit (BayesElo's prior); `draw_model` ("half" | "davidson") and `white_advantage` choose the
    likelihood (arena/likelihood.py); the same values must be used for everything compared. With `rungs`
    (from `rung_draws`), the ladder's rungs take their refitted ratings and, in each resample, that
    resample's draw, so the interval includes their uncertainty; other `anchors` stay fixed.
    Returns the non-anchor players (or only `players`).
    """
    if draw_model not in DRAW_MODELS:
        raise ValueError(f"draw model {draw_model!r}: expected one of {', '.join(DRAW_MODELS)}")
    fixed_ratings = anchors if rungs is None else {**anchors, **rungs.anchors, **rungs.point}
    fitted, used, names = _with_prior(games, fixed_ratings, prior_draws)
    prob = RatingProblem(fitted, fixed_ratings, draw_model, white_advantage)
    r, bounds, extras = prob.fit(np.ones(len(fitted)))
    if n_boot > 0:
        lo, hi = _bootstrap_percentiles(prob, n_boot, seed, _fixed_draws(prob, fixed_ratings, rungs, n_boot))
    else:
        lo = hi = np.full(len(prob.names), math.nan)
    records = _records(games)
    index = {n: i for i, n in enumerate(prob.names) if n in records and n not in used}
    out = {}
    for name in players if players is not None else names:
        if name not in index:
            raise ValueError(f"{name!r} cannot be rated: it is an anchor or played none of the games")
        i = index[name]
        out[name] = PlayerRating(name, float(r[i]), _interval(bounds.get(i), float(r[i]), lo[i], hi[i]), bounds.get(i),
                                 *records[name], white_advantage=extras.get("white_advantage"),
                                 draw_nu=extras.get("draw_nu"))
    return out


def _fixed_draws(prob: RatingProblem, fixed: dict[str, float], rungs: RungDraws | None,
                 n_boot: int) -> list[np.ndarray | None] | None:
    """Per resample, the anchors' values with the rungs at that resample's draw (None: rungs held fixed)."""
    if rungs is None:
        return None
    if len(rungs.draws) < n_boot:
        raise ValueError(f"the ladder was resampled {len(rungs.draws)} times, fewer than n_boot={n_boot}; "
                         "pass the same n_boot to rung_draws")
    return [None if d is None else prob.anchor_values({**fixed, **d}) for d in rungs.draws[:n_boot]]


def _interval(bound: str | None, r: float, lo: float, hi: float) -> tuple[float | None, float | None]:
    if bound == "lower":  # at least r: the interval is open above
        return r, None
    if bound == "upper":
        return None, r
    return _finite_or_none(lo), _finite_or_none(hi)


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
