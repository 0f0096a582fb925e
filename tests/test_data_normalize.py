"""Normalizer: golden Lichess movetexts -> the paper's transcript, and agreement with python-chess on real games."""
import io

import chess.pgn
import pytest
import zstandard

from data_pipeline import normalize

GOLDEN = [
    # clocks and evals in comments, Black move numbers after comments
    ("1. e4 { [%eval 0.17] [%clk 0:03:00] } 1... e5 { [%clk 0:02:58] } 2. Nf3 { [%clk 0:02:59] } 1-0",
     "1.e4 e5 2.Nf3"),
    # NAGs, !/? annotations, nested variations
    ("1. e4 $1 e5?! 2. Nf3!! (2. Qh5 Nc6 (2... g6 3. Qf3) 3. Bc4) 2... Nc6?? $4 3. Bb5 0-1",
     "1.e4 e5 2.Nf3 Nc6 3.Bb5"),
    # promotions with check, captures, castling both sides, mate
    ("1. d4 e5 2. dxe5 Qe7 3. Bf4 Qb4+ 4. Qd2 Qxb2 5. Bxc7 Qxa1+ 6. Kd1 Qxb1+ 7. Qc1 Qxc1+ 8. Kxc1 d6 "
     "9. exd6 Bf5 10. d7+ Kd8 11. dxe8=Q+ Kxe8 1-0",
     "1.d4 e5 2.dxe5 Qe7 3.Bf4 Qb4+ 4.Qd2 Qxb2 5.Bxc7 Qxa1+ 6.Kd1 Qxb1+ 7.Qc1 Qxc1+ 8.Kxc1 d6 9.exd6 Bf5 "
     "10.d7+ Kd8 11.dxe8=Q+ Kxe8"),
    ("1. e4 e5 2. Nf3 Nc6 3. Bc4 Nf6 4. O-O Be7 5. d4 O-O 6. Qd3 d6 7. Ng5 h6 8. Nxf7 Rxf7 9. Bxf7+ Kxf7 1/2-1/2",
     "1.e4 e5 2.Nf3 Nc6 3.Bc4 Nf6 4.O-O Be7 5.d4 O-O 6.Qd3 d6 7.Ng5 h6 8.Nxf7 Rxf7 9.Bxf7+ Kxf7"),
    ("1. f3 e5 2. g4 Qh4# 0-1", "1.f3 e5 2.g4 Qh4#"),
    ("1. e4 d5 2. Nc3 Nf6 3. Qe2 Bg4 4. d3 Nc6 5. Bd2 Qd7 6. O-O-O O-O-O 1/2-1/2",
     "1.e4 d5 2.Nc3 Nf6 3.Qe2 Bg4 4.d3 Nc6 5.Bd2 Qd7 6.O-O-O O-O-O"),
    # `3...` continuation right after a comment, wrapped lines, compact `1.e4`, disambiguation, rest-of-line comment
    ("1.e4 e5 2.Nf3 Nc6\n3. Bb5 {Ruy Lopez} 3... a6 ; the Morphy defence\n4. Ba4 Nf6 5. Nc3 Nd4 6. Nxd4 exd4 "
     "7. Nd5 Nxd5 8. exd5 Qe7+ 9. Kf1 Qe4 10. R1g1 *",
     "1.e4 e5 2.Nf3 Nc6 3.Bb5 a6 4.Ba4 Nf6 5.Nc3 Nd4 6.Nxd4 exd4 7.Nd5 Nxd5 8.exd5 Qe7+ 9.Kf1 Qe4 10.R1g1"),
    ("1. e4 e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7# 1-0", "1.e4 e5 2.Qh5 Nc6 3.Bc4 Nf6 4.Qxf7#"),
    ("1. e4 1-0", "1.e4"),
    # comment spacing corner cases: glued, adjacent, at the start, `...` inside a comment
    ("1. e4 {c}e5 2. Nf3 {a}{b} 2... Nc6 1-0", "1.e4 e5 2.Nf3 Nc6"),
    ("{start} 1. e4{c} e5 { good... } 2. d4 1/2-1/2", "1.e4 e5 2.d4"),
    ("1.e4 1...e5 2.d4 {end}", "1.e4 e5 2.d4"),
]


@pytest.mark.parametrize("movetext,expected", GOLDEN)
def test_golden_transcripts(movetext, expected):
    assert normalize.normalize_movetext(movetext).decode() == expected


def test_golden_cases_normalized_together_match_one_by_one():
    together = normalize.normalize_movetexts([m.encode() for m, _ in GOLDEN])
    assert [t.decode() for t, _, _ in together] == [e for _, e in GOLDEN]
    assert [p for _, _, p in together] == [len(e.split(" ")) for _, e in GOLDEN]


@pytest.mark.parametrize("movetext,reason", [
    ("", "empty_movetext"),
    ("1-0", "empty_movetext"),
    ("1. e4 e5 3. d4 1-0", "bad_move_numbers"),
    ("1. e4 e5 2. Nf3 abc 1-0", "unparsable_movetext"),
    ("1. e4 e5 2. Zz9 1-0", "outside_vocab"),
    ("1. e4 e5 2. e4e5 1-0", "unparsable_movetext"),
    ("1. e4 2. d4 1-0", "unparsable_movetext"),
    ("1. e4 (1. d4 e5 2. Nf3 1-0", "outside_vocab"),  # unbalanced variation survives as `(`
    ("1. e4 é5 1-0", "outside_vocab"),
])
def test_rejections_name_the_reason(movetext, reason):
    t, got, plies = normalize.normalize_movetexts([movetext.encode()])[0]
    assert (t, got, plies) == (None, reason, 0)


def test_one_bad_game_does_not_spoil_its_neighbours():
    texts = [b"1. e4 e5 1-0", b"1. e4 { unclosed comment 1-0", b"1. d4 d5 0-1"]
    out = normalize.normalize_movetexts(texts)
    assert out[0] == (b"1.e4 e5", None, 2) and out[2] == (b"1.d4 d5", None, 2)
    assert out[1][1] == "outside_vocab"


def test_split_games_handles_glued_headers_and_garbage():
    text = (b"garbage before any game\n\n"
            b'[Event "a"]\n[Result "1-0"]\n\n1. e4 e5 1-0\n\nstray line after a finished game\n\n'
            b'[Event "b"]\n[Result "0-1"]\n1. d4 d5\n2. c4 0-1\n\n'
            b'[Event "c"]\r\n[Result "*"]\r\n\r\n1. e4\r\n\r\ne5 *\r\n')
    games, garbage = normalize.split_games(text)
    assert garbage == 2
    assert [normalize.parse_headers(h)[b"Event"] for h, _ in games] == [b"a", b"b", b"c"]
    assert [normalize.normalize_movetext(m) for _, m in games] == [b"1.e4 e5", b"1.d4 d5 2.c4", b"1.e4 e5"]
    assert games[1][1] == b"1. d4 d5\n2. c4 0-1"


def test_validate_transcript_replays_with_python_chess():
    assert normalize.validate_transcript(b"1.e4 e5 2.Qh5 Nc6 3.Bc4 Nf6 4.Qxf7#")
    assert not normalize.validate_transcript(b"1.e4 e5 2.Ke3")


def _python_chess_transcript(game: chess.pgn.Game) -> str:
    board = game.board()
    out = []
    for i, move in enumerate(game.mainline_moves()):
        san = board.san(move)
        out.append(f"{i // 2 + 1}.{san}" if i % 2 == 0 else san)
        board.push(move)
    return " ".join(out)


def test_agrees_with_python_chess_on_real_games(shared_lichess_dir):
    """200 real games from each shared file: our transcripts equal python-chess's replayed SAN."""
    for path in sorted(shared_lichess_dir.glob("*.pgn.zst")):
        with open(path, "rb") as f:
            text = zstandard.ZstdDecompressor().stream_reader(f).read(400_000)
        text = text[: text.rfind(b"\n\n[") + 2]
        games, _ = normalize.split_games(text)
        games = games[:200]
        ours = normalize.normalize_movetexts([m for _, m in games])
        stream = io.StringIO(text.decode())
        for (t, reason, plies), _ in zip(ours, games):
            ref = chess.pgn.read_game(stream)
            expected = _python_chess_transcript(ref)
            if not expected:
                assert reason == "empty_movetext"
                continue
            assert reason is None, (path.name, expected)
            assert t.decode() == expected
            assert plies == len(list(ref.mainline_moves()))
