"""The real Stockfish binary: location, recorded options, node limits, evaluation, crash recovery."""
import os
import signal

import chess
import pytest

from arena.stockfish import (
    DEFAULT_NODES,
    MATE_CP,
    EngineCrash,
    EngineSpec,
    Stockfish,
    find_stockfish,
)


def test_find_stockfish_prefers_the_given_path_and_names_the_package_when_missing(stockfish_path, monkeypatch):
    assert find_stockfish(stockfish_path) == stockfish_path
    with pytest.raises(FileNotFoundError, match="not executable"):
        find_stockfish("/nonexistent/stockfish")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("arena.stockfish.DEBIAN_PATH", "/nonexistent/stockfish")
    monkeypatch.delenv("TRANSCEND_STOCKFISH", raising=False)
    with pytest.raises(FileNotFoundError, match="package `stockfish`"):
        find_stockfish()


def test_engine_spec_names_and_parsing():
    assert EngineSpec(skill=3).name == "stockfish-l3"  # the paper's setting: default node limit
    assert EngineSpec(skill=3, nodes=50000).name == "stockfish-l3-n50000"
    assert EngineSpec.parse("3") == EngineSpec(skill=3, nodes=DEFAULT_NODES)
    assert EngineSpec.parse("stockfish-l0-n10") == EngineSpec(skill=0, nodes=10)
    assert EngineSpec.parse("l2-d1") == EngineSpec(skill=2, nodes=None, depth=1)
    assert EngineSpec.parse(EngineSpec(skill=5, nodes=1000).name) == EngineSpec(skill=5, nodes=1000)
    assert EngineSpec.parse("l0-n1000-r50") == EngineSpec(skill=0, nodes=1000, random_pct=50)
    assert EngineSpec(skill=0, nodes=1000, random_pct=50).name == "stockfish-l0-n1000-r50"
    with pytest.raises(ValueError, match="bad engine spec"):
        EngineSpec.parse("l3-t0.1")
    with pytest.raises(ValueError, match="wall-time"):
        EngineSpec(skill=1, nodes=None)
    with pytest.raises(ValueError, match="0..20"):
        EngineSpec(skill=21)


def test_stockfish_plays_legal_moves_finds_mate_and_reports_its_version(stockfish_path):
    with Stockfish(EngineSpec(skill=20, nodes=2000), stockfish_path) as sf:
        assert sf.version.startswith("Stockfish")
        board = chess.Board()
        for _ in range(6):
            move = sf.play(board, game="g")
            assert move in board.legal_moves
            board.push(move)
        # Scholar's mate in one for White: Qxf7#.
        mate = chess.Board("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR w KQkq - 4 4")
        assert sf.play(mate) == chess.Move.from_uci("h5f7")
        assert sf.evaluate(mate) == MATE_CP
        # White is a queen down: the evaluation is from White's view, whoever is to move.
        down = chess.Board("4k3/8/8/8/8/8/3q4/4K3 b - - 0 1")
        assert sf.evaluate(down) < -500


def test_crashed_engine_is_restarted_and_the_crash_reported(stockfish_path):
    with Stockfish(EngineSpec(skill=1, nodes=100), stockfish_path) as sf:
        os.kill(sf._engine.transport.get_pid(), signal.SIGKILL)
        with pytest.raises(EngineCrash):
            sf.play(chess.Board())
        assert sf.restarts == 1
        assert sf.play(chess.Board()) in chess.Board().legal_moves


def test_diluted_engine_plays_its_random_share_from_the_game_rng(stockfish_path):
    import numpy as np

    from arena.players import MoveRequest, StockfishPlayer

    board = chess.Board()
    player = StockfishPlayer(EngineSpec(skill=0, nodes=50, random_pct=100), stockfish_path)
    try:
        moves = [player.choose([MoveRequest("g", board, 0.0, np.random.default_rng(s))])[0].move for s in range(8)]
    finally:
        player.close()
    assert len(set(moves)) > 3 and all(m in board.legal_moves for m in moves)
    again = [player.choose([MoveRequest("g", board, 0.0, np.random.default_rng(s))])[0].move for s in range(8)]
    assert again == moves  # the random share comes from the per-game stream: replays are reproducible


def test_worst_move_engine_parses_names_and_needs_a_depth_limit():
    spec = EngineSpec.parse("l20-d1-worst-r50")
    assert spec == EngineSpec(skill=20, nodes=None, depth=1, random_pct=50, worst=True)
    assert spec.name == "stockfish-l20-d1-worst-r50" and EngineSpec.parse(spec.name) == spec
    assert spec.settings()["worst"] is True and "worst" not in EngineSpec(skill=3).settings()
    with pytest.raises(ValueError, match="needs a depth limit"):
        EngineSpec.parse("l20-worst")  # the default node limit could stop the search before every move is scored
    with pytest.raises(ValueError, match="needs a depth limit"):
        EngineSpec(skill=20, nodes=100, depth=1, worst=True)


def test_worst_move_engine_walks_into_mate_and_replays(stockfish_path):
    import numpy as np

    from arena.ladder import replays_identically
    from arena.players import MoveRequest, StockfishPlayer

    after_f3_e5 = chess.Board()
    for san in ("f3", "e5"):
        after_f3_e5.push_san(san)
    player = StockfishPlayer(EngineSpec.parse("l20-d1-worst"), stockfish_path)
    try:
        # g4 is the one move that allows mate in one (Qh4#): the lowest score there is.
        choice = player.choose([MoveRequest("g", after_f3_e5, None, np.random.default_rng(0))])[0]
        assert choice.move == chess.Move.from_uci("g2g4")
        # Queen a1 takes the rook on a8 or walks to a square the pawn on b7 can take: worst gives the queen away.
        board = chess.Board("r3k3/1p6/8/8/8/8/8/Q3K3 w - - 0 1")
        move = player.choose([MoveRequest("g", board, None, np.random.default_rng(0))])[0].move
        board.push(move)
        assert any(board.is_capture(reply) and board.piece_at(reply.to_square).piece_type == chess.QUEEN
                   for reply in board.legal_moves)
        again = [player.choose([MoveRequest("g", after_f3_e5, None, np.random.default_rng(s))])[0].move
                 for s in range(3)]
        assert again == [chess.Move.from_uci("g2g4")] * 3
    finally:
        player.close()
    assert replays_identically("stockfish-l20-d1-worst") and not replays_identically("stockfish-l20-d1-worst-r50")
