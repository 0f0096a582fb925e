"""`transcend data synth`: legal games, the requested population, measured ratings, determinism, clones."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import chess
import numpy as np
import pytest

from arena import SCORES, EngineSpec, Expert, read_records, rules_ending
from arena.biases import BIAS_POLICIES, avoid_trades, captures, king, pawn_push
from experiments.cli import main as cli_main
from experiments.synth.cli import build_parser
from experiments.synth.pgn import header_elo, read_pgn_zst
from experiments.synth.play import PlayedGame
from experiments.synth.ratings import Anchor, default_anchor_names, measure_ratings

REPO = pathlib.Path(__file__).resolve().parents[1]
# Three experts of clearly separated strength: 1 node + 60% random moves, ~45 nodes + 30%, 2000 nodes + 0%.
SEPARATED = ["--experts", "3", "--nodes", "1", "2000", "--epsilon", "0", "0.6", "--biases", "uniform,captures,king",
             "--max-plies", "160", "--bootstrap", "50"]


def synth(tmp_path, name, *extra, stockfish_path):
    out = tmp_path / name
    table = tmp_path / "table.json"
    if not table.exists():  # a ladder table of our own: its cheap skill-20 entries must be chosen as the anchors
        table.write_text(json.dumps({"ratings": {"stockfish-l20-n1": 700.0, "stockfish-l20-n10": 1200.0,
                                                 "stockfish-l20-n50": 1500.0, "stockfish-l20-n5000": 2300.0,
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
    assert anchors == [("stockfish-l20-n1", 700.0, False, True, 9), ("stockfish-l20-n10", 1200.0, False, True, 9),
                       ("stockfish-l20-n50", 1500.0, False, True, 6), ("stockfish-l20-n5000", 2300.0, False, True, 6)]
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
        ending = rules_ending(board)  # the evaluation's rules: threefold claimed, no 50-move claim
        if h["SynthEnding"] == "adjudication":  # the ply cap, scored by Stockfish as in an evaluation
            assert board.ply() == 160 and ending is None
        else:
            assert ending is not None and ending.result == h["Result"], (h, board.fen())
            assert h["SynthEnding"] == ending.termination
        per_expert[h["White"]] += 1
        per_expert[h["Black"]] += 1
    for h in (g.headers for g in calib):
        assert {h["White"], h["Black"]} & {a[0] for a in anchors}
        assert h["Event"].endswith("(calibration)")
    # population.json's records count training plus calibration games (10 calibration games each).
    assert [e["games"] for e in experts] == [per_expert[n] + 10 for n in names]
    assert 0.5 < experts[0]["bias_move_rate"] < 0.7 and experts[2]["bias_move_rate"] == 0.0
    # One fit for experts and models: arena's, with its prior (none), recorded as the evaluation records it.
    assert pop["fit"] == {"method": "bradley-terry-mle", "prior_draws": 0, "anchors_fixed": True,
                          "interval": "bootstrap-95", "n_boot": 50}
    assert pop["best_expert"]["rating_bound"] == experts[2]["rating_bound"]

    # Every game is an arena record (the evaluation's schema), and the PGN files are derived from them.
    records = read_records(out / "records" / "games.jsonl")
    assert sorted(r["game_id"] for r in records) == [f"synth-s0-{i:07d}" for i in range(90)]
    by_index = {int(r["game_id"].rsplit("-", 1)[1]): r for r in records}
    for i, game in enumerate(games + calib):
        r = by_index[i]
        assert [m.uci() for m in game.mainline_moves()] == r["moves_uci"] and game.headers["Result"] == r["result"]
        assert game.headers["SynthEnding"] == r["termination"] and r["white_score"] == SCORES[r["result"]]
        assert r["adjudicated"] == (r["termination"] == "adjudication") and r["temperature"] is None
    bias = sum(r["players"][c].get("bias_moves", 0) for r in records for c in ("white", "black")
               if r["players"][c]["name"] == names[0])
    plies = sum((r["plies"] + (c == "white")) // 2 for r in records for c in ("white", "black")
                if r["players"][c]["name"] == names[0])
    assert experts[0]["bias_move_rate"] == pytest.approx(bias / plies)


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
    assert [a["calibration_games"] for a in pop["anchors"]] == [3, 3, 2, 2]


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
        rng = np.random.default_rng(seed)
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
        moves = [policy(board, np.random.default_rng(3)) for _ in range(2)]
        assert moves[0] == moves[1] and moves[0] in board.legal_moves, name
        rng = np.random.default_rng(3)
        stream = [policy(board, rng) for _ in range(8)]
        rng = np.random.default_rng(3)
        assert [policy(board, rng) for _ in range(8)] == stream, name  # deterministic along a stream, too
    lone = chess.Board("7k/8/8/8/8/8/8/K7 w - - 0 1")
    assert captures(lone, np.random.default_rng(0)) in lone.legal_moves


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


def _games(pairs: list[tuple[str, str, str]]) -> list[PlayedGame]:
    return [PlayedGame(i, w, b, ("e2e4",), result, "checkmate", (0, 0), False) for i, (w, b, result) in enumerate(pairs)]


TRIO = [Expert(f"e{i}", EngineSpec(skill=20, nodes=10 ** (i + 1)), "uniform", 0.1) for i in range(3)]
TWO_ANCHORS = [Anchor(EngineSpec(skill=20, nodes=n), r, "test table") for n, r in ((7, 1000.0), (70, 1500.0))]
A, B = (a.engine.name for a in TWO_ANCHORS)


def test_an_expert_that_lost_everything_gets_an_upper_bound_as_a_model_would():
    mixed = [("e1", A, "1-0"), (A, "e1", "1-0"), ("e1", B, "0-1"), (B, "e1", "1/2-1/2"), ("e2", B, "1-0"),
             (B, "e2", "1-0"), ("e2", "e1", "1-0"), ("e1", "e2", "1/2-1/2")]
    weakest = [("e0", A, "0-1"), (B, "e0", "1-0"), ("e0", "e1", "0-1"), ("e2", "e0", "1-0")]
    measured = measure_ratings(_games(mixed * 3 + weakest * 3), TRIO, TWO_ANCHORS, n_boot=40, seed=0)
    e0 = measured["e0"]
    assert e0["rating_bound"] == "upper" and e0["rating_ci95"] == [None, e0["rating"]]
    assert (e0["games"], e0["losses"], e0["score"]) == (12, 12, 0.0)
    assert header_elo(e0["rating"]) == str(max(1, round(e0["rating"])))
    for name in ("e1", "e2"):  # the others are rated by maximum likelihood with a two-sided interval
        lo, hi = measured[name]["rating_ci95"]
        assert measured[name]["rating_bound"] is None and lo < measured[name]["rating"] < hi
    assert e0["rating"] < measured["e1"]["rating"] < measured["e2"]["rating"]


def test_an_all_loser_who_met_an_all_winner_gets_a_bound_too():
    games = [("e1", A, "1-0"), (B, "e1", "1-0"), ("e0", A, "0-1"), ("e0", "e1", "0-1"), ("e2", "e0", "1-0"),
             ("e2", B, "1-0"), ("e1", "e2", "0-1")]
    measured = measure_ratings(_games(games * 3), TRIO, TWO_ANCHORS, n_boot=40, seed=0)
    assert measured["e0"]["rating_bound"] == "upper" and measured["e2"]["rating_bound"] == "lower"


# issue 12: synth is resumable; Ctrl-C keeps the finished games and says so in one line.
RESUMABLE = ["--experts", "3", "--nodes", "1", "2000", "--epsilon", "0", "0.6", "--biases", "uniform,captures,king",
             "--max-plies", "120", "--bootstrap", "20", "--games", "30", "--calibration-games", "6", "--workers", "1",
             "--seed", "3"]


def _synth_cmd(tmp_path, out, stockfish_path, *extra):
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"ratings": {"stockfish-l20-n1": 700.0, "stockfish-l20-n10": 1200.0,
                                             "stockfish-l20-n50": 1500.0}}))
    return [sys.executable, "-m", "experiments.cli", "data", "synth", "--out", str(out), "--anchor-table", str(table),
            "--stockfish", stockfish_path, *RESUMABLE, *extra]


@pytest.mark.slow
def test_ctrl_c_keeps_the_games_and_a_rerun_ends_with_the_uninterrupted_output(tmp_path, stockfish_path):
    out = tmp_path / "interrupted"
    cmd = _synth_cmd(tmp_path, out, stockfish_path)
    records = out / "records" / "games.jsonl"
    # Its own session: the signal goes to the whole process group, as the terminal's Ctrl-C does.
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(read_records(records)) < 4:
        time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "crashed" not in stderr, stderr[-3000:]
    assert stderr.strip().splitlines()[-1].startswith("transcend data synth: interrupted")
    kept = {r["game_id"] for r in read_records(records)}
    assert 4 <= len(kept) < 36 and not (out / "games.pgn.zst").exists()
    assert "0 already recorded, 36 to play" in stdout

    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{len(kept)} already recorded, {36 - len(kept)} to play" in rerun.stdout
    ids = [r["game_id"] for r in read_records(records)]
    assert len(ids) == len(set(ids)) == 36 and kept <= set(ids)

    reference = tmp_path / "reference"
    done = subprocess.run(_synth_cmd(tmp_path, reference, stockfish_path), cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("games.pgn.zst", "calibration.pgn.zst"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    pops = [json.loads((d / "population.json").read_text()) for d in (out, reference)]
    for pop in pops:
        pop.pop("play_seconds")
    assert pops[0] == pops[1]

    # A finished run rerun plays nothing and writes the same files again.
    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "36 already recorded, 0 to play" in again.stdout, again.stderr[-3000:]
    assert (out / "games.pgn.zst").read_bytes() == (reference / "games.pgn.zst").read_bytes()


def test_a_rerun_with_other_settings_is_refused_naming_them(tmp_path, stockfish_path):
    out = tmp_path / "out"
    out.mkdir()
    cmd = _synth_cmd(tmp_path, out, stockfish_path)[3:]  # `data synth ...` for the in-process entry point
    (out / "settings.json").write_text(json.dumps({"seed": 3, "games": 30, "calibration_games": 6, "max_plies": 120}))
    code = subprocess.run([sys.executable, "-m", "experiments.cli", *cmd, "--games", "31", "--seed", "4"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert code.returncode == 2 and "Traceback" not in code.stderr
    err = code.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "--seed: recorded 3, now 4" in err and "--games: recorded 30, now 31" in err
    assert "--max-plies" not in err.split("(", 1)[1].split(")")[0]  # an equal setting is not named
    assert "the population (--experts" in err and "pass --overwrite" in err and "another --out" in err
    assert json.loads((out / "settings.json").read_text())["seed"] == 3  # nothing recorded is lost


@pytest.mark.parametrize("flag", ["--games", "--calibration-games", "--experts", "--workers", "--max-plies",
                                  "--bootstrap"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_non_positive_counts_are_refused_with_a_sentence(tmp_path, capsys, flag, value):
    with pytest.raises(SystemExit) as exc:
        cli_main(["data", "synth", "--out", str(tmp_path / "x"), flag, value])
    assert exc.value.code == 2
    assert f"{flag} {value}: must be at least 1 (" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_every_option_shows_its_default_once():
    text = build_parser().format_help()
    blocks = re.split(r"\n  (?=--)", text.split("show this help message and exit", 1)[1])[1:]
    assert len(blocks) == 19  # --population and --argmax-positions (issue 10) included
    for block in blocks:
        flat = " ".join(block.split())
        assert flat.count("(default") + flat.count("(required)") == 1, flat
