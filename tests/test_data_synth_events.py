"""Synthetic games survive the build's rated-games default: `transcend data synth` writes an Event that says Rated."""
from data_pipeline import build as build_mod
from data_pipeline import filters
from experiments.synth.pgn import Seat, game_to_pgn, write_pgn_zst
from experiments.synth.play import PlayedGame

MATE = ("f2f3", "e7e5", "g2g4", "d8h4")  # fool's mate: 0-1


def test_a_build_of_synthetic_games_keeps_every_one_as_rated(tmp_path):
    seats = {"a": Seat("a", "stockfish-l20-n10", "uniform", 0.3), "b": Seat("b", "stockfish-l20-n50", "king", 0.1)}
    games = [PlayedGame(i, *("ab" if i % 2 else "ba"), MATE, "0-1", "checkmate", (0, 1), calibration=i == 3)
             for i in range(6)]
    texts = [game_to_pgn(g, seats, {"a": 1200.0, "b": 1500.0}, seed=7) for g in games]
    assert all(filters.event_class(t.split('"')[1].encode()) == filters.EVENT_ID["rated"] for t in texts)
    write_pgn_zst(tmp_path / "games.pgn.zst", texts)
    m = build_mod.build(build_mod.BuildConfig(sources=(str(tmp_path / "games.pgn.zst"),), out_dir=str(tmp_path / "out")))
    assert (m["counts"]["raw_games"], m["counts"]["kept"], m["counts"]["rejected"]) == (6, 6, {})
    assert m["counts"]["event_unknown"] == 0
