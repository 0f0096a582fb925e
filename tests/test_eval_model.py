"""The model player: exact move distribution (== brute force without cache), cached == uncached, char mode."""
import chess
import jax
import numpy as np
import pytest
from flax import nnx

from arena.players import MoveRequest
from data_pipeline.tokenizer import get_tokenizer
from jaxformer.config import ModelConfig
from jaxformer.eval.model_player import ModelPlayer
from jaxformer.eval.prompt import SEPARATORS, prompt_text
from jaxformer.eval.sampling import sample_index
from jaxformer.model import Transformer

TOK = get_tokenizer("char32")
# A large init scale makes the random model's predictions far from uniform, so position errors show.
CFG = ModelConfig(n_layer=2, n_head=2, d_model=32, max_len=64, init_std=0.4)


@pytest.fixture(scope="module")
def model():
    return Transformer(CFG, rngs=nnx.Rngs(0))


def _random_game(plies: int, seed: int) -> chess.Board:
    rng = np.random.default_rng(seed)
    board = chess.Board()
    for _ in range(plies):
        moves = sorted(board.legal_moves, key=chess.Move.uci)
        board.push(moves[rng.integers(len(moves))])
    return board


_FORWARD = {}


def _full_logps(model, texts: list[str]) -> list[np.ndarray]:
    """Uncached forward passes: texts padded to max_len in one jitted batch (causal: padding is invisible)."""
    if id(model) not in _FORWARD:
        graphdef, state = nnx.split(model)
        fwd = jax.jit(lambda st, t: jax.nn.log_softmax(nnx.merge(graphdef, st)(t), axis=-1))
        _FORWARD[id(model)] = lambda toks: fwd(state, toks)
    toks = np.zeros((len(texts), CFG.max_len), np.int32)
    for i, t in enumerate(texts):
        toks[i, :len(t)] = TOK.encode(t)
    out = np.asarray(_FORWARD[id(model)](toks), np.float64)
    return [out[i, :len(t)] for i, t in enumerate(texts)]


def _full_logp(model, text: str) -> np.ndarray:
    return _full_logps(model, [text])[0]


def _brute_force(model, board: chess.Board) -> tuple[list, np.ndarray]:
    """Each legal move scored by its own uncached forward pass over prompt + SAN."""
    prompt = prompt_text(board)
    sep = [TOK.vocab.index(s) for s in SEPARATORS]
    moves = sorted(board.legal_moves, key=chess.Move.uci)
    sans = [board.san(m) for m in moves]
    scores = []
    for san, logp in zip(sans, _full_logps(model, [prompt + san for san in sans])):
        ids = TOK.encode(prompt + san)
        n = len(prompt)
        chars = sum(logp[n - 1 + j, ids[n + j]] for j in range(len(san)))
        scores.append(chars + np.logaddexp.reduce(logp[-1, sep]))
    scores = np.array(scores)
    return moves, scores - np.logaddexp.reduce(scores)


def test_prompt_text_follows_the_transcript_format():
    board = chess.Board()
    assert prompt_text(board) == ";1."
    for san in ("e4", "e5", "Qh5", "Nc6", "Bc4", "Nf6", "Qxf7#"):
        board.push_san(san)
    assert prompt_text(board) == ";1.e4 e5 2.Qh5 Nc6 3.Bc4 Nf6 4.Qxf7# "
    board.pop()
    assert prompt_text(board) == ";1.e4 e5 2.Qh5 Nc6 3.Bc4 Nf6 4."


def test_move_distribution_sums_to_one_and_equals_brute_force(model):
    player = ModelPlayer(model, TOK, slots=2)
    boards = [_random_game(5, seed=1), _random_game(8, seed=2)]  # Black and White to move
    reqs = [MoveRequest(f"g{i}", b, 1.0, np.random.default_rng(i)) for i, b in enumerate(boards)]
    for (moves, logp), board in zip(player.move_log_probs(reqs), boards):
        assert np.exp(logp).sum() == pytest.approx(1.0, abs=1e-9)
        ref_moves, ref = _brute_force(model, board)
        assert moves == ref_moves
        np.testing.assert_allclose(logp, ref, atol=2e-4)
        assert np.exp(ref).max() > 3 * np.exp(ref).min()  # the check is not vacuous: far from uniform
    # The fallback for scan_layers models (candidates on replicated cache rows) agrees with the shared pass.
    for (_, a), (_, b) in zip(player.move_log_probs(reqs, shared=True), player.move_log_probs(reqs, shared=False)):
        np.testing.assert_allclose(a, b, atol=2e-4)


def test_kv_cached_decoding_equals_uncached_across_window_slides(model):
    player = ModelPlayer(model, TOK, slots=1)
    board = chess.Board()
    rng = np.random.default_rng(0)
    slid = 0
    for _ply in range(30):  # the transcript outgrows max_len=64 several times
        req = MoveRequest("g", board.copy(), 1.0, rng)
        player.move_log_probs([req])
        g = player.contexts.games["g"]
        slid += g.window > 0
        prompt = prompt_text(board)
        assert g.prefix == prompt[g.window:] and len(g.prefix) <= CFG.max_len
        np.testing.assert_allclose(g.last_logp, _full_logp(model, g.prefix)[-1], atol=2e-4)
        moves = sorted(board.legal_moves, key=chess.Move.uci)
        board.push(moves[rng.integers(len(moves))])
    assert slid > 0


def test_games_at_different_window_offsets_share_one_call(model):
    """A game whose window just slid needs a long feed; a game near the end of its window has room for a
    short one only. Fed together they must not overflow the cache, and both must equal uncached scoring."""
    player = ModelPlayer(model, TOK, slots=2)
    rng = np.random.default_rng(1)
    boards = {"short": chess.Board(), "long": chess.Board()}
    for ply in range(24):
        for name, board in boards.items():
            if name == "short" and ply >= 8:
                continue  # stays early while the other game keeps outgrowing max_len
            player.move_log_probs([MoveRequest(name, board.copy(), 1.0, rng)])
            moves = sorted(board.legal_moves, key=chess.Move.uci)
            board.push(moves[rng.integers(len(moves))])
    # One call over both games: "long" slides again (long feed) while "short" catches up many plies at once.
    for _ in range(12):
        for board in boards.values():
            moves = sorted(board.legal_moves, key=chess.Move.uci)
            board.push(moves[rng.integers(len(moves))])
        player.move_log_probs([MoveRequest(n, b.copy(), 1.0, rng) for n, b in boards.items()])
        for name in boards:
            g = player.contexts.games[name]
            assert len(g.prefix) <= CFG.max_len
            np.testing.assert_allclose(g.last_logp, _full_logp(model, g.prefix)[-1], atol=2e-4)


def test_temperature_zero_is_the_arg_max_and_sampling_follows_the_distribution(model):
    board = _random_game(4, seed=3)
    player = ModelPlayer(model, TOK, slots=8)
    moves, logp = player.move_log_probs([MoveRequest("ref", board, 1.0, np.random.default_rng(0))])[0]
    n = 256
    reqs = [MoveRequest(f"g{i}", board, 0.0, np.random.default_rng(i)) for i in range(n)]
    assert {c.move for c in player.choose(reqs)} == {moves[int(np.argmax(logp))]}
    for i in range(n):
        player.end_game(f"g{i}")
    reqs = [MoveRequest(f"h{i}", board, 1.0, np.random.default_rng(i)) for i in range(n)]
    best = moves[int(np.argmax(logp))]
    freq = sum(c.move == best for c in player.choose(reqs)) / n
    p = float(np.exp(logp.max()))
    assert abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n)
    # A near-zero temperature on move log-probabilities concentrates on the arg-max move.
    reqs = [MoveRequest(f"k{i}", board, 1e-3, np.random.default_rng(i)) for i in range(16)]
    assert {c.move for c in player.choose(reqs)} == {best}


def test_char_mode_retries_illegal_output_counts_it_and_rolls_the_cache_back(model):
    player = ModelPlayer(model, TOK, mode="char", slots=4)
    boards = [_random_game(k, seed=k) for k in (0, 3, 6, 9)]
    reqs = [MoveRequest(f"g{i}", b, 0.0, np.random.default_rng(i)) for i, b in enumerate(boards)]
    choices = player.choose(reqs)
    for c, b, r in zip(choices, boards, reqs):
        assert c.move in b.legal_moves
        g = player.contexts.games[r.game_id]
        assert g.prefix == prompt_text(b)[g.window:]  # generated characters do not stay in the cache
        np.testing.assert_allclose(g.last_logp, _full_logp(model, g.prefix)[-1], atol=2e-4)
    # A random model writes mostly non-moves: attempts are counted, and rising temperature varies the output.
    assert sum(c.illegal_attempts for c in choices) > 0
    assert player.illegal_total == sum(c.illegal_attempts for c in choices)


def test_sample_index_arg_max_ties_first_and_follows_the_tempered_distribution():
    logp = np.log(np.array([0.1, 0.4, 0.4, 0.1]))
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert sample_index(logp, 0.0, rng) == 1 and sample_index(logp, -1.0, rng) == 1  # ties: the first index
    assert rng.bit_generator.state == state  # the arg-max draws nothing
    n = 4000
    draws = np.bincount([sample_index(logp, 0.5, rng) for _ in range(n)], minlength=4) / n
    want = np.array([0.1, 0.4, 0.4, 0.1]) ** 2 / np.sum(np.array([0.1, 0.4, 0.4, 0.1]) ** 2)  # p^(1/T), T = 0.5
    np.testing.assert_allclose(draws, want, atol=0.03)
    with pytest.raises(ValueError, match="finite"):
        sample_index(logp, float("nan"), rng)
    with pytest.raises(ValueError, match="1-D"):
        sample_index(np.zeros((2, 2)), 1.0, rng)


@pytest.mark.parametrize("mode", ["move", "char"])
def test_a_missing_temperature_is_an_error_naming_the_game(model, mode):
    player = ModelPlayer(model, TOK, mode=mode, slots=1)
    with pytest.raises(ValueError, match="game g7: .*without a sampling temperature"):
        player.choose([MoveRequest("g7", chess.Board(), None, np.random.default_rng(0))])
