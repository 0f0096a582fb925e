"""Move tokenizers ("move", "move+elo"): vocabulary, ratings, round trip on real games, shards, dump, training."""
import math
import random

import chess
import numpy as np
import pytest
import zstandard
from data_fixtures import pgn

from data_pipeline import UCI_MOVES, get_tokenizer, make_dataset, normalize, read_manifest, shards
from data_pipeline import cli as data_cli
from data_pipeline.loader import LoaderSpec
from jaxformer import data as data_lib
from jaxformer.config import DataConfig, resolve_config
from jaxformer.metrics import read_metrics
from jaxformer.train import main as train_main

MOVE, ELO = get_tokenizer("move"), get_tokenizer("move+elo")


def _geometry(uci: str) -> str:
    df = abs(ord(uci[0]) - ord(uci[2]))
    dr = abs(int(uci[1]) - int(uci[3]))
    if len(uci) == 5:
        return "promotion"
    return "knight" if {df, dr} == {1, 2} else "queen"


def test_vocabulary_is_the_1968_uci_moves_in_sorted_order():
    assert len(UCI_MOVES) == len(set(UCI_MOVES)) == 1968
    assert list(UCI_MOVES) == sorted(UCI_MOVES)
    kinds = [_geometry(u) for u in UCI_MOVES]
    assert (kinds.count("queen"), kinds.count("knight"), kinds.count("promotion")) == (1456, 336, 176)
    assert (MOVE.pad_id, MOVE.game_start_id, MOVE.vocab_size, ELO.vocab_size) == (0, 1, 1970, 2024)
    assert MOVE.token_dtype is np.uint16 and get_tokenizer("char32").token_dtype is np.uint8
    assert (MOVE.kind, MOVE.has_ratings, ELO.has_ratings, get_tokenizer("char32").has_ratings) == ("move", False, True, False)
    assert MOVE.move_id(chess.Move.from_uci("a1a2")) == 2 and MOVE.move_of(1969) == chess.Move.from_uci("h8h7")
    for bad in (0, 1, 1970):
        with pytest.raises(ValueError, match=f"token id {bad} is not a move of tokenizer move"):
            MOVE.move_of(bad)
    with pytest.raises(ValueError, match="'0000' is not in the move vocabulary"):
        MOVE.move_id(chess.Move.null())


def _sampled_positions(n_games: int = 60, seed: int = 3) -> list[chess.Board]:
    """Positions of random games, plus hand-set ones where both colours promote, straight and capturing."""
    rng, boards = random.Random(seed), []
    for _ in range(n_games):
        board = chess.Board()
        for _ in range(rng.randint(1, 150)):
            moves = list(board.legal_moves)
            if not moves:
                break
            board.push(rng.choice(moves))
            boards.append(board.copy(stack=False))
    for fen in ("1n5r/P1P3P1/8/5k2/2K5/8/1p3p1p/R5N1 w - - 0 1", "1n5r/P1P3P1/8/5k2/2K5/8/1p3p1p/R5N1 b - - 0 1"):
        boards.append(chess.Board(fen))
    return boards


def test_every_legal_move_of_sampled_positions_has_its_own_id():
    promotions = 0
    for board in _sampled_positions():
        legal = sorted(board.legal_moves, key=lambda m: m.uci())
        ids = [MOVE.move_id(m) for m in legal]
        assert [MOVE.move_of(i) for i in ids] == legal
        np.testing.assert_array_equal(MOVE.legal_move_ids(board), ids)  # ascending = sorted UCI order
        assert len(set(ids)) == len(ids)
        promotions += sum(m.promotion is not None for m in legal)
    assert promotions >= 48  # the hand-set positions alone: 2 colours x 3 pawns x (straight, capturing) x 4 pieces


def test_legal_move_ids_equal_the_encode_of_each_move():
    """The id the player masks to is the id the training data holds for that move after the same transcript."""
    rng = random.Random(7)
    for _ in range(5):
        sans, _ = pgn.random_game(rng, max_plies=30)
        board = chess.Board()
        for s in sans:
            board.push_san(s)
        text = ";" + pgn.transcript(sans)
        encoded = []
        for move in sorted(board.legal_moves, key=lambda m: m.uci()):
            number = f"{board.fullmove_number}." if board.turn == chess.WHITE else ""
            encoded.append(int(MOVE.encode(f"{text} {number}{board.san(move)}")[-1]))
        assert MOVE.legal_move_ids(board).tolist() == encoded


def test_rating_tokens_bucket_and_clamp_per_colour():
    w, b = ELO.white_rating_offset, ELO.black_rating_offset
    assert (w, b) == (1970, 1997)
    assert ELO.rating_ids(1500, 1500) == [w + 11, b + 11]  # same rating, different ids per colour
    assert ELO.rating_ids(1599, 1600) == [w + 11, b + 12]
    assert ELO.rating_ids(399, 100) == ELO.rating_ids(400, 499) == [w, b]
    assert ELO.rating_ids(3000, 5000) == [w + 26, b + 26]
    assert [ELO.vocab[i] for i in ELO.rating_ids(1234, 2987)] == ["w1200", "b2900"]
    assert MOVE.rating_ids(1500, 1500) == []
    game = ELO.encode_game(b"1.e4 e5", 1234, 2987)
    assert game.tolist() == [1, w + 8, b + 25, *MOVE.encode("1.e4 e5").tolist()]
    assert ELO.decode(game) == ";[w1200 b2900] 1.e4 e5"
    assert ELO.decode(game[:3]) == ";[w1200 b2900]" and ELO.encode(";[w1200 b2900]").tolist() == game[:3].tolist()
    assert ELO.decode_transcript(game) == "1.e4 e5"
    char = get_tokenizer("char32")
    assert char.encode_game(b"1.e4 e5", 1234, 2987).tolist() == char.encode(";1.e4 e5").tolist()


def test_bad_transcripts_and_ids_are_named():
    with pytest.raises(ValueError, match=r"^ply 3: move 'Nf9' does not replay .*fix or drop this game"):
        MOVE.encode(";1.e4 e5 2.Nf9")
    with pytest.raises(ValueError, match=r"^game 2, ply 2: move 'Ke7' does not replay"):
        MOVE.encode(";1.e4 e5;1.d4 Ke7")
    with pytest.raises(ValueError, match="ply 1: move '--' does not replay"):
        MOVE.encode(";1.--")
    with pytest.raises(ValueError, match=r"'w1500' is not a rating token of tokenizer move \(it has none; use move\+elo\)"):
        MOVE.encode(";[w1500 b1400] 1.e4")
    with pytest.raises(ValueError, match="ply 1: move e2e5 is illegal"):
        MOVE.decode([1, MOVE.move_id(chess.Move.from_uci("e2e5"))])
    with pytest.raises(ValueError, match="token id 1970 after ply 0 is not a move, rating or game start of tokenizer move"):
        MOVE.decode([1, 1970])
    assert MOVE.decode([1, 1033, 0, 0]) == ";1.e4"  # padding is no text


def _shared_sample(path, n_games: int = 300) -> tuple[list[bytes], list[tuple[int, int]]]:
    """The first games of a shared file that the build keeps -> (transcripts, (white_elo, black_elo))."""
    with open(path, "rb") as f:
        text = zstandard.ZstdDecompressor().stream_reader(f).read(1_000_000)
    heads, movetexts, _ = normalize.split_chunk(text[: text.rfind(b"\n\n[") + 2])
    transcripts, ratings = [], []
    for head, (t, reason, _) in zip(heads, normalize.normalize_movetexts(movetexts)):
        tags = normalize.parse_headers(head)
        if reason is None and tags.get(b"WhiteElo", b"").isdigit() and tags.get(b"BlackElo", b"").isdigit():
            transcripts.append(t)
            ratings.append((int(tags[b"WhiteElo"]), int(tags[b"BlackElo"])))
    return transcripts[:n_games], ratings[:n_games]


def test_round_trip_on_the_shared_sample_equals_the_char_transcripts(shared_lichess_dir):
    transcripts, ratings = _shared_sample(sorted(shared_lichess_dir.glob("*.pgn.zst"))[0])
    assert len(transcripts) == 300
    for t, (white, black) in zip(transcripts, ratings):
        ids = MOVE.encode_game(t, white, black)
        assert ids.size == t.count(b" ") + 2 and ids.dtype == np.uint16
        assert MOVE.decode(ids) == ";" + t.decode()  # replayed SAN is the character transcript, byte for byte
        rated = ELO.encode_game(t, white, black)
        assert ELO.decode_transcript(rated) == t.decode()
        assert ELO.encode(ELO.decode(rated)).tolist() == rated.tolist()


def _build(tmp_path, tokenizer: str, source) -> str:
    out = tmp_path / tokenizer
    assert data_cli.main(["build", "--source", str(source), "--out", str(out), "--workers", "1", "--shard-mb", "0.01",
                          "--val-fraction", "0.2", "--tokenizer", tokenizer]) == 0
    return str(out)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The same PGN (random legal games and one illegal one) built with each tokenizer -> {name: data dir}."""
    root = tmp_path_factory.mktemp("move_shards")
    text, _ = pgn.random_pgn(300, seed=11, max_plies=60)
    illegal = pgn.game_text(pgn.lichess_headers(random.Random(0), 1500, 1500, "1-0"), "1. e4 e5 2. Ke3 Nf6 1-0")
    (root / "in.pgn").write_text(text + illegal)
    return {name: _build(root, name, root / "in.pgn") for name in ("char32", "move", "move+elo")}


def test_build_then_dump_prints_the_same_transcripts_for_every_tokenizer(built, capsys):
    dumps = {}
    for name, data_dir in built.items():
        assert data_cli.main(["dump", data_dir]) == 0
        dumps[name] = capsys.readouterr().out.splitlines()
    assert "1.e4 e5 2.Ke3 Nf6" in dumps["char32"]  # char32 does not replay; the move tokenizers must
    assert dumps["move"] == dumps["move+elo"] == [t for t in dumps["char32"] if t != "1.e4 e5 2.Ke3 Nf6"]
    assert len(dumps["move"]) == 300
    for name, dtype, size in (("char32", "uint8", 32), ("move", "uint16", 1970), ("move+elo", "uint16", 2024)):
        m = read_manifest(built[name])
        assert (m["tokenizer"], m["token_dtype"], m["vocab_size"]) == (name, dtype, size)
        assert m["record_format"].endswith(f"+ {dtype} tokens")
        assert m["counts"]["rejected"].get("illegal_move", 0) == (name != "char32")
    assert data_cli.main(["stats", built["move"]]) == 0
    n_shards = read_manifest(built["move"])["shards"]
    assert n_shards > 3  # several shards: records of each are read back in order
    assert f"{built['move']}: {n_shards} shards, tokenizer move (1970 ids, uint16 records)\n" in capsys.readouterr().out
    index = shards.load_index(built["move+elo"], list(range(read_manifest(built["move+elo"])["shards"])))
    np.testing.assert_array_equal(index["n_tokens"], index["plies"].astype(np.int64) + 3)  # start, 2 ratings, moves


def test_the_loader_reads_uint16_records_in_every_packing(built):
    m = read_manifest(built["move+elo"])
    assert shards.token_dtype(m) == np.dtype("<u2") and shards.token_dtype({}) == np.dtype("u1")  # old manifests
    for packing in ("concat", "paper", "pad"):
        batch = next(iter(make_dataset(LoaderSpec(built["move+elo"], seq_len=48, batch_size=4, packing=packing), 0, 1)))
        inputs = batch["inputs"]
        assert inputs.dtype == np.int32 and inputs.max() < ELO.vocab_size
        assert (inputs.max() >= ELO.white_rating_offset) and (inputs == ELO.game_start_id).any()
        if packing != "concat":  # rows start at a game start; "pad" pads with 0 under loss_mask 0
            assert (inputs[:, 0] == ELO.game_start_id).all()
            assert ELO.decode(inputs[0]).startswith(";[w")
        if packing == "pad":
            np.testing.assert_array_equal(batch["loss_mask"] == 0, batch["targets"] == 0)


def test_training_config_names_the_fix_for_tokenizer_and_vocabulary(built):
    assert DataConfig.__dataclass_fields__["tokenizer"].metadata["choices"] == ("char32", "move", "move+elo", "board",
                                                                             "board+elo")
    cfg = resolve_config("tiny", [f"data.dir={built['move']}", "data.tokenizer=move"])
    with pytest.raises(ValueError, match=r"with 1970 token ids but model.vocab_size=32; set --set model.vocab_size=1970"):
        data_lib.check_data_dir(cfg)
    cfg = resolve_config("tiny", [f"data.dir={built['move']}", "model.vocab_size=1970"])
    with pytest.raises(ValueError, match=r"use tokenizer 'move', config says data.tokenizer='char32'; set --set "
                                         r"data.tokenizer=move"):
        data_lib.check_data_dir(cfg)


def test_a_tiny_model_trains_on_move_shards(built, tmp_path):
    """`python -m jaxformer.train --config tiny --set data.tokenizer=move+elo --set model.vocab_size=2024 ...`"""
    run = tmp_path / "run"
    sets = [f"data.dir={built['move+elo']}", "data.tokenizer=move+elo", "model.vocab_size=2024", "train.steps=8",
            "train.batch_size=8", "data.seq_len=64", "model.max_len=64", "model.d_model=64", "train.log_every=1",
            "train.eval_every=0", "train.progress=false", "optim.warmup_steps=2", "checkpoint.every=0"]
    assert train_main(["--config", "tiny", "--run-dir", str(run), *[a for s in sets for a in ("--set", s)]]) == 0
    losses = [m["loss"] for m in read_metrics(run) if "loss" in m]
    assert len(losses) == 8 and all(math.isfinite(x) for x in losses)
    assert abs(losses[0] - math.log(2024)) < 0.3  # an untrained model is near uniform over the ids
    assert all(b <= a + 1e-3 for a, b in zip(losses, losses[1:]))  # measured: 7.616 -> 7.384, step by step down
    assert losses[-1] < losses[0] - 0.15
