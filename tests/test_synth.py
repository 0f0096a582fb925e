"""`transcend data synth`: legal games, the requested population, measured ratings, determinism, clones."""
import json
import random

import chess
import pytest

from arena.biases import BIAS_POLICIES, avoid_trades, captures, king, pawn_push
from experiments.cli import main as cli_main
from experiments.synth.pgn import header_elo, read_pgn_zst
from experiments.synth.ratings import default_anchor_names

# Three experts of clearly separated strength: 1 node + 60% random moves, ~45 nodes + 30%, 2000 nodes + 0%.
SEPARATED = ["--experts", "3", "--nodes", "1", "2000", "--epsilon", "0", "0.6", "--biases", "uniform,captures,king",
             "--max-plies", "160", "--bootstrap", "50"]


def synth(tmp_path, name, *extra, stockfish_path):
    out = tmp_path / name
    table = tmp_path / "table.json"
    if not table.exists():  # a ladder table of our own: the nearest skill-20 entry must be chosen as the anchor
        table.write_text(json.dumps({"ratings": {"stockfish-l20-n10": 1200.0, "stockfish-l20-n50": 1500.0,
                                                 "stockfish-l1": 1554.0}}))
    argv = ["data", "synth", "--out", str(out), "--anchor-table", str(table), "--stockfish", stockfish_path, *extra]
    assert cli_main(argv) == 0
    return out, json.loads((out / "population.json").read_text())


@pytest.mark.slow
def test_population_games_are_legal_and_ratings_follow_strength(tmp_path, stockfish_path):
    out, pop = synth(tmp_path, "pop", *SEPARATED, "--games", "60", "--calibration-games", "30", "--workers", "2",
                     stockfish_path=stockfish_path)
    experts = pop["experts"]
    names = [e["name"] for e in experts]
    assert [e["bias"] for e in experts] == ["uniform", "captures", "king"]
    assert [e["engine_settings"]["nodes"] for e in experts] == [1, 45, 2000]
    assert [e["epsilon"] for e in experts] == [0.6, 0.3, 0.0]
    # The table's cheap skill-20 entries anchor the fit; stockfish-l1 (80k nodes a move) is too slow to play.
    anchors = [(a["name"], a["rating"], a["provisional"], a["deterministic"], a["calibration_games"])
               for a in pop["anchors"]]
    assert anchors == [("stockfish-l20-n10", 1200.0, False, True, 15), ("stockfish-l20-n50", 1500.0, False, True, 15)]
    assert pop["anchors"][0]["source"] == f"anchor table {tmp_path}/table.json"
    ratings = [e["rating"] for e in experts]
    assert ratings == sorted(ratings) and ratings[0] + 200 < ratings[2], ratings
    for e in experts:  # the interval brackets the estimate (or the estimate is a one-sided bound)
        lo, hi = e["rating_ci95"]
        assert (lo is None or lo <= e["rating"] + 1e-6) and (hi is None or e["rating"] - 1e-6 <= hi)
    assert pop["best_expert"]["name"] == names[2]
    assert pop["games"] == {"train": 60, "calibration": 30}

    games = read_pgn_zst(out / "games.pgn.zst")
    calib = read_pgn_zst(out / "calibration.pgn.zst")
    assert len(games) == 60 and len(calib) == 30
    elo = {e["name"]: header_elo(e["rating"]) for e in experts}
    per_expert = {n: 0 for n in names}
    for i, game in enumerate(games):
        h = game.headers
        assert not game.errors, game.errors  # every move parsed and was legal
        assert h["Site"] == f"synth://seed0/{i:07d}" and h["TimeControl"] == "600+0"
        assert h["White"] in names and h["Black"] in names and h["White"] != h["Black"]
        assert h["WhiteElo"] == elo[h["White"]] and h["BlackElo"] == elo[h["Black"]]
        board = game.end().board()
        outcome = board.outcome(claim_draw=True)
        if h["SynthEnding"] == "max_plies":
            assert board.ply() == 160 and h["Result"] == "1/2-1/2"
        else:
            assert outcome is not None and outcome.result() == h["Result"], (h, board.fen())
            assert h["SynthEnding"] == outcome.termination.name.lower()
        per_expert[h["White"]] += 1
        per_expert[h["Black"]] += 1
    for h in (g.headers for g in calib):
        assert {h["White"], h["Black"]} & {"stockfish-l20-n10", "stockfish-l20-n50"}
        assert h["Event"].endswith("(calibration)")
    # population.json's records count training plus calibration games (10 calibration games each).
    assert [e["games"] for e in experts] == [per_expert[n] + 10 for n in names]
    assert 0.5 < experts[0]["bias_move_rate"] < 0.7 and experts[2]["bias_move_rate"] == 0.0


@pytest.mark.slow
def test_same_seed_same_bytes_for_any_worker_count(tmp_path, stockfish_path):
    small = [*SEPARATED, "--games", "12", "--calibration-games", "6", "--max-plies", "40", "--seed", "7"]
    a, pop_a = synth(tmp_path, "a", *small, "--workers", "1", stockfish_path=stockfish_path)
    b, pop_b = synth(tmp_path, "b", *small, "--workers", "2", stockfish_path=stockfish_path)
    c, _ = synth(tmp_path, "c", *[x if x != "7" else "8" for x in small], "--workers", "2",
                 stockfish_path=stockfish_path)
    assert (a / "games.pgn.zst").read_bytes() == (b / "games.pgn.zst").read_bytes()
    assert (a / "calibration.pgn.zst").read_bytes() == (b / "calibration.pgn.zst").read_bytes()
    for pop in (pop_a, pop_b):
        pop.pop("workers"), pop.pop("play_seconds")
    assert pop_a == pop_b
    assert (a / "games.pgn.zst").read_bytes() != (c / "games.pgn.zst").read_bytes()  # the seed matters


@pytest.mark.slow
def test_clones_is_a_single_expert_population(tmp_path, stockfish_path):
    out, pop = synth(tmp_path, "clones", "--clones", "--nodes", "10", "1000", "--epsilon", "0.1", "0.3",
                     "--biases", "captures,king", "--games", "8", "--calibration-games", "10", "--max-plies", "60",
                     "--bootstrap", "20", "--workers", "2", stockfish_path=stockfish_path)
    assert pop["kind"] == "clones" and len(pop["experts"]) == 1
    clone = pop["experts"][0]
    assert (clone["engine_settings"]["nodes"], clone["epsilon"], clone["bias"]) == (100, 0.2, "captures")
    assert clone["games"] == 8 * 2 + 10  # both sides of each self-play game, plus calibration
    games = read_pgn_zst(out / "games.pgn.zst")
    assert len(games) == 8 and all(g.headers["White"] == g.headers["Black"] == clone["name"] for g in games)
    assert all(g.headers["WhiteElo"] == header_elo(clone["rating"]) for g in games)
    assert [a["calibration_games"] for a in pop["anchors"]] == [5, 5]


def test_refuses_to_overwrite_and_rejects_bad_options(tmp_path, capsys):
    (tmp_path / "population.json").write_text("{}")
    assert cli_main(["data", "synth", "--out", str(tmp_path), "--anchor-rating", "1500"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "population.json").read_text() == "{}"  # nothing already written is lost
    with pytest.raises(SystemExit):
        cli_main(["data", "synth", "--out", str(tmp_path / "x"), "--biases", "uniform,bogus"])
    assert "unknown policies ['bogus']" in capsys.readouterr().err
    assert cli_main(["data", "synth", "--out", str(tmp_path / "y"), "--experts", "1"]) == 2
    assert "use --clones" in capsys.readouterr().err


def test_bias_policies_pick_from_their_preferred_moves():
    board = chess.Board("r3k2r/ppp2ppp/2n5/3pp3/3PP3/2N5/PPP2PPP/R3K2R w KQkq - 0 8")
    for seed in range(20):
        rng = random.Random(seed)
        assert board.is_capture(captures(board, rng))
        assert board.piece_type_at(king(board, rng).from_square) == chess.KING
        push = pawn_push(board, rng)
        assert board.piece_type_at(push.from_square) == chess.PAWN and not board.is_capture(push)
        quiet = avoid_trades(board, rng)
        board.push(quiet)
        assert not board.is_attacked_by(board.turn, quiet.to_square) and board.move_stack[-1] == quiet
        board.pop()
        assert not board.is_capture(quiet)
    # Same RNG state -> same move (a game is a function of its seed); no preferred move -> any legal move.
    for name, policy in BIAS_POLICIES.items():
        assert policy(board, random.Random(3)) == policy(board, random.Random(3)), name
    lone = chess.Board("7k/8/8/8/8/8/8/K7 w - - 0 1")
    assert captures(lone, random.Random(0)) in lone.legal_moves


def test_default_anchors_span_the_cheap_engines_of_the_table():
    ladder = {"random": -160.0, "stockfish-l0-n1000-r75": 190.0, "stockfish-l0-n1000-r50": 700.0,
              "stockfish-l0-n1000-r25": 1080.0, "stockfish-l1-n1000": 1660.0, "stockfish-l0-n1000": 1710.0,
              "stockfish-l2-n1000": 1830.0, "stockfish-l5-n1000": 2020.0, "stockfish-l1": 1554.0, "stockfish-l5": 2148.0}
    # No random mover (every expert beats it), no 80k-node engines (too slow); 5 spread over the other 7.
    assert default_anchor_names(ladder) == ["stockfish-l0-n1000-r75", "stockfish-l0-n1000-r25",
                                            "stockfish-l1-n1000", "stockfish-l0-n1000", "stockfish-l5-n1000"]
    # Reproducible skill-20 entries win when there are at least two of them.
    ladder.update({"stockfish-l20-n30": 1200.0, "stockfish-l20-n300": 1600.0})
    assert default_anchor_names(ladder) == ["stockfish-l20-n30", "stockfish-l20-n300"]
    assert default_anchor_names({"random": 300.0}) == []
