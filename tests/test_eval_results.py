"""ratings.json: the model is rated by the same fit as experts and ladder rungs, and says which fit that was."""
import numpy as np
import pytest

from arena import PAPER_ANCHORS, fit_info, rate_players
from jaxformer.eval.results import describe_rating, rate_step


def _records(name: str, seed: int, n_per_anchor: int = 12) -> list[dict]:
    """Games of `name` (true strength ~1700) against the paper's anchors, colours alternating, as games.jsonl records."""
    rng = np.random.default_rng(seed)
    out = []
    for opp, r in PAPER_ANCHORS.items():
        p_win = 1.0 / (1.0 + 10 ** ((r - 1700.0) / 400))
        for k in range(n_per_anchor):
            u = rng.random()
            score = 1.0 if u < 0.8 * p_win else 0.5 if u < p_win + 0.2 * (1 - p_win) else 0.0
            white, black = (name, opp) if k % 2 == 0 else (opp, name)
            out.append({"game_id": f"{name}-{opp}-{k}", "white": white, "black": black,
                        "white_score": score if white == name else 1.0 - score,
                        "temperature": 0.1, "mode": "move", "adjudicated": k == 3,
                        "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}})
    return out


def test_a_model_and_an_expert_with_the_same_games_get_the_same_rating():
    name, step, n_boot = "expert-07", 11, 200
    records = _records(name, seed=3)
    ratings = rate_step(records, name, PAPER_ANCHORS, run="r", step=step, anchor_table="paper",
                        reference=(1500.0, "cutoff"), n_boot=n_boot)
    (entry,) = ratings["results"]
    games = [(r["white"], r["black"], r["white_score"]) for r in records]
    direct = rate_players(games, PAPER_ANCHORS, n_boot=n_boot, seed=step)[name]
    assert direct.bound is None
    assert entry["elo"] == round(direct.elo, 1)
    assert entry["elo_ci95"] == [round(direct.ci95[0], 1), round(direct.ci95[1], 1)]
    assert entry["margin"] == round(direct.elo - 1500.0, 1)
    assert entry["margin_ci95"] == [round(direct.ci95[0] - 1500.0, 1), round(direct.ci95[1] - 1500.0, 1)]
    assert (entry["games"], entry["wins"], entry["draws"], entry["losses"]) == (
        direct.games, direct.wins, direct.draws, direct.losses)
    assert entry["score"] == round(direct.score, 4)
    # The same games under a model's name (sorting after the anchors, not before) rate the same.
    renamed = [{**r, "white": "transcend@11" if r["white"] == name else r["white"],
                "black": "transcend@11" if r["black"] == name else r["black"]} for r in records]
    again = rate_step(renamed, "transcend@11", PAPER_ANCHORS, run="r", step=step, anchor_table="paper",
                      reference=(1500.0, "cutoff"), n_boot=n_boot)
    assert {k: v for k, v in again["results"][0].items() if k != "opponents"} == \
        {k: v for k, v in entry.items() if k != "opponents"}


def test_ratings_json_records_the_fit_and_keeps_every_field():
    records = _records("m@1", seed=5) + [  # one game against an unrated opponent: counted, not rated
        {"game_id": "r0", "white": "m@1", "black": "random", "white_score": 1.0, "temperature": 0.1, "mode": "move",
         "adjudicated": False, "players": {"white": {"illegal_attempts": 2}, "black": {"illegal_attempts": 0}}}]
    ratings = rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                        reference=(None, None), n_boot=50, planned={(0.1, "move"): 64})
    assert ratings["fit"] == fit_info(0, 50) == {"method": "bradley-terry-mle", "prior_draws": 0,
                                                 "anchors_fixed": True, "interval": "bootstrap-95", "n_boot": 50}
    assert list(ratings) == ["run", "step", "anchor_table", "anchors", "reference_rating", "reference_kind", "model",
                             "fit", "rungs", "openings", "duplicate_games", "results"]
    assert ratings["openings"] is None and ratings["rungs"]["refit"] is False
    (entry,) = ratings["results"]
    assert list(entry) == ["temperature", "mode", "as_rating", "games", "planned_games", "wins", "draws", "losses", "score",
                           "draw_rate", "unrated_games", "opponents", "elo", "elo_ci95", "elo_bound", "outside_ladder",
                           "anchor_uncertainty", "white_advantage", "draw_nu", "glicko2", "margin", "margin_ci95"]
    assert entry["draw_rate"] == round(entry["draws"] / entry["games"], 4)
    assert entry["outside_ladder"] is None and entry["anchor_uncertainty"] is True  # the paper's anchors are definitions
    assert entry["white_advantage"] is None and entry["draw_nu"] is None
    assert entry["games"] == 60 and entry["unrated_games"] == 1 and entry["planned_games"] == 64
    assert ratings["duplicate_games"] == 0
    assert entry["opponents"]["random"] == {"games": 1, "wins": 1, "draws": 0, "losses": 0, "adjudicated": 0,
                                            "illegal_attempts": 2}
    assert sum(o["adjudicated"] for o in entry["opponents"].values()) == 5
    assert entry["margin"] is None and entry["margin_ci95"] == [None, None]  # no reference rating
    assert set(entry["glicko2"]) == {"method", "rating", "rd", "volatility"} and entry["glicko2"]["method"] == "one-period"


def test_a_temperature_without_rated_games_has_no_elo():
    records = [{"game_id": "g0", "white": "m@1", "black": "random", "white_score": 1.0, "temperature": 1.0, "mode": "move",
                "adjudicated": False, "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}}]
    (entry,) = rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                         reference=(1500.0, "cutoff"), n_boot=50)["results"]
    assert entry["games"] == 0 and entry["score"] is None and entry["elo"] is None and entry["margin"] is None
    assert entry["unrated_games"] == 1 and entry["glicko2"] is None
    assert describe_rating(entry) == "not rated (no game against a rated opponent)"


@pytest.mark.parametrize("wins", [True, False])
def test_a_one_sided_record_is_a_marked_bound_in_ratings_json(wins):
    records = [{"game_id": f"g{k}", "white": "m@1", "black": "stockfish-l1", "white_score": 1.0 if wins else 0.0,
                "temperature": 0.5, "mode": "move", "adjudicated": False,
                "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}} for k in range(8)]
    (entry,) = rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                         reference=(1500.0, "cutoff"), n_boot=50)["results"]
    assert entry["elo_bound"] == ("lower" if wins else "upper")
    assert entry["elo_ci95"] == ([entry["elo"], None] if wins else [None, entry["elo"]])
    assert entry["margin_ci95"] == ([entry["margin"], None] if wins else [None, entry["margin"]])
    # No number is printed or stored that was not measured: a bound in words, no Glicko-2 rating.
    assert entry["glicko2"] is None
    text = describe_rating(entry)
    assert "None" not in text
    assert text == (f"Elo at least {entry['elo']:.0f} (won every game)" if wins
                    else f"Elo at most {entry['elo']:.0f} (lost every game)")


def test_a_game_recorded_twice_is_counted_once_and_reported():
    records = _records("m@1", seed=5)
    once = rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                     reference=(1500.0, "cutoff"), n_boot=50)
    twice = rate_step(records + records[:7], "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                      reference=(1500.0, "cutoff"), n_boot=50)
    assert twice["duplicate_games"] == 7 and once["duplicate_games"] == 0
    assert twice["results"] == once["results"]
    assert twice["results"][0]["games"] == 60


def test_a_planned_temperature_without_games_is_listed_with_its_plan():
    records = _records("m@1", seed=5)
    ratings = rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                        reference=(1500.0, "cutoff"), n_boot=50, planned={(0.1, "move"): 60, (1.0, "move"): 60})
    by_t = {r["temperature"]: r for r in ratings["results"]}
    assert sorted(by_t) == [0.1, 1.0]
    assert (by_t[0.1]["games"], by_t[0.1]["planned_games"]) == (60, 60)
    assert (by_t[1.0]["games"], by_t[1.0]["planned_games"], by_t[1.0]["elo"]) == (0, 60, None)


def test_per_game_glicko_follows_the_papers_order_per_opponent():
    # 30 wins, 10 draws, 60 losses against skill 1 in the paper's order (model Black first: 50 games, then White).
    scores = [1.0] * 30 + [0.5] * 10 + [0.0] * 60
    records = []
    for k, s in enumerate(scores):
        white = k >= 50  # the first 50 games with the model as Black, round by round
        records.append({"game_id": f"g{k}", "round": k % 50 + 1, "white": "m@1" if white else "stockfish-l1",
                        "black": "stockfish-l1" if white else "m@1", "white_score": s if white else 1.0 - s,
                        "temperature": 0.1, "mode": "char", "adjudicated": False,
                        "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}})
    shuffled = records[::-1]  # the records' file order does not matter, the paper's order does
    (entry,) = rate_step(shuffled, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                         reference=(None, None), n_boot=50, glicko="per-game")["results"]
    g = entry["glicko2"]
    assert g["method"] == "per-game" and g["rating"] == pytest.approx(1191, abs=1)
    assert g["per_opponent"]["stockfish-l1"] == {"games": 100, "rating": g["rating"], "rd": g["rd"],
                                                 "volatility": g["volatility"]}
    assert entry["elo"] == pytest.approx(1446.5, abs=0.1)  # the fit is order free
    with pytest.raises(ValueError, match="glicko"):
        rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper", reference=(None, None),
                  glicko="sometimes")


@pytest.mark.parametrize("wins", [True, False])
def test_a_rating_outside_the_tables_range_is_flagged(wins):
    records = [{"game_id": f"g{k}", "white": "m@1", "black": "stockfish-l5" if wins else "stockfish-l1",
                "white_score": 1.0 if (k < 9) == wins else 0.0, "temperature": 0.5, "mode": "move",
                "adjudicated": False, "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}}
               for k in range(10)]
    (entry,) = rate_step(records, "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper",
                         reference=(None, None), n_boot=50)["results"]
    assert entry["outside_ladder"] == ("above" if wins else "below")
    assert entry["elo"] > 2148 if wins else entry["elo"] < 1554
    assert describe_rating(entry).endswith(f"({entry['outside_ladder']} every rung of the anchor table: extrapolated)")


def test_a_diverged_one_period_glicko_is_not_reported():
    from jaxformer.eval.results import _glicko

    # 0 W / 10 D / 30 L against a rung near 0 Elo: one Glicko-2 period from 1500 diverges (rating -721292)
    far = [{"white": "m", "black": "a", "white_score": 0.5 if i < 10 else 0.0, "round": i} for i in range(40)]
    assert _glicko(far, "m", {"a": 29.0}, "one-period", False) is None
    near = [{"white": "m", "black": "a", "white_score": float(i % 2), "round": i} for i in range(40)]
    g = _glicko(near, "m", {"a": 1554.0}, "one-period", False)
    assert g["rating"] == pytest.approx(1553.5, abs=0.1) and g["volatility"] < 0.07
