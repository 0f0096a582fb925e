"""The notebook API (jaxformer.eval.api) on a run trained for a few steps: exact distributions, one game."""
import pathlib

import chess
import jax
import numpy as np
import pytest
from test_train_data import build_shards, small_config

from arena import MoveRequest
from jaxformer.checkpoint import CheckpointError
from jaxformer.eval.api import load_run
from jaxformer.eval.sampling import sample_index, temperature_probabilities
from jaxformer.train import run_training

TRAINED_STEPS = 4


def train_tiny_run(root: pathlib.Path) -> pathlib.Path:
    """A real run directory: shards of generated games, the tiny model trained a few steps, its final checkpoint."""
    shards = build_shards(root / "data", n_games=120)
    run = root / "run"
    run_training(small_config(shards, f"train.steps={TRAINED_STEPS}"), run, devices=jax.devices()[:1])
    return run


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    return load_run(train_tiny_run(tmp_path_factory.mktemp("api")))


def _opening() -> chess.Board:
    board = chess.Board()
    for san in ("e4", "e5", "Nf3"):
        board.push_san(san)
    return board


def test_load_run_gives_model_step_config_and_tokenizer(loaded, tmp_path):
    assert loaded.step == TRAINED_STEPS and loaded.config.train.steps == TRAINED_STEPS
    assert loaded.config.model.d_model == 64 and loaded.tokenizer.vocab[0] is not None
    assert loaded.name.endswith(f"@{TRAINED_STEPS}")
    with pytest.raises(CheckpointError, match="step 99 has no complete checkpoint"):
        load_run(loaded.path, step=99)


def test_move_distribution_is_exact_and_applies_the_temperature(loaded):
    board = _opening()
    ((moves, logp),) = loaded.player().move_log_probs([MoveRequest("check", board.copy(), 1.0, np.random.default_rng(0))])
    loaded.player().end_game("check")
    by_san_t1 = dict(loaded.move_distribution(board, 1.0))
    assert set(by_san_t1) == {board.san(m) for m in board.legal_moves} and len(by_san_t1) == 29
    assert sum(by_san_t1.values()) == pytest.approx(1.0, abs=1e-9)
    for move, lp in zip(moves, logp):  # T=1: the model's own probabilities over the legal moves
        assert by_san_t1[board.san(move)] == pytest.approx(float(np.exp(lp)), rel=1e-5)
    dist_half = loaded.move_distribution(board, 0.5)
    probs = [p for _, p in dist_half]
    assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)
    squared = {san: p * p for san, p in by_san_t1.items()}
    total = sum(squared.values())
    for san, p in dist_half:  # T=0.5: p^(1/T) renormalised
        assert p == pytest.approx(squared[san] / total, rel=1e-4)
    argmax = loaded.move_distribution(board, 0.0)
    assert argmax[0] == (board.san(moves[sample_index(logp, 0.0, np.random.default_rng(0))]), 1.0)
    assert all(p == 0.0 for _, p in argmax[1:])
    # The board is not modified, and the cached row is freed: asking again gives the same answer.
    assert len(board.move_stack) == 3
    assert dict(loaded.move_distribution(board, 1.0)) == pytest.approx(by_san_t1)


def test_temperature_probabilities_match_the_sampler():
    logp = np.log(np.array([0.5, 0.3, 0.2]))
    assert temperature_probabilities(logp, 1.0) == pytest.approx([0.5, 0.3, 0.2])
    assert list(temperature_probabilities(logp, 0.0)) == [1.0, 0.0, 0.0]
    rng = np.random.default_rng(1)
    counts = np.bincount([sample_index(logp, 0.5, rng) for _ in range(20000)], minlength=3) / 20000
    assert counts == pytest.approx(temperature_probabilities(logp, 0.5), abs=0.015)


def test_play_one_game_as_evaluation_plays_it(loaded, stockfish_path):
    record = loaded.play("random", temperature=0.0, as_white=False, seed=3, max_plies=30, stockfish=stockfish_path)
    assert record["black"] == loaded.name and record["white"] == "random"
    assert record["result"] in ("1-0", "0-1", "1/2-1/2") and record["temperature"] == 0.0 and record["mode"] == "move"
    board = chess.Board()
    for uci in record["moves_uci"]:
        move = chess.Move.from_uci(uci)
        assert move in board.legal_moves
        board.push(move)
    assert board.fen() == record["final_fen"] and record["plies"] == len(record["moves_uci"]) <= 30
    assert record["termination"] in ("checkmate", "stalemate", "insufficient_material", "seventyfive_moves",
                                     "fivefold_repetition", "threefold_repetition", "adjudication", "ply_cap")
    again = loaded.play("random", temperature=0.0, as_white=False, seed=3, max_plies=30, stockfish=stockfish_path)
    assert again["moves_uci"] == record["moves_uci"]  # a game is fixed by its seed
    with pytest.raises(ValueError, match="give one opponent"):
        loaded.play("random,1")
