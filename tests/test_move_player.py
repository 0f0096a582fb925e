"""The move-token player: legal-move softmax, cached == uncached, batching, T -> 0, a whole game, --as-rating."""
import json
import pathlib

import chess
import jax
import numpy as np
import pytest
from flax import nnx
from run_fixtures import save_untrained_run
from transcripts import transcript_of

from arena import MatchRunner, MoveRequest, PlannedGame, RandomMover
from data_pipeline import get_tokenizer
from jaxformer.config import ModelConfig
from jaxformer.eval import uci, worker
from jaxformer.eval.api import load_run
from jaxformer.eval.move_player import MoveTokenPlayer, model_player
from jaxformer.model import Transformer

MOVE, ELO = get_tokenizer("move"), get_tokenizer("move+elo")
# A large init scale makes the random model's predictions far from uniform, so position errors show; max_len 32 makes
# a game of 40 plies slide its window.
CFG = ModelConfig(vocab_size=ELO.vocab_size, n_layer=2, n_head=2, d_model=32, max_len=32, init_std=0.4)


@pytest.fixture(scope="module")
def model():
    return Transformer(CFG, rngs=nnx.Rngs(0))


_FORWARD: dict = {}


def _uncached_logp(model, ids: tuple[int, ...]) -> np.ndarray:
    """The next-token log-probs after `ids` from one full, uncached forward pass (padded to max_len: causal)."""
    if id(model) not in _FORWARD:
        graphdef, state = nnx.split(model)
        fwd = jax.jit(lambda st, t: jax.nn.log_softmax(nnx.merge(graphdef, st)(t), axis=-1))
        _FORWARD[id(model)] = lambda toks: fwd(state, toks)
    toks = np.zeros((1, CFG.max_len), np.int32)
    toks[0, :len(ids)] = ids
    return np.asarray(_FORWARD[id(model)](toks), np.float64)[0, len(ids) - 1]


def _legal_logp(tok, logp_V: np.ndarray, board: chess.Board) -> np.ndarray:
    moves = sorted(board.legal_moves, key=chess.Move.uci)
    lp = logp_V[[tok.move_id(m) for m in moves]]
    return lp - np.logaddexp.reduce(lp)



def _random_game(plies: int, seed: int) -> chess.Board:
    rng, board = np.random.default_rng(seed), chess.Board()
    for _ in range(plies):
        moves = sorted(board.legal_moves, key=chess.Move.uci)
        board.push(moves[rng.integers(len(moves))])
    return board


def _ask(player, game_id: str, board: chess.Board, temperature: float = 1.0, seed: int = 0) -> MoveRequest:
    return MoveRequest(game_id, board.copy(), temperature, np.random.default_rng(seed))


def test_illegal_moves_get_exactly_zero_probability(model):
    player = MoveTokenPlayer(model, MOVE, slots=1)
    board = _random_game(6, seed=1)
    ((moves, logp),) = player.move_log_probs([_ask(player, "g", board)])
    assert moves == sorted(board.legal_moves, key=chess.Move.uci)
    assert len(logp) == board.legal_moves.count() and np.exp(logp).sum() == pytest.approx(1.0, abs=1e-12)
    # The unrestricted softmax puts most of its mass on ids that are no legal move here: the restriction matters.
    full = player.contexts.games["g"].next_logp()
    assert np.exp(full[MOVE.legal_move_ids(board)]).sum() < 0.5
    for seed in range(200):  # sampling at a high temperature still only ever draws legal moves
        (c,) = player.choose([_ask(player, "g", board, 5.0, seed=seed)])
        assert c.move in board.legal_moves


def test_cached_distributions_equal_uncached_ones_across_window_slides(model):
    player = MoveTokenPlayer(model, ELO, slots=1, as_rating=1500)
    board, rng, slid = chess.Board(), np.random.default_rng(2), 0
    for _ply in range(40):  # 40 plies + 3 header tokens outgrow max_len=32: the window slides
        ((moves, logp),) = player.move_log_probs([_ask(player, "g", board)])
        g = player.contexts.games["g"]
        prompt = tuple(int(t) for t in ELO.encode_game(transcript_of(board), 1500, 1500))
        assert g.prefix == prompt[g.window:] and len(g.prefix) <= CFG.max_len  # the prompt is what training saw
        slid += g.window > 0
        np.testing.assert_allclose(logp, _legal_logp(ELO, _uncached_logp(model, g.prefix), board), atol=1e-5)
        assert np.exp(logp).max() > 3 * np.exp(logp).min()  # not vacuous: far from uniform
        board.push(moves[rng.integers(len(moves))])
    assert slid > 0


def test_three_games_batched_in_one_call_equal_each_alone(model):
    boards = [_random_game(n, seed=n) for n in (3, 10, 25)]
    together = MoveTokenPlayer(model, MOVE, slots=2)  # the cache grows to hold the third game
    batched = together.move_log_probs([_ask(together, f"g{i}", b) for i, b in enumerate(boards)])
    alone = MoveTokenPlayer(model, MOVE, slots=1)
    for i, (board, (moves, logp)) in enumerate(zip(boards, batched)):
        ((moves1, logp1),) = alone.move_log_probs([_ask(alone, f"solo{i}", board)])  # one game a call
        alone.end_game(f"solo{i}")
        assert moves == moves1
        np.testing.assert_allclose(logp, logp1, atol=1e-5)
    # and they stay equal as the games go on, fed together one move each
    for board, (moves, _) in zip(boards, batched):
        board.push(moves[0])
        board.push(sorted(board.legal_moves, key=chess.Move.uci)[-1])
    again = together.move_log_probs([_ask(together, f"g{i}", b) for i, b in enumerate(boards)])
    for board, (_, logp) in zip(boards, again):
        g_logp = _legal_logp(MOVE, _uncached_logp(model, (MOVE.game_start_id, *map(MOVE.move_id, board.move_stack))),
                             board)
        np.testing.assert_allclose(logp, g_logp, atol=1e-5)


def test_temperature_zero_and_near_zero_play_the_arg_max(model):
    player = MoveTokenPlayer(model, MOVE, slots=8)
    board = _random_game(4, seed=3)
    ((moves, logp),) = player.move_log_probs([_ask(player, "ref", board)])
    best = moves[int(np.argmax(logp))]
    for temperature in (0.0, 1e-4):
        reqs = [_ask(player, f"T{temperature}-{i}", board, temperature, seed=i) for i in range(16)]
        assert {c.move for c in player.choose(reqs)} == {best}
    reqs = [_ask(player, f"hot-{i}", board, 1.0, seed=i) for i in range(64)]
    assert len({c.move for c in player.choose(reqs)}) > 1  # T = 1 does sample


def test_a_whole_short_game_against_the_random_mover(model):
    player = MoveTokenPlayer(model, ELO, name="model", slots=2, as_rating=1200)
    records: list[dict] = []
    runner = MatchRunner({"model": player, "random": RandomMover()}, None, records.append, max_plies=40,
                         cap_result="draw", concurrency=2, workers=1)
    runner.run([PlannedGame("w", 1, "model", "random", temperature=1.0, mode="move"),
                PlannedGame("b", 2, "random", "model", temperature=0.0, mode="move")], desc="test")
    assert len(records) == 2
    for r in records:
        board = chess.Board()
        for san in r["moves_san"]:
            board.push_san(san)  # every move replays legally
        assert r["plies"] == len(r["moves_san"]) and 0 < r["plies"] <= 40
        side = "white" if r["white"] == "model" else "black"
        assert r["players"][side]["settings"]["as_rating"] == 1200
        assert r["players"][side]["settings"]["tokenizer"] == "move+elo"
    assert player.contexts.games == {}  # every game's cache row was released


def test_as_rating_changes_the_distribution_of_a_rating_conditioned_model(model):
    board = _random_game(5, seed=4)
    weak, strong = (MoveTokenPlayer(model, ELO, slots=1, as_rating=r) for r in (800, 2400))
    logp_weak, logp_strong = (p.move_log_probs([_ask(p, "g", board)])[0][1] for p in (weak, strong))
    assert np.abs(logp_weak - logp_strong).max() > 1e-2  # different rating tokens, different logits
    assert weak.contexts.games["g"].prefix[:3] == (ELO.game_start_id, *ELO.rating_ids(800, 800))
    assert strong.contexts.games["g"].prefix[:3] == (ELO.game_start_id, *ELO.rating_ids(2400, 2400))
    assert ELO.rating_ids(1510, 1510) == ELO.rating_ids(1590, 1590) != ELO.rating_ids(1610, 1610)  # 100-Elo buckets


def test_rating_and_mode_mismatches_are_clear_errors(model):
    with pytest.raises(ValueError, match="conditions the model on the players' ratings.*--as-rating R"):
        MoveTokenPlayer(model, ELO)
    with pytest.raises(ValueError, match="--as-rating 1500: .*'move' has no rating conditioning"):
        MoveTokenPlayer(model, MOVE, as_rating=1500)
    with pytest.raises(ValueError, match="no characters to sample"):
        model_player(model, MOVE, name="m", mode="char")
    with pytest.raises(ValueError, match="'char32' has no rating conditioning"):
        model_player(model, get_tokenizer("char32"), name="m", as_rating=1500)
    char_model = Transformer(ModelConfig(n_layer=1, n_head=1, d_model=8, max_len=8), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="smaller than tokenizer 'move'"):
        MoveTokenPlayer(char_model, MOVE)


@pytest.fixture(scope="module")
def elo_run(tmp_path_factory) -> pathlib.Path:
    return save_untrained_run(tmp_path_factory.mktemp("elo") / "run", "elotest", cutoff=1000, steps=(3,),
                              tokenizer="move+elo")


def _eval_args(run: pathlib.Path, anchors: pathlib.Path, *extra: str) -> list[str]:
    return ["--run", str(run), "--levels", "random", "--temperatures", "0", "--games", "2", "--max-plies", "12",
            "--concurrency", "2", "--workers", "1", "--n-boot", "20", "--anchors", str(anchors), "--no-tensorboard",
            *extra]


@pytest.mark.slow
def test_eval_of_a_rating_conditioned_run_records_its_rating(elo_run, tmp_path, capsys, stockfish_path):
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps({"ratings": {"random": 400.0}}))
    assert worker.main(_eval_args(elo_run, anchors)) == 2
    assert "no rating was given: pass --as-rating R" in capsys.readouterr().err
    assert worker.main(_eval_args(elo_run, anchors, "--as-rating", "1500", "--protocol", "paper")) == 2
    assert "no characters to sample" in capsys.readouterr().err
    for rating in ("1500", "2500"):
        assert worker.main(_eval_args(elo_run, anchors, "--as-rating", rating)) == 0
    ratings = json.loads((elo_run / "eval" / "3" / "ratings.json").read_text())
    assert [(r["as_rating"], r["games"], r["planned_games"]) for r in ratings["results"]] == [(1500, 2, None),
                                                                                              (2500, 2, 2)]
    ids = sorted(json.loads(line)["game_id"] for line in (elo_run / "eval" / "3" / "games.jsonl").read_text().splitlines())
    assert [i.split("-T")[0] for i in ids] == ["s3-move-R1500"] * 2 + ["s3-move-R2500"] * 2


def test_api_and_uci_condition_the_run_or_refuse(elo_run, tmp_path):
    with pytest.raises(ValueError, match="--as-rating R"):
        load_run(elo_run)
    loaded = load_run(elo_run, as_rating=1800)
    assert isinstance(loaded.player(), MoveTokenPlayer) and loaded.player().as_rating == 1800
    dist = loaded.move_distribution(chess.Board(), temperature=1.0)
    assert len(dist) == 20 and sum(p for _, p in dist) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no characters to sample"):
        loaded.player("char")
    uci.check_run(str(elo_run), 1800)
    with pytest.raises(ValueError, match="--as-rating R"):
        uci.check_run(str(elo_run), None)
