"""Synthetic experts are arena players: their games through the synth path and through the evaluation's
match runner are the same games (issue 8: one match loop), and an expert plays its engine's or its policy's move."""
import chess
import numpy as np
import pytest

from arena import (
    DEFAULT_NODES,
    EngineSpec,
    Expert,
    ExpertPlayer,
    GameStore,
    MatchRunner,
    MoveRequest,
    PlannedGame,
    Stockfish,
    StockfishPlayer,
)
from arena.biases import BIAS_POLICIES
from experiments.synth.play import GameJob, make_players, play_games

EXPERT = Expert("x-captures-n40-eps35", EngineSpec(skill=20, nodes=40), "captures", 0.35)
ANCHOR = EngineSpec(skill=20, nodes=30)
MIDGAME = chess.Board("r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 4 4")


def request(board: chess.Board, seed: int, game_id: str = "g") -> MoveRequest:
    return MoveRequest(game_id, board.copy(), None, np.random.default_rng(seed))


def test_expert_plays_its_engine_move_at_epsilon_0_and_its_policy_move_at_epsilon_1(stockfish_path):
    engine = StockfishPlayer(EXPERT.engine, stockfish_path)
    never = ExpertPlayer(Expert("never", EXPERT.engine, "king", 0.0), stockfish_path)
    always = ExpertPlayer(Expert("always", EXPERT.engine, "king", 1.0), stockfish_path)
    try:
        board = MIDGAME.copy()
        for seed in range(6):
            engine_move = engine.choose([request(board, seed)])[0].move
            assert never.choose([request(board, seed, "a")])[0].move == engine_move
            rng = np.random.default_rng(seed)
            rng.random()  # the expert's coin comes first from the game's stream, then the policy draws
            policy_move = BIAS_POLICIES["king"](board, rng)
            assert always.choose([request(board, seed, "b")])[0].move == policy_move
            assert board.piece_type_at(policy_move.from_square) == chess.KING
            board.push(engine_move)
        # Bias moves are counted per game and colour, readable once the runner ends the game.
        for player in (never, always):
            player.end_game("a"), player.end_game("b")
        assert never.bias_moves("a") == (0, 0)
        assert always.bias_moves("b") == (3, 3)  # the six moves alternated colours
        assert always.settings() == {"kind": "expert", **EXPERT.engine.settings(), "bias": "king", "epsilon": 1.0}
    finally:
        for player in (engine, never, always):
            player.close()


def test_expert_rejects_unknown_bias_and_bad_epsilon():
    with pytest.raises(ValueError, match="unknown bias 'bogus'"):
        Expert("x", ANCHOR, "bogus", 0.1)
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]"):
        Expert("x", ANCHOR, "uniform", 1.5)


def _evaluation_path(jobs: list[GameJob], seed: int, tmp_path, max_plies: int, stockfish_path: str) -> list[dict]:
    """The pairing as jaxformer/eval/worker.py plays it: fresh players, its adjudicator, a GameStore."""
    players = {EXPERT.name: ExpertPlayer(EXPERT, stockfish_path), ANCHOR.name: StockfishPlayer(ANCHOR, stockfish_path)}
    store = GameStore(tmp_path / "eval")
    plan = [PlannedGame(f"synth-s{seed}-{j.index:07d}", j.index + 1, j.white, j.black) for j in jobs]
    try:
        with Stockfish(EngineSpec(skill=20, nodes=DEFAULT_NODES), stockfish_path) as adjudicator:
            MatchRunner(players, adjudicator, store.append, max_plies=max_plies, concurrency=3, workers=1).run(plan)
    finally:
        for p in players.values():
            p.close()
    return sorted(store.records, key=lambda r: r["game_id"])


@pytest.mark.parametrize("max_plies, seed", [(400, 0), (24, 5)])
def test_synth_and_evaluation_play_the_same_games(tmp_path, stockfish_path, max_plies, seed):
    # Colours alternate; at 400 plies the games end by the rules, at 24 the single game is adjudicated.
    jobs = [GameJob(i, *((EXPERT.name, ANCHOR.name) if i % 2 == 0 else (ANCHOR.name, EXPERT.name)), True)
            for i in range(4 if max_plies == 400 else 1)]
    players = make_players([EXPERT], [ANCHOR], stockfish_path)
    try:
        synth = play_games(jobs, players, seed, tmp_path / "synth", max_plies, workers=2, stockfish=stockfish_path)
    finally:
        for p in players.values():
            p.close()
    evaluation = _evaluation_path(jobs, seed, tmp_path, max_plies, stockfish_path)
    assert [r["game_id"] for r in evaluation] == [f"synth-s{seed}-{i:07d}" for i in range(len(jobs))]
    assert [g.moves for g in synth] == [tuple(r["moves_uci"]) for r in evaluation]
    assert [(g.result, g.ending) for g in synth] == [(r["result"], r["termination"]) for r in evaluation]
    recorded = sorted(GameStore(tmp_path / "synth").records, key=lambda r: r["game_id"])
    keys = ("game_id", "white", "black", "result", "termination", "adjudicated", "eval_cp", "plies", "moves_uci")
    assert [{k: r[k] for k in keys} for r in recorded] == [{k: r[k] for k in keys} for r in evaluation]
    if max_plies == 400:
        assert {g.ending for g in synth} <= {"checkmate", "stalemate", "insufficient_material",
                                            "threefold_repetition", "fivefold_repetition", "seventyfive_moves"}
        assert len({g.moves for g in synth}) == len(jobs)  # the game id seeds the game: no two alike
        assert sum(g.bias_moves[0] + g.bias_moves[1] for g in synth) > 0
    else:
        assert evaluation[0]["adjudicated"] and evaluation[0]["plies"] == 24
