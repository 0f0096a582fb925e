"""`transcend uci`: python-chess's engine API plays a whole game against the random mover; the protocol's edges."""
import io
import os
import pathlib
import subprocess
import sys

import chess
import chess.engine
import numpy as np
import pytest
from run_fixtures import save_untrained_run

from arena import MoveRequest, RandomMover, rules_ending
from experiments.cli import main as transcend
from jaxformer.eval import uci
from jaxformer.eval.api import load_run

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}
KIWIPETE = "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> pathlib.Path:
    """An untrained tiny model saved as a real checkpoint: it plays legal, near-random chess."""
    return save_untrained_run(tmp_path_factory.mktemp("uci") / "run", "ucitest", cutoff=1000, steps=(7,))


def _uci_command(run: pathlib.Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "experiments.cli", "uci", "--run", str(run), *extra]


@pytest.mark.slow
@pytest.mark.heavy
def test_python_chess_plays_a_whole_game_against_the_random_mover(run_dir):
    engine = chess.engine.SimpleEngine.popen_uci(_uci_command(run_dir), cwd=REPO, env=ENV, timeout=120)
    board, random_mover, rng = chess.Board(), RandomMover(), np.random.default_rng(3)
    first_move = None
    try:
        assert engine.id["name"] == "transcendence run"
        engine.ping()  # isready: loads the model
        while rules_ending(board) is None:
            if board.turn == chess.WHITE:  # the model plays White, given 1 s a move (ignored but sent)
                move = engine.play(board, chess.engine.Limit(time=1.0, white_clock=60, black_clock=60)).move
                first_move = first_move or move
            else:
                move = random_mover.choose([MoveRequest("g", board, None, rng)])[0].move
            assert move in board.legal_moves, (move, board.fen())
            board.push(move)
    finally:
        engine.quit()
    assert rules_ending(board) is not None and board.ply() > 10
    # T = 0 (the default) plays the arg-max of the notebook API's exact distribution
    assert chess.Board().san(first_move) == load_run(run_dir).move_distribution(chess.Board(), 0.0)[0][0]


def test_protocol_fen_refusal_infinite_search_and_searchmoves(run_dir):
    script = "\n".join([
        "uci", "isready", "setoption name Hash value 16", f"position fen {KIWIPETE}", "go movetime 100",
        "ucinewgame", f"position fen {chess.STARTING_FEN} moves e2e4", "go infinite", "isready", "stop",
        "position startpos moves e2e4", "go wtime 1000 btime 1000 searchmoves c7c5 bogus", "go depth", "quit", "",
    ])
    out = subprocess.run(_uci_command(run_dir, "--temperature", "0.5"), input=script, capture_output=True, text=True,
                         cwd=REPO, env=ENV, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[:3] == ["id name transcendence run", f"id author {lines[1][len('id author '):]}", "uciok"]
    assert lines[3] == "readyok"
    assert "no options" in lines[4]
    bestmoves = [i for i, line in enumerate(lines) if line.startswith("bestmove")]
    assert len(bestmoves) == 4
    # a FEN other than the start: refused with a reason, and `go` answers the null move
    assert "refused" in lines[5] and "start position" in lines[5]
    assert lines[bestmoves[0]] == "bestmove 0000"
    # go infinite: the answer waits for stop (the readyok comes first); the start FEN with moves is accepted
    infinite_move = lines[bestmoves[1]].split()[1]
    assert lines.index("readyok", 4) < bestmoves[1] and chess.Move.from_uci(infinite_move) in _after("e2e4").legal_moves
    # searchmoves restricts the choice to the one legal move listed; the junk word is reported, not fatal
    assert lines[bestmoves[2]] == "bestmove c7c5"
    assert any("'bogus' is not a legal move" in line for line in lines)
    # `go depth` without its number: reported, and still answered (every `go` gets a bestmove)
    assert any("depth needs a number" in line for line in lines)
    assert chess.Move.from_uci(lines[bestmoves[3]].split()[1]) in _after("e2e4").legal_moves


def _after(*moves: str) -> chess.Board:
    board = chess.Board()
    for m in moves:
        board.push_uci(m)
    return board


def test_as_rating_and_a_missing_run_are_refused_in_one_sentence(run_dir, tmp_path, capsys):
    assert transcend(["uci", "--run", str(run_dir), "--as-rating", "1500"]) == 2
    err = capsys.readouterr().err
    assert "--as-rating 1500" in err and "no rating conditioning" in err and "Traceback" not in err
    assert transcend(["uci", "--run", str(tmp_path / "nowhere")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    # a run without a checkpoint: `uci` is answered, `isready` says why the model cannot load, and the session ends
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((run_dir / "config.json").read_text())
    answers = io.StringIO()
    with pytest.raises(ValueError, match=f"--run {empty}"):
        uci.main(["--run", str(empty)], stdin=io.StringIO("uci\nisready\ngo\n"), stdout=answers)
    assert answers.getvalue().splitlines()[2] == "uciok"
    assert answers.getvalue().splitlines()[3].startswith("info string error: --run")
