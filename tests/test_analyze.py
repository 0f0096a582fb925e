"""`transcend analyze`: each analysis on small real shards and a tiny real checkpoint, checked against a
direct computation (entropy by hand, move-matching by a brute-force loop, the advantage of a known policy)."""
import json
import math
import pathlib
import random

import chess
import numpy as np
import pytest
from data_fixtures import built, pgn
from run_fixtures import save_untrained_run

from experiments.analyze import advantage, diversity
from experiments.analyze.games import ShardGame, parse_transcript, read_games
from experiments.cli import main as transcend
from jaxformer.eval.api import load_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> pathlib.Path:
    """An untrained tiny model saved as a real checkpoint at step 3."""
    return save_untrained_run(tmp_path_factory.mktemp("analyze") / "run", "analyzetest", cutoff=None, steps=(3,))


@pytest.fixture(scope="module")
def random_shards(tmp_path_factory) -> str:
    """Random legal games at random ratings, half of them held out for validation."""
    data_dir, _ = built.random_shards(tmp_path_factory.mktemp("random-shards"), 60, seed=5, max_plies=14, val_fraction=0.5)
    return data_dir


def _build(tmp: pathlib.Path, games: list[tuple[str, int, int]]) -> str:
    """Shards (no validation share) from (SAN moves separated by spaces, WhiteElo, BlackElo) games."""
    rng = random.Random(0)
    text = "".join(pgn.game_text(pgn.lichess_headers(rng, white, black, "1/2-1/2", site_id=f"{i:08d}"),
                                 pgn.lichess_movetext(moves.split(), "1/2-1/2", clocks=False))
                   for i, (moves, white, black) in enumerate(games))
    return built.build_pgn(tmp, text, val_fraction=0.0)


def _h(*counts: int) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts)


def test_parse_transcript_reads_the_shard_format():
    moves = parse_transcript(";1.e4 e5 2.Nf3 Nc6 3.Bb5")
    assert [m.uci() for m in moves] == ["e2e4", "e7e5", "g1f3", "b8c6", "f1b5"]
    with pytest.raises(ValueError):
        parse_transcript(";1.e4 e4")


def test_diversity_matches_entropy_by_hand(tmp_path):
    low = [("e4 e5 Nf3", 900, 950)] * 12 + [("e4 c5", 800, 1000)] * 6 + [("d4 d5", 1000, 700)] * 2
    high = [("d4 Nf6", 1200, 1300)] * 10  # only in the 1300 cutoff
    data = _build(tmp_path, low + high)
    out = tmp_path / "out"
    assert transcend(["analyze", "diversity", "--data", data, "--cutoffs", "1000,1300", "--min-visits", "5",
                      "--out", str(out)]) == 0
    summary = json.loads((out / "diversity.json").read_text())
    assert (out / "diversity.png").stat().st_size > 0
    c1000, c1300 = summary["cutoffs"]
    start, after_e4 = chess.Board(), chess.Board()
    after_e4.push_san("e4")
    after_e4_e5 = after_e4.copy()
    after_e4_e5.push_san("e5")
    # cutoff 1000: start (e4 18, d4 2), after 1.e4 (e5 12, c5 6), after 1.e4 e5 (Nf3 12); 1.d4 is seen only twice
    assert c1000["games"] == 20 and c1000["common_states"] == 3
    assert [s["visits"] for s in c1000["states"]] == [20, 18, 12]
    assert c1000["mean_normalized_entropy"] == pytest.approx((_h(18, 2) / 1 + _h(12, 6) / 1 + 0) / 3)
    legal = [start.legal_moves.count(), after_e4.legal_moves.count(), after_e4_e5.legal_moves.count()]
    assert legal == [20, 20, 29]
    assert c1000["mean_normalized_entropy_by_legal"] == pytest.approx(
        (_h(18, 2) / math.log2(20) + _h(12, 6) / math.log2(20) + 0) / 3)
    # cutoff 1300 adds 10 games of 1.d4 Nf6: start (e4 18, d4 12), after 1.d4 (d5 2, Nf6 10)
    assert c1300["games"] == 30 and [s["visits"] for s in c1300["states"]] == [30, 18, 12, 12]
    assert c1300["mean_normalized_entropy"] == pytest.approx((_h(18, 12) + _h(12, 6) + 0 + _h(2, 10)) / 4)
    assert c1000["paper_mean_normalized_entropy"] == 0.70


def test_diversity_counts_only_plies_up_to_max_ply():
    game = ShardGame(1000, 1000, tuple(parse_transcript(";1.e4 e5 2.Nf3 Nc6")))
    counts = diversity.action_counts([game] * 3, max_ply=1)
    assert sorted(sum(c.values()) for c in counts.values()) == [3, 3]  # the positions before plies 0 and 1


@pytest.mark.slow
def test_move_matching_equals_a_brute_force_loop(run_dir, random_shards, tmp_path):
    out = tmp_path / "out"
    assert transcend(["analyze", "move-matching", "--run", str(run_dir), "--data", random_shards, "--games", "4",
                      "--batch", "3", "--seed", "2", "--out", str(out)]) == 0
    summary = json.loads((out / "move_matching.json").read_text())
    assert (out / "move_matching.png").stat().st_size > 0
    run = load_run(run_dir)
    by_band: dict[int, list[int]] = {}
    for game in read_games(random_shards, "validation", None, limit=4, seed=2):
        board = chess.Board()
        for ply, move in enumerate(game.moves):
            top_san = run.move_distribution(board, temperature=0.0)[0][0]  # one position at a time, from scratch
            band = by_band.setdefault(game.mover_elo(ply) // 100 * 100, [0, 0])
            band[0] += int(top_san == board.san(move))
            band[1] += 1
            board.push(move)
    assert {b["band"][0]: [b["matched"], b["moves"]] for b in summary["bands"]} == by_band
    assert summary["overall"]["moves"] == sum(n for _, n in by_band.values()) > 0
    assert summary["games"] == 4


def test_advantage_of_a_known_policy():
    pos = advantage.Position(chess.Board(), ["a", "b", "c"], np.log(np.array([0.5, 0.3, 0.2])),
                             win_prob={"a": 0.2, "b": 0.9, "c": 0.6}, pawns={"a": -2.0, "b": 3.0, "c": 0.5},
                             ranking=["b", "c", "a"])
    at1 = pos.figures(1.0)
    assert at1["win_prob"] == pytest.approx(0.5 * 0.2 + 0.3 * 0.9 + 0.2 * 0.6)
    assert at1["pawns"] == pytest.approx(0.5 * -2 + 0.3 * 3 + 0.2 * 0.5)
    assert (at1["top1"], at1["top3"]) == (pytest.approx(0.3), pytest.approx(1.0))
    p_half = np.array([0.25, 0.09, 0.04]) / 0.38  # p^(1/T) renormalised at T = 0.5
    assert pos.figures(0.5)["win_prob"] == pytest.approx(float(p_half @ [0.2, 0.9, 0.6]))
    assert pos.figures(0.0) == {"win_prob": 0.2, "pawns": -2.0, "top1": 0.0, "top3": 1.0, "top5": 1.0}
    worse = advantage.Position(chess.Board(), ["a", "b"], np.log(np.array([0.9, 0.1])),
                               win_prob={"a": 1.0, "b": 0.0}, pawns={"a": 1.0, "b": 0.0}, ranking=["a", "b"])
    summary = advantage.summarize([pos, worse], (0.0, 1.0), n_boot=500, seed=0)
    argmax = summary["results"][0]
    gains = [0.2 - at1["win_prob"], 1.0 - 0.9]
    assert argmax["delta_win_prob"] == pytest.approx(np.mean(gains))
    lo, hi = argmax["delta_win_prob_ci95"]
    assert min(gains) - 1e-12 <= lo <= argmax["delta_win_prob"] <= hi <= max(gains) + 1e-12
    assert argmax["gains"]["positions_gaining"] == 0.5 and argmax["gains"]["positions_losing"] == 0.5
    assert "delta_win_prob" not in summary["results"][1]  # T = 1 is the baseline


def test_gain_share_of_the_best_tenth():
    gains = np.array([0.5] + [0.01] * 9 + [-0.02] * 10)
    figures = advantage.gain_figures(gains)
    assert figures["top_decile_share_of_net_gain"] == pytest.approx((0.5 + 0.01) / (0.5 + 0.09 - 0.2))
    assert figures["positions_gaining"] == 0.5


@pytest.mark.slow
def test_advantage_end_to_end_scores_every_legal_move(run_dir, random_shards, tmp_path, stockfish_path):
    out = tmp_path / "out"
    assert transcend(["analyze", "advantage", "--run", str(run_dir), "--data", random_shards, "--positions", "4",
                      "--nodes", "3000", "--workers", "2", "--n-boot", "200", "--out", str(out)]) == 0
    summary = json.loads((out / "advantage.json").read_text())
    assert (out / "advantage.png").stat().st_size > 0
    assert summary["positions"] == len(summary["per_position"]) == 4
    assert summary["temperatures"] == [0.001, 0.75, 1.0] and summary["stockfish"].startswith("Stockfish")
    run = load_run(run_dir)
    for row in summary["per_position"]:
        board = chess.Board()
        for m in row["game_moves"]:
            board.push_uci(m)
        assert board.fen() == row["fen"]
        assert len(row["moves"]) == row["legal_moves"] == board.legal_moves.count()  # every legal move scored
        wins = [m["win_prob"] for m in row["moves"]]
        assert wins == sorted(wins, reverse=True) and all(0 <= w <= 1 for w in wins)
        # the model's exact distribution at T = 1, as the notebook API computes it
        direct = {board.parse_san(san).uci(): p for san, p in run.move_distribution(board, 1.0)}
        assert {m["uci"]: m["p"]["1.0"] for m in row["moves"]} == pytest.approx(direct, abs=1e-5)
        for t in ("0.001", "0.75", "1.0"):
            assert row["win_prob"][t] == pytest.approx(sum(m["p"][t] * m["win_prob"] for m in row["moves"]))
    for res in summary["results"][:2]:
        t = str(res["temperature"])
        mean = np.mean([r["win_prob"][t] - r["win_prob"]["1.0"] for r in summary["per_position"]])
        assert res["delta_win_prob"] == pytest.approx(mean)
