"""A model's interval includes its rungs' uncertainty: the ladder's own games are refitted in every bootstrap
resample (only the ladder's anchors fixed), so the interval is wider than with the rungs held fixed, covers the
truth at about the nominal rate, and shrinks to the fixed-rung interval as the ladder's games grow."""
import json

import numpy as np
import pytest
import zstandard

from arena.anchors import load_anchor_games, load_anchored_to
from arena.likelihood import ELO_K
from arena.ratings import rate_players, rung_draws
from jaxformer.eval.results import prepare_rungs, rate_step

ANCHOR = {"A": 1500.0}  # fixed by definition (a paper anchor)
RUNG_TRUTH, MODEL_TRUTH = 1300.0, 1100.0


def _games(a: str, b: str, ra: float, rb: float, n: int, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    out = []
    for k in range(n):
        (white, rw), (black, rbk) = ((a, ra), (b, rb)) if k % 2 == 0 else ((b, rb), (a, ra))
        out.append((white, black, float(rng.random() < 1.0 / (1.0 + np.exp(-ELO_K * (rw - rbk))))))
    return out


def _intervals(seed: int, ladder_games: int, model_games: int = 200, n_boot: int = 150):
    """The model's (joint, fixed-rung) ratings: it played only the rung R, which was measured against A."""
    rng = np.random.default_rng(seed)
    ladder = _games("R", "A", RUNG_TRUTH, ANCHOR["A"], ladder_games, rng)
    model = _games("M", "R", MODEL_TRUTH, RUNG_TRUTH, model_games, rng)
    rungs = rung_draws(ladder, ANCHOR, n_boot=n_boot, seed=seed + 1000)
    joint = rate_players(model, {**ANCHOR, "R": rungs.point["R"]}, rungs=rungs, n_boot=n_boot, seed=seed)["M"]
    fixed = rate_players(model, {"R": rungs.point["R"]}, n_boot=n_boot, seed=seed)["M"]
    return joint, fixed


def test_the_joint_interval_is_wider_and_covers_the_truth_at_the_nominal_rate():
    # 100 ladder games: the rung's standard error (~40 Elo) exceeds the model's own (~29 Elo). Measured over 100
    # datasets: the joint interval covers 92%, the fixed-rung interval 74% (its nominal 95% ignores the rung).
    joint_cover = fixed_cover = 0
    widths = []
    for seed in range(30):
        joint, fixed = _intervals(seed, ladder_games=100)
        assert joint.elo == pytest.approx(fixed.elo, abs=1e-9)  # the same point: only the interval differs
        joint_cover += joint.ci95[0] <= MODEL_TRUTH <= joint.ci95[1]
        fixed_cover += fixed.ci95[0] <= MODEL_TRUTH <= fixed.ci95[1]
        widths.append((joint.ci95[1] - joint.ci95[0]) / (fixed.ci95[1] - fixed.ci95[0]))
    assert joint_cover >= 25  # expected ~27.6 of 30
    assert fixed_cover < joint_cover
    assert min(widths) > 1.0 and np.mean(widths) > 1.4  # expected ~1.75 (sqrt(40^2 + 29^2) / 29)


def test_with_many_ladder_games_the_joint_interval_is_the_fixed_rung_interval():
    joint, fixed = _intervals(0, ladder_games=20_000)
    assert joint.ci95[0] == pytest.approx(fixed.ci95[0], abs=5) and joint.ci95[1] == pytest.approx(fixed.ci95[1], abs=5)


def _table(tmp_path, with_games: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    ladder = _games("R", "A", RUNG_TRUTH, ANCHOR["A"], 200, rng)
    point = rung_draws(ladder, ANCHOR, n_boot=0).point["R"]
    path = tmp_path / "ladder-test.json"
    path.write_text(json.dumps({"ratings": {"A": 1500.0, "R": round(point, 1)}, "anchored_to": ANCHOR}))
    if with_games:
        lines = "".join(json.dumps({"game_id": f"g{k}", "white": w, "black": b, "white_score": s}) + "\n"
                        for k, (w, b, s) in enumerate(ladder))
        (tmp_path / "ladder-test.games.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(lines.encode()))
    records = [{"game_id": f"m{k}", "round": k + 1, "white": w, "black": b, "white_score": s, "temperature": 0.5,
                "mode": "move", "adjudicated": False,
                "players": {"white": {"illegal_attempts": 0}, "black": {"illegal_attempts": 0}}}
               for k, (w, b, s) in enumerate(_games("m@1", "R", MODEL_TRUTH, RUNG_TRUTH, 100, rng)
                                             + _games("m@1", "A", MODEL_TRUTH, 1500.0, 20, rng))]
    return str(path), records


def test_ratings_json_says_which_intervals_include_the_rungs(tmp_path):
    table, records = _table(tmp_path, with_games=True)
    anchors = {"A": 1500.0, "R": json.loads((tmp_path / "ladder-test.json").read_text())["ratings"]["R"]}
    assert load_anchored_to(table) == ANCHOR and len(load_anchor_games(table)) == 200
    assert load_anchor_games("paper") is None
    rungs = prepare_rungs(table, anchors, n_boot=100)
    assert rungs[1]["refit"] is True and rungs[1]["games"] == 200 and rungs[1]["anchored_to"] == ANCHOR
    joint = rate_step(records, "m@1", anchors, run="r", step=1, anchor_table=table, reference=(None, None),
                      n_boot=100, rungs=rungs)
    fixed_rungs = prepare_rungs(table, anchors, n_boot=100, fixed=True)
    assert fixed_rungs[0] is None and "--fixed-rungs" in fixed_rungs[1]["note"]
    fixed = rate_step(records, "m@1", anchors, run="r", step=1, anchor_table=table, reference=(None, None),
                      n_boot=100, rungs=fixed_rungs)
    (j,), (f,) = joint["results"], fixed["results"]
    assert j["anchor_uncertainty"] is True and f["anchor_uncertainty"] is False
    assert joint["rungs"]["refit"] is True and fixed["rungs"]["refit"] is False
    assert j["elo"] == pytest.approx(f["elo"], abs=0.2)  # the table's rung is the refit, rounded
    assert j["elo_ci95"][1] - j["elo_ci95"][0] > f["elo_ci95"][1] - f["elo_ci95"][0]


def test_a_table_without_games_falls_back_to_fixed_rungs_and_says_so(tmp_path):
    table, records = _table(tmp_path, with_games=False)
    assert load_anchor_games(table) is None
    draws, info = prepare_rungs(table, load_anchored_to(table) | {"R": 1300.0}, n_boot=50)
    assert draws is None and info["refit"] is False and "ships no games file" in info["note"]
    draws, info = prepare_rungs("paper", {"stockfish-l1": 1554.0}, n_boot=50)
    assert draws is None and "fixed by definition" in info["note"]
