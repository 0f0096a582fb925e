"""Measured ratings of a synthetic population, on the evaluation's scale.

A few engine settings from the ladder table (the anchors) play calibration games against the
experts; the project's one rating fit (arena.rate_players: Bradley-Terry over all games with the
anchors fixed, the same prior as the model's evaluation) puts every expert on the ladder's scale,
so the model's evaluation ratings and the experts' ratings in the PGN headers are directly comparable.
"""
from __future__ import annotations

import dataclasses
import logging

from arena import PRIOR_DRAWS, EngineSpec, Expert, load_anchor_table, rate_players
from experiments.synth.play import PlayedGame

log = logging.getLogger(__name__)

# Used only while no ladder table is available; flagged as provisional in population.json.
PROVISIONAL_ANCHOR = ("stockfish-l20-n30", 1500.0)
MAX_ANCHORS = 5
MAX_ANCHOR_NODES = 5000  # calibration games against slow engines would cost more than the population itself


@dataclasses.dataclass(frozen=True)
class Anchor:
    engine: EngineSpec
    rating: float
    source: str  # the table it came from, or "PROVISIONAL: ..." when it is a placeholder

    @property
    def provisional(self) -> bool:
        return self.source.startswith("PROVISIONAL")

    @property
    def deterministic(self) -> bool:
        """Stockfish below skill 20 draws its handicap from a clock-seeded PRNG; skill 20 is reproducible."""
        return self.engine.skill == 20


def choose_anchors(table_name: str, names: list[str] | None, rating: float | None) -> list[Anchor]:
    """The calibrated engines the experts are measured against: `names` (ladder table entries) or the
    table's default (see `default_anchor_names`); `rating` (one anchor only) overrides the table's value."""
    try:
        table = load_anchor_table(table_name)
    except FileNotFoundError as err:
        table = {}
        log.warning("no ladder table (%s)", err)
    if not names:
        names = default_anchor_names(table) or [PROVISIONAL_ANCHOR[0]]
    engines = [EngineSpec.parse(n) for n in names]
    if rating is not None:
        if len(engines) != 1:
            raise ValueError(f"--anchor-rating fixes one anchor's rating, but there are {len(engines)}: "
                             f"{[e.name for e in engines]}; name one with --anchors")
        return [Anchor(engines[0], float(rating), "PROVISIONAL: --anchor-rating given on the command line")]
    anchors = []
    for engine in engines:
        if engine.name in table:
            anchors.append(Anchor(engine, table[engine.name], f"anchor table {table_name}"))
        elif engine.name == PROVISIONAL_ANCHOR[0] and not table:
            log.warning("using the PROVISIONAL anchor %s = %.0f until a ladder table exists", *PROVISIONAL_ANCHOR)
            anchors.append(Anchor(engine, PROVISIONAL_ANCHOR[1], f"PROVISIONAL: no anchor table {table_name!r}"))
        else:
            raise ValueError(f"anchor {engine.name} is not in anchor table {table_name!r} (entries: {sorted(table)}); "
                             "pick entries with --anchors, or give one anchor's rating with --anchor-rating")
    if not all(a.deterministic for a in anchors):
        log.warning("anchors below skill 20 (%s) play a random handicap (Stockfish seeds it from the clock): the "
                    "calibration games, and so the measured ratings, vary slightly between runs; the training "
                    "games do not", ", ".join(a.engine.name for a in anchors if not a.deterministic))
    return anchors


def default_anchor_names(table: dict[str, float]) -> list[str]:
    """Up to MAX_ANCHORS cheap engine entries of the table spread evenly over its rating range (weakest to
    strongest), so the population lands between anchors whatever its strength; deterministic (skill 20)
    entries are preferred when the table has at least two."""
    cheap = []
    for name, rating in table.items():
        try:
            spec = EngineSpec.parse(name)
        except ValueError:
            continue  # e.g. the random mover: every expert beats it, so it pins nothing
        if spec.depth is None and spec.nodes is not None and spec.nodes <= MAX_ANCHOR_NODES:
            cheap.append((rating, name, spec.skill == 20))
    deterministic = [c for c in cheap if c[2]]
    pool = sorted(deterministic if len(deterministic) >= 2 else cheap)
    if len(pool) <= MAX_ANCHORS:
        return [name for _, name, _ in pool]
    picks = {round(i * (len(pool) - 1) / (MAX_ANCHORS - 1)) for i in range(MAX_ANCHORS)}
    return [pool[i][1] for i in sorted(picks)]


def measure_ratings(games: list[PlayedGame], experts: list[Expert], anchors: list[Anchor], n_boot: int,
                    seed: int) -> dict[str, dict]:
    """Per expert: its Elo from arena.rate_players with arena.PRIOR_DRAWS (as the model's), a 95% bootstrap
    interval, or for an expert that won (lost) every rated game a one-sided bound (`rating_bound` "lower"
    ("upper"), `rating` the bound, the open side of `rating_ci95` None), and its record in the real games."""
    # Clone self-play carries no rating information; the fit only sees games between different players.
    rated = [(g.white, g.black, g.white_score) for g in games if g.white != g.black]
    fitted = rate_players(rated, {a.engine.name: a.rating for a in anchors}, players=[e.name for e in experts],
                          prior_draws=PRIOR_DRAWS, n_boot=n_boot, seed=seed)
    out = {}
    for expert in experts:
        rating = fitted[expert.name]
        out[expert.name] = {"rating": rating.elo, "rating_ci95": list(rating.ci95), "rating_bound": rating.bound,
                            **_record(games, expert.name)}
    return out


def _record(games: list[PlayedGame], name: str) -> dict:
    wins = draws = losses = bias = plies = 0
    for g in games:
        for side, is_me in ((0, g.white == name), (1, g.black == name)):
            if not is_me:
                continue
            score = g.white_score if side == 0 else 1.0 - g.white_score
            wins += score == 1.0
            draws += score == 0.5
            losses += score == 0.0
            bias += g.bias_moves[side]
            plies += (len(g.moves) + (1 - side)) // 2
    n = wins + draws + losses
    return {"games": n, "wins": wins, "draws": draws, "losses": losses,
            "score": (wins + 0.5 * draws) / n if n else None,
            "bias_move_rate": bias / plies if plies else None}
