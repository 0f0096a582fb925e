"""Opening suites: the bundled balanced suite is legal, short and level; a name or a file selects a suite; the
evaluation plays each opening with both colours and records which suite it used."""
import chess
import chess.engine
import pytest

from arena import find_stockfish
from arena.openings import bundled_suites, load_openings
from jaxformer.eval.worker import build_parser, plan_step


def test_the_balanced_suite_has_50_distinct_legal_openings_of_4_to_8_plies():
    assert "balanced-50" in bundled_suites()
    openings = load_openings("balanced-50")  # load_openings checks every move is legal and no game is over
    assert len(openings) == 50 and len(set(openings)) == 50
    assert all(4 <= len(o) <= 8 for o in openings)


@pytest.mark.heavy
def test_the_balanced_suite_is_level_by_stockfish():
    """As the suite's header says: Stockfish at depth 16 puts White at most 0.7 pawns up (0.8 here: some slack)."""
    engine = chess.engine.SimpleEngine.popen_uci(find_stockfish(None))
    try:
        engine.configure({"Threads": 1, "Hash": 16})
        for opening in load_openings("balanced-50"):
            board = chess.Board()
            for uci in opening:
                board.push_uci(uci)
            score = engine.analyse(board, chess.engine.Limit(depth=16))["score"].white().score(mate_score=10_000)
            assert abs(score) <= 80, f"{board.fen()}: {score} cp"
    finally:
        engine.quit()


def test_a_suite_is_a_bundled_name_or_a_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("1.e4 e5 2.Nf3  # a comment\n\n1.d4 d5\n")
    assert load_openings(path) == [("e2e4", "e7e5", "g1f3"), ("d2d4", "d7d5")]
    with pytest.raises(FileNotFoundError, match="balanced-50"):
        load_openings("no-such-suite")
    path.write_text("1.e4 e5 2.Ke3\n")
    with pytest.raises(ValueError, match="not a legal move"):
        load_openings(path)


def test_the_evaluation_plays_each_opening_with_both_colours():
    openings = load_openings("balanced-50")
    plan = plan_step(1, "m@1", ["stockfish-l1"], [0.5], 8, "move", openings)
    assert [g.opening for g in plan] == [openings[k // 2] for k in range(8)]
    assert [g.white == "m@1" for g in plan] == [True, False] * 4
    args = build_parser().parse_args(["--run", "r", "--openings", "balanced-50", "--draw-model", "davidson",
                                      "--white-advantage", "--glicko", "per-game"])
    assert (args.openings, args.draw_model, args.white_advantage, args.glicko, args.fixed_rungs) == \
        ("balanced-50", "davidson", True, "per-game", False)
    defaults = build_parser().parse_args(["--run", "r"])
    assert (defaults.openings, defaults.draw_model, defaults.white_advantage, defaults.glicko) == (None, "half", False, None)


def test_ratings_json_records_the_suite():
    from arena import PAPER_ANCHORS
    from jaxformer.eval.results import rate_step

    for suite in ("balanced-50", None):
        ratings = rate_step([], "m@1", PAPER_ANCHORS, run="r", step=1, anchor_table="paper", reference=(None, None),
                            n_boot=10, openings=suite)
        assert ratings["openings"] == suite
