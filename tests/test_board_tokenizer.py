"""Board tokenizers ("board", "board+elo"): each move after its position; round trip, golden position tokens, the
loss mask (board tokens are given, not predicted), the player's prompt and window, and a few training steps."""
import math
import random

import chess
import jax
import numpy as np
import pytest
import zstandard
from data_fixtures import pgn
from flax import nnx
from transcripts import transcript_of

from arena import MoveRequest
from data_pipeline import BoardTokenizer, get_tokenizer, make_dataset, normalize, read_manifest, shards
from data_pipeline import cli as data_cli
from data_pipeline.loader import LoaderSpec
from jaxformer.config import ModelConfig
from jaxformer.eval.move_player import MoveTokenPlayer
from jaxformer.metrics import read_metrics
from jaxformer.model import Transformer
from jaxformer.train import main as train_main

MOVE, BOARD, BELO = get_tokenizer("move"), get_tokenizer("board"), get_tokenizer("board+elo")
PLY = 66  # 64 squares, the side to move, the move


def test_vocabulary_extends_the_move_tokenizer():
    assert isinstance(BOARD, BoardTokenizer) and (BOARD.name, BELO.name, BOARD.kind) == ("board", "board+elo", "move")
    assert (BOARD.vocab_size, BELO.vocab_size, BOARD.position_width) == (1985, 2039, 65)
    assert BOARD.vocab[:1970] == MOVE.vocab  # pad, game start and the moves keep their ids
    assert BOARD.vocab[1970:1985] == (".", "P", "N", "B", "R", "Q", "K", "p", "n", "b", "r", "q", "k", "white", "black")
    assert (BELO.white_rating_offset, BELO.black_rating_offset) == (1985, 2012)
    assert [BELO.vocab[i] for i in BELO.rating_ids(1234, 2987)] == ["w1200", "b2900"]
    assert (BOARD.has_ratings, BELO.has_ratings, BOARD.rating_ids(1500, 1500)) == (False, True, [])
    assert MOVE.position_ids(chess.Board()) == [] and MOVE.trains_on(np.arange(5)) is None
    assert get_tokenizer("char32").position_ids(chess.Board()) == [] and get_tokenizer("char32").trains_on(np.ones(3)) is None


def test_position_tokens_of_a_known_fen():
    board = chess.Board("r1bqkb1r/pppp1ppp/2n2n2/4p2Q/2B1P3/8/PPPP1PPP/RNB1K1NR b KQkq - 5 4")
    ranks = ["RNB.K.NR", "PPPP.PPP", "........", "..B.P...", "....p..Q", "..n..n..", "pppp.ppp", "r.bqkb.r"]  # a1..h8
    ids = BOARD.position_ids(board)
    assert [BOARD.vocab[i] for i in ids] == [*"".join(ranks), "black"]
    assert ids[:5] == [1974, 1972, 1973, 1970, 1976] and ids[-1] == 1984
    assert BOARD.position_ids(chess.Board())[-1] == 1983 and len(BOARD.position_ids(chess.Board())) == 65


def _check_game(transcript: bytes, white: int, black: int) -> None:
    """Encode one game with both board tokenizers and check every token against a python-chess replay."""
    ids = BOARD.encode_game(transcript, white, black)
    rated = BELO.encode_game(transcript, white, black)
    moves = MOVE.encode_game(transcript, white, black)[1:]
    plies = moves.size
    assert ids.dtype == np.uint16 and ids.size == 1 + PLY * plies and rated.size == 3 + PLY * plies
    assert BOARD.decode(ids) == ";" + transcript.decode()  # the character transcript, byte for byte
    assert BOARD.decode_transcript(ids) == BELO.decode_transcript(rated) == transcript.decode()
    assert BOARD.encode(BOARD.decode(ids)).tolist() == ids.tolist()
    assert BELO.encode(BELO.decode(rated)).tolist() == rated.tolist()
    board = chess.Board()
    for ply in range(plies):
        block = ids[1 + PLY * ply: 1 + PLY * (ply + 1)]
        assert block[:65].tolist() == BOARD.position_ids(board) and block[65] == moves[ply]
        board.push(MOVE.move_of(int(moves[ply])))
    weights = BOARD.trains_on(ids)
    assert weights.dtype == np.float32 and set(weights.tolist()) <= {0.0, 1.0}
    assert int((weights == 0).sum()) == 65 * plies  # exactly the board tokens are masked
    np.testing.assert_array_equal(weights[::PLY], 1.0)  # the game start and every move: ids[PLY::PLY] are the moves
    assert int((BELO.trains_on(rated) == 0).sum()) == 65 * plies  # ratings are trained on, as in move+elo


def test_round_trip_of_generated_games_equals_the_char_transcripts():
    rng = random.Random(5)
    for _ in range(30):
        sans, _ = pgn.random_game(rng, max_plies=80)
        _check_game(pgn.transcript(sans).encode(), rng.randint(600, 2600), rng.randint(600, 2600))
    assert BOARD.encode_game(b"", 1500, 1500).tolist() == [1]  # a game without moves is its game start


def test_round_trip_on_the_shared_sample(shared_lichess_dir):
    with open(sorted(shared_lichess_dir.glob("*.pgn.zst"))[0], "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read(300_000)
    heads, movetexts, _ = normalize.split_chunk(text[: text.rfind(b"\n\n[") + 2])
    checked = 0
    for head, (t, reason, _) in zip(heads, normalize.normalize_movetexts(movetexts)):
        tags = normalize.parse_headers(head)
        if reason is None and tags.get(b"WhiteElo", b"").isdigit() and tags.get(b"BlackElo", b"").isdigit():
            _check_game(t, int(tags[b"WhiteElo"]), int(tags[b"BlackElo"]))
            checked += 1
    assert checked >= 50


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The same random PGN built with "move" and "board" -> {name: data dir}."""
    root = tmp_path_factory.mktemp("board_shards")
    text, _ = pgn.random_pgn(120, seed=13, max_plies=50)
    (root / "in.pgn").write_text(text)
    out = {}
    for name in ("move", "board"):
        out[name] = str(root / name)
        assert data_cli.main(["build", "--source", str(root / "in.pgn"), "--out", out[name], "--workers", "1",
                              "--shard-mb", "0.02", "--val-fraction", "0.2", "--tokenizer", name]) == 0
    return out


def test_build_and_dump_print_the_move_tokenizers_transcripts(built, capsys):
    dumps = {}
    for name, data_dir in built.items():
        assert data_cli.main(["dump", data_dir]) == 0
        dumps[name] = capsys.readouterr().out.splitlines()
    assert dumps["board"] == dumps["move"] and len(dumps["board"]) == 120
    m = read_manifest(built["board"])
    assert (m["tokenizer"], m["token_dtype"], m["vocab_size"]) == ("board", "uint16", 1985)
    assert "13 square tokens" in m["vocab_order"]
    index = shards.load_index(built["board"], list(range(m["shards"])))
    np.testing.assert_array_equal(index["n_tokens"], 1 + PLY * index["plies"].astype(np.int64))


def test_loss_mask_counts_only_moves_and_game_starts_in_every_packing(built):
    for packing in ("concat", "paper", "pad"):
        batch = next(iter(make_dataset(LoaderSpec(built["board"], seq_len=200, batch_size=4, packing=packing), 0, 1)))
        targets, mask = batch["targets"], batch["loss_mask"]
        real = targets != 0 if packing == "pad" else np.ones_like(targets, bool)  # "pad" pads with 0, mask 0
        counted = real & (targets < BOARD.position_offset)  # game starts and moves
        assert mask.dtype == np.float32 and mask.sum() == counted.sum() > 0
        np.testing.assert_array_equal(mask, counted.astype(np.float32))
        assert counted.sum() < mask.size / 30  # one target in ~66 is a move: the mask is not vacuous
    # the move tokenizer's mask is as before: every target of a concat row counts
    batch = next(iter(make_dataset(LoaderSpec(built["move"], seq_len=64, batch_size=4), 0, 1)))
    assert batch["loss_mask"].min() == 1.0


# A large init scale makes the random model far from uniform, so position errors show; max_len 300 makes a game slide its
# window every few plies (keeping max_len/2 = 150 tokens: the last two position blocks and the move between them).
CFG = ModelConfig(vocab_size=BELO.vocab_size, n_layer=2, n_head=2, d_model=32, max_len=300, init_std=0.4)


@pytest.fixture(scope="module")
def model():
    return Transformer(CFG, rngs=nnx.Rngs(0))


def _uncached_logp(model, ids: tuple[int, ...]) -> np.ndarray:
    graphdef, state = nnx.split(model)
    toks = np.zeros((1, CFG.max_len), np.int32)
    toks[0, :len(ids)] = ids
    logits = nnx.merge(graphdef, state)(toks)
    return np.asarray(jax.nn.log_softmax(logits, axis=-1), np.float64)[0, len(ids) - 1]



def test_the_prompt_is_encode_game_then_the_position_and_cached_equals_uncached(model):
    player = MoveTokenPlayer(model, BELO, slots=1, as_rating=1500)
    board, rng, slid = chess.Board(), np.random.default_rng(2), 0
    header = 3
    for _ply in range(14):  # 14 plies x 66 tokens outgrow max_len=300 several times
        req = _ask(board)
        ((moves, logp),) = player.move_log_probs([req])
        g = player.contexts.games["g"]
        prompt = (*BELO.encode_game(transcript_of(board), 1500, 1500).tolist(), *BELO.position_ids(board))
        assert g.transcript.ids == prompt and g.prefix == prompt[g.window:] and len(g.prefix) <= CFG.max_len
        if g.window:  # the window starts at a position block: a1's token, after whole plies
            slid += 1
            assert (g.window - header) % PLY == 0 and BELO.position_offset <= g.prefix[0] < BELO.side_offset
        full = _uncached_logp(model, g.prefix)
        legal = full[[BELO.move_id(m) for m in moves]]
        np.testing.assert_allclose(logp, legal - np.logaddexp.reduce(legal), atol=1e-5)
        np.testing.assert_allclose(player.legal_mass([req])[0], np.exp(legal).sum(), atol=1e-5)
        assert np.exp(logp).max() > 3 * np.exp(logp).min()  # not vacuous: far from uniform
        board.push(moves[rng.integers(len(moves))])
    assert slid >= 3


def _ask(board: chess.Board) -> MoveRequest:
    return MoveRequest("g", board.copy(), 1.0, np.random.default_rng(0))


def test_board_player_needs_room_for_two_plies():
    short = Transformer(ModelConfig(vocab_size=BOARD.vocab_size, n_layer=1, n_head=1, d_model=8, max_len=128),
                        rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"max_len=128 is too short for tokenizer 'board': a ply is 66 tokens.*at least 132"):
        MoveTokenPlayer(short, BOARD)
    MoveTokenPlayer(short, MOVE)  # the move tokenizer's ply is one token: 128 is plenty


def test_a_tiny_model_trains_on_board_shards(built, tmp_path):
    """`python -m jaxformer.train --config tiny --set data.tokenizer=board --set model.vocab_size=1985 ...`"""
    run = tmp_path / "run"
    sets = [f"data.dir={built['board']}", "data.tokenizer=board", "model.vocab_size=1985", "train.steps=12",
            "train.batch_size=16", "data.seq_len=256", "model.d_model=64", "train.log_every=1",
            "train.eval_every=0", "train.progress=false", "optim.warmup_steps=2", "checkpoint.every=0"]
    assert train_main(["--config", "tiny", "--run-dir", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    losses = [m["loss"] for m in read_metrics(run) if "loss" in m]
    assert len(losses) == 12 and all(math.isfinite(x) for x in losses)
    assert abs(losses[0] - math.log(1985)) < 0.3  # the loss is over moves and game starts only: near uniform at first
    assert np.mean(losses[-3:]) < losses[0] - 0.2  # measured: 7.594 -> 7.296 (one target in 66 counts: few a step)
