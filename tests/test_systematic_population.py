"""Issue 10's theory-faithful population: systematic biases (one fixed move per position), the systematic
population and its clone, and population.json's arg-max statement checked against direct sampling."""
import collections
import json

import chess
import numpy as np
import pytest

from arena import SYSTEMATIC_BIASES, EngineSpec, Expert, ExpertPlayer, MoveRequest
from arena.biases import BIAS_POLICIES, square_order
from experiments.cli import main as cli_main
from experiments.synth.argmax import engine_move, measure_argmax
from experiments.synth.pgn import read_pgn_zst
from experiments.synth.population import build_population

# White: Ke1, Ra1, Rh1, pawns b6 e4 g2; Black: Ke8, pawns c7 d5.
GOLDEN = chess.Board("4k3/2p5/1P6/3p4/4P3/8/6P1/R3K2R w KQ - 0 1")
POSITIONS = [
    GOLDEN,
    chess.Board(),
    chess.Board("r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 4 4"),
    chess.Board("r3k2r/ppp2ppp/2n5/3pp3/3PP3/2N5/PPP2PPP/R3K2R b KQkq - 0 8"),
    chess.Board("8/5P2/8/8/8/1k6/8/K7 w - - 0 1"),
]


def test_systematic_biases_are_one_move_per_position_whatever_the_stream():
    assert set(SYSTEMATIC_BIASES) <= set(BIAS_POLICIES) and len(SYSTEMATIC_BIASES) == 11
    for name in SYSTEMATIC_BIASES:
        policy = BIAS_POLICIES[name]
        for board in POSITIONS:
            fen = board.fen()
            rng = np.random.default_rng(0)
            moves = {policy(board, np.random.default_rng(seed)) for seed in range(10)} | {policy(board, rng)}
            assert len(moves) == 1 and moves <= set(board.legal_moves), (name, fen)
            assert policy.choices(board) == list(moves), name
            assert rng.random() == np.random.default_rng(0).random(), name  # the game's stream is untouched
            assert board.fen() == fen and not board.move_stack  # push/pop leaves the position as it was


def test_golden_moves_computed_by_hand():
    # advanced_pawn: b6b7 and b6xc7 both reach the 7th rank; UCI order takes b6b7.
    assert BIAS_POLICIES["advanced_pawn"].choices(GOLDEN) == [chess.Move.from_uci("b6b7")]
    # king_corner: Ke1's destinations d1 d2 e2 f1 f2 c1 (O-O-O) g1 (O-O); g1 is 1 king step from h1.
    assert BIAS_POLICIES["king_corner"].choices(GOLDEN) == [chess.Move.from_uci("e1g1")]
    # Black's most advanced pawn move: d5xe4 and d5d4 reach the 4th rank; c7 goes at most to c5.
    black = chess.Board("4k3/2p5/1P6/3p4/4P3/8/6P1/R3K2R b KQ - 0 1")
    assert BIAS_POLICIES["advanced_pawn"].choices(black) == [chess.Move.from_uci("d5d4")]
    # min_mobility: Ka1 + Rh1 against Ke8. After Rh8+ White would have 7 (h-file) + 3 (g8 f8 e8) + 3 (king)
    # moves; every other move leaves at least 15 (Rb1: 13 + Ka2, Kb2).
    rook = chess.Board("4k3/8/8/8/8/8/8/K6R w - - 0 1")
    assert BIAS_POLICIES["min_mobility"].choices(rook) == [chess.Move.from_uci("h1h8")]
    # square_order_k: the legal move whose destination comes first in order k; ties (promotions) by UCI.
    for k in range(8):
        order = square_order(k)
        move = BIAS_POLICIES[f"square_order_{k}"].choices(GOLDEN)[0]
        assert min(order.index(m.to_square) for m in GOLDEN.legal_moves) == order.index(move.to_square)
    assert len({tuple(square_order(k)) for k in range(8)}) == 8 and sorted(square_order(3)) == list(chess.SQUARES)
    promote = chess.Board("8/5P2/8/8/8/1k6/8/K7 w - - 0 1")
    first_f8 = [f"square_order_{k}" for k in range(8) if square_order(k).index(chess.F8) == min(
        square_order(k).index(m.to_square) for m in promote.legal_moves)]
    assert first_f8  # orders 1, 2, 5, 6 put f8 before b1
    for name in first_f8:
        assert BIAS_POLICIES[name].choices(promote) == [chess.Move.from_uci("f7f8b")]  # b < n < q < r


def test_fallbacks_play_the_first_legal_move_in_uci_order():
    no_pawns = chess.Board("4k3/8/8/8/8/8/8/K6R w - - 0 1")
    assert BIAS_POLICIES["advanced_pawn"].choices(no_pawns) == [chess.Move.from_uci("a1a2")]
    start = chess.Board()  # the king cannot move
    assert BIAS_POLICIES["king_corner"].choices(start) == [chess.Move.from_uci("a2a3")]


def test_systematic_population_deals_different_biases_and_clones_copy_the_median():
    experts = build_population(4, (1, 20), (0.55, 0.75), list(SYSTEMATIC_BIASES), population="systematic")
    assert [e.bias for e in experts] == ["advanced_pawn", "king_corner", "min_mobility", "square_order_0"]
    assert [e.engine.nodes for e in experts] == [1, 3, 7, 20]
    assert [e.epsilon for e in experts] == [0.75, 0.6833, 0.6167, 0.55]  # the weakest expert biased most
    [clone] = build_population(4, (1, 20), (0.55, 0.75), list(SYSTEMATIC_BIASES), clones=True,
                               population="systematic")
    median = experts[1]
    assert (clone.name, clone.engine, clone.bias, clone.epsilon) == (
        f"clone-{median.name}", median.engine, median.bias, median.epsilon)
    [clone5] = build_population(5, (1, 20), (0.55, 0.75), list(SYSTEMATIC_BIASES), clones=True,
                                population="systematic")
    assert clone5.name == "clone-x02-min_mobility-n4-eps65"
    for biases, problem in ((["king_corner", "captures"], "not systematic"), (["king_corner"] * 2, "repeats"),
                            (["king_corner", "min_mobility"], "a different bias for each of the 3")):
        with pytest.raises(ValueError, match=problem):
            build_population(3, (1, 20), (0.55, 0.75), biases, population="systematic")


def _empirical_mode(player: ExpertPlayer, board: chess.Board, n: int) -> tuple[chess.Move, collections.Counter]:
    counts = collections.Counter(player.choose([MoveRequest(f"g{i}", board.copy(), None, np.random.default_rng(i))])[0]
                                 .move for i in range(n))
    return counts.most_common(1)[0][0], counts


def test_argmax_statement_agrees_with_direct_sampling(stockfish_path):
    engine = EngineSpec(skill=20, nodes=5)
    experts = [Expert("high", engine, "min_mobility", 0.7), Expert("low", engine, "king_corner", 0.3),
               Expert("subset", engine, "captures", 0.5)]
    players = {e.name: ExpertPlayer(e, stockfish_path) for e in experts}
    boards = POSITIONS[2:4] + [chess.Board("4k3/8/8/8/8/8/8/K6R w - - 0 1")]
    try:
        stated = measure_argmax(experts, players, boards, workers=2)
        for e in experts:
            bias_wins = 0
            for board in boards:
                mode, counts = _empirical_mode(players[e.name], board, 150)
                engine_m = engine_move(players[e.name], board)
                bias_m = players[e.name].policy.choices(board)
                bias_wins += mode != engine_m
                if e.bias != "captures":  # systematic: exactly two moves are ever played
                    assert set(counts) == {engine_m, *bias_m}
            block = stated["experts"][e.name]
            assert block["positions"] == 3 and block["p_bias_over_engine"] == bias_wins / 3, e.name
        assert stated["experts"]["high"]["is_bias"] and stated["experts"]["high"]["p_bias_over_engine"] == 1.0
        assert not stated["experts"]["low"]["is_bias"] and stated["experts"]["low"]["p_bias_over_engine"] == 0.0
        assert not stated["experts"]["subset"]["is_bias"]  # 0.5 spread over several captures
        assert stated["majority_reference"] == "subset"  # equal nodes: the last expert's engine
    finally:
        for p in players.values():
            p.close()


@pytest.mark.slow
def test_systematic_synth_end_to_end_writes_the_argmax_statement(tmp_path, stockfish_path):
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"ratings": {"stockfish-l20-n1": 700.0, "stockfish-l20-n10": 1200.0}}))
    common = ["data", "synth", "--population", "systematic", "--experts", "3", "--nodes", "1", "10", "--games", "6",
              "--calibration-games", "6", "--max-plies", "40", "--bootstrap", "10", "--argmax-positions", "30",
              "--workers", "2", "--anchor-table", str(table), "--stockfish", stockfish_path]
    pops = {}
    for arm, extra in (("diverse", []), ("clones", ["--clones"])):
        assert cli_main([*common, "--out", str(tmp_path / arm), *extra]) == 0
        pops[arm] = json.loads((tmp_path / arm / "population.json").read_text())
    diverse, clones = pops["diverse"], pops["clones"]
    assert diverse["population"] == "systematic" and diverse["options"]["epsilon"] == [0.55, 0.75]
    assert [(e["bias"], e["epsilon"]) for e in diverse["experts"]] == [
        ("advanced_pawn", 0.75), ("king_corner", 0.65), ("min_mobility", 0.55)]
    for e in diverse["experts"] + clones["experts"]:
        block = e["argmax"]
        assert block["positions"] == 30 and 0.0 <= block["p_bias_over_engine"] <= 1.0
        assert block["is_bias"] == (block["p_bias_over_engine"] > 0.5)
        assert block["p_bias_over_engine"] == pytest.approx(1.0 - block["bias_matches_engine"])  # b > 1/2
    assert diverse["majority_reference"] == diverse["experts"][2]["name"]
    assert 0.0 <= diverse["majority_is_engine"] <= 1.0
    [clone] = clones["experts"]
    assert clones["kind"] == "clones" and clone["name"] == "clone-" + diverse["experts"][1]["name"]
    # One expert: the "mixture" is the clone, whose arg-max is the engine's move only where its bias agrees.
    assert clones["majority_is_engine"] == pytest.approx(clone["argmax"]["bias_matches_engine"])
    games = read_pgn_zst(tmp_path / "clones" / "games.pgn.zst")
    assert len(games) == 6 and all(g.headers["White"] == g.headers["Black"] == clone["name"] for g in games)
