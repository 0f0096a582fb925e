"""Normalizer: golden Lichess movetexts -> the paper's transcript, and agreement with python-chess on real games."""
import io

import chess.pgn
import pytest
import zstandard

from data_pipeline import build, filters, normalize

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


# ---- Whole-chunk fast paths: each must give exactly what the general (per-game) path gives ----

@pytest.mark.parametrize("movetext,expected", [
    # double disambiguation as White's later move and as Black's last move (the possessive grammar once
    # stopped at `Nf3` and rejected these legal forms)
    ("1. e4 e5 2. Nf3 Nc6 3. Nf3d4 Nc6d4 4. Qd1xd4 1-0", "1.e4 e5 2.Nf3 Nc6 3.Nf3d4 Nc6d4 4.Qd1xd4"),
    ("1. e4 e5 2. Nf3 Nc6d4 0-1", "1.e4 e5 2.Nf3 Nc6d4"),
    ("1. Nf3d4 e5 1-0", "1.Nf3d4 e5"),
    ("1. e4 e5 2. d4 1/2-1/2", "1.e4 e5 2.d4"),
])
def test_golden_transcripts_fast_path_edges(movetext, expected):
    assert normalize.normalize_movetext(movetext).decode() == expected


@pytest.mark.parametrize("movetext,reason", [
    ("2. e4 e5 1-0", "unparsable_movetext"),  # must open with `1.`
    ("01. e4 e5 1-0", "unparsable_movetext"),  # no leading zero
    ("1. e4 e5 2. Kb1=Q 1-0", "unparsable_movetext"),  # only pawns promote
    ("1. e4 e5 2. e8=K 1-0", "unparsable_movetext"),
    ("1. e4 e5 2. Nf3 Nc6 3. 1-0", "unparsable_movetext"),  # ends on a move number
    ("1. e4 e5 2. Nf9 1-0", "unparsable_movetext"),
    ("1. e4 e5 2. d4 d5 3. c4 c5 4. Nc3 Nc6 5. Nf3 Nf6 6. Bg5 Bg4 7. e3 e6 8. Be2 Be7 9. O-O O-O 10. a3 a6 "
     "11. b4 b5 12. Rc1 Rc8 13. h3 h6 14. Bh4 Bh5 15. g4 Bg6 16. Ne5 Ne4 17. Nxe4 Bxe4 18. f3 Bg6 19. Nxg6 fxg6 "
     "20. Bxe7 Qxe7 21. c5 Rf7 22. f4 Rcf8 23. Qd2 g5 24. f5 e5 25. Bd3 exd4 26. exd4 Qe3+ 27. Qxe3 Nxd4 "
     "28. Qe8 Ne2+ 29. Bxe2 Rxe8 30. Bd3 Rfe7 31. Rfe1 Rxe1+ 32. Rxe1 Rxe1+ 33. Kf2 Re3 34. Kxe3 a5 35. bxa5 b4 "
     "36. axb4 c6 37. b5 cxb5 38. Bxb5 Kf7 39. a6 Kf6 40. a7 Ke5 41. a8=Q Kd4 42. Qd5+ Kc3 43. Qc4+ Kb2 "
     "44. Qb4+ Ka2 45. Qa4+ Kb2 46. c6 Kc3 47. c7 Kd2 48. c8=Q Ke1 49. Qe8+ Kd1 50. Qd7+ Kc1 100000. Qc8+ 1-0",
     "bad_move_numbers"),  # a long number is read by the regex, then the count check rejects it
])
def test_rejections_fast_path_edges(movetext, reason):
    assert normalize.normalize_movetexts([movetext.encode()])[0] == (None, reason, 0)


def test_shape_table_matches_the_san_regex():
    """Every listed move shape is SAN, and random tokens are SAN exactly when their shape is listed."""
    import random
    import re

    san = re.compile(normalize.SAN)
    shapes = {s for s in normalize.token_shapes() if not s.endswith(b".")}
    rep = {ord("a"): b"abcdefgh", ord("1"): b"12345678", ord("N"): b"NBRQ"}
    rng = random.Random(0)
    for shape in shapes:
        for _ in range(5):
            token = bytes(rng.choice(rep.get(c, bytes([c]))) for c in shape)
            assert san.fullmatch(token), token
    alphabet = b"abcdefgh12345678NBRQKOx=+#-09"
    for _ in range(20000):
        token = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
        assert bool(san.fullmatch(token)) == (normalize.token_shape(token) in shapes), token


def test_batches_give_the_same_answers_as_one_game_at_a_time():
    texts = [m.encode() for m, _ in GOLDEN] + [b"1. e4 { open", b"1. e4 (1. d4", b"", b"1-0", b"1. e4 1... e5"]
    many = [texts[i % len(texts)] for i in range(2 * normalize.GAMES_PER_BATCH + 7)]
    assert normalize.normalize_movetexts(many) == [normalize.normalize_movetexts([t])[0] for t in many]


def test_split_fast_path_agrees_with_the_general_path():
    games = [b'[Event "a"]\n[Result "1-0"]\n\n1. e4 e5\n2. Nf3 1-0', b'[Event "b"]\n[Result "0-1"]\n\n1. d4 d5 0-1']
    well_formed = b"\n\n".join(games)
    expected = ([g.split(b"\n\n")[0] for g in games], [g.split(b"\n\n")[1] for g in games], 0)
    for tail in (b"", b"\n", b"\n\n", b"\n\n\n", b" \n"):
        assert normalize.split_chunk(well_formed + tail) == expected
    # the same games with an indented blank line / a blank line inside the movetext take the general path
    assert normalize.split_chunk(well_formed.replace(b"\n\n[Event \"b", b"\n \n[Event \"b")) == expected
    heads, moves, garbage = normalize.split_chunk(well_formed.replace(b"1. e4 e5\n", b"1. e4 e5\n\n"))
    assert (heads, garbage) == (expected[0], 0) and moves[0] == b"1. e4 e5\n2. Nf3 1-0"


HEADER_CASES = [
    b'[Event "Rated Blitz game"]\n[Site "https://lichess.org/abcdEFGH"]\n[Result "1-0"]\n[WhiteElo "1500"]\n'
    b'[BlackElo "1400"]\n[TimeControl "180+0"]',
    b'[Site "https://lichess.org/abcdEFGH/black"]\n[Result "0-1"]\n[WhiteElo "0001500"]\n[BlackElo "1400"]',
    b'[Result "1/2-1/2"]\n[WhiteElo "00000000001500"]\n[BlackElo "4000"]\n[TimeControl "-"]\n[Event "Rated Classical"]',
    b'[Result "1-0"]\n[WhiteElo "4001"]\n[BlackElo "1400"]',
    b'[Result "*"]\n[WhiteElo "1500"]\n[BlackElo "1400"]',
    b'[Result  "1-0"]\n[WhiteElo "1500"]\n[BlackElo "1400"]',  # two spaces: the regex still reads it
    b'[Result "1-0"] [WhiteElo "1500"]\n[BlackElo "1400"]',  # two tags on one line
    b'[Result "1-0"]\n[Event "[WhiteElo "]"]\n[BlackElo "1400"]',  # a tag inside a value
    b'[Result "1-0"]\n[WhiteElo "1500"]\n[WhiteElo "?"]\n[BlackElo "1400"]',  # the last repeat wins
    b'[Variant "Chess960"]\n[Result "1-0"]\n[WhiteElo "1500"]\n[BlackElo "1400"]',
    b'[Variant "Standard"]\n[FEN "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"]\n[Result "0-1"]\n'
    b'[WhiteElo "1500"]\n[BlackElo "1400"]\n[WhiteTitle "BOT"]\n[Termination "Normal"]',
    b'[Site "lichess.org/ABCDEFGH"]\n[Result "1-0"]\n[WhiteElo "1500"]\n[BlackElo ""]',
    b'[Event "Casual Blitz game"]\n[Result "1-0"]\n[WhiteElo "1500"]\n[BlackElo "1400"]\n[TimeControl "180+0"]',
    b'[Event "Casual Bullet game"]\n[Result "1-0"]\n[WhiteElo "1500"]\n[BlackElo "1400"]\n[TimeControl "60+0"]',
    b'[Event "Unrated game"]\n[Result "0-1"]\n[WhiteElo "1500"]\n[BlackElo "1400"]',
    b'[Event "?"]\n[Result "0-1"]\n[WhiteElo "1500"]\n[BlackElo "1400"]',
    b'[Event "Rated Blitz tournament https://lichess.org/tournament/bTpw5IIw"]\n[Result "0-1"]\n[WhiteElo "1500"]\n'
    b'[BlackElo "1400"]',
]


@pytest.mark.parametrize("spec", [filters.FilterSpec(), filters.FilterSpec(time_controls=("blitz",)),
                                  filters.FilterSpec(include_casual=True),
                                  filters.FilterSpec(rated_only=True, exclude_bots=True, terminations=("Normal",))])
def test_chunk_header_checks_equal_the_per_game_checks(spec):
    reasons, fields, gids, events = filters.check_games(HEADER_CASES, spec)
    for head, reason, row, gid, event in zip(HEADER_CASES, reasons, fields.tolist(), gids, events.tolist()):
        tags = normalize.parse_headers(head)
        assert (reason, tuple(row), gid, event) == (*filters.check_headers(tags, spec), filters.game_id(tags),
                                                    filters.event_class(tags.get(b"Event"))), head


def test_the_event_decides_rated_casual_or_unknown():
    names = [filters.EVENT_CLASSES[filters.event_class(e)] for e in (
        b"Rated Blitz game", b"rated classical/rapid game", b"Rated Bullet tournament https://lichess.org/tournament/x",
        b"Casual game", b"Unrated Rapid game", b"?", None, b"", b"Synthetic expert game", b"Moderated match")]
    assert names == ["rated"] * 3 + ["casual"] * 2 + ["unknown"] * 5
    casual, unknown = HEADER_CASES[-5], HEADER_CASES[-2]  # a casual blitz game, an Event "?"
    assert filters.check_games([casual, unknown], filters.FilterSpec())[0] == ["casual", None]
    assert filters.check_games([casual, unknown], filters.FilterSpec(include_casual=True))[0] == [None, None]
    assert filters.check_games([casual, unknown], filters.FilterSpec(rated_only=True))[0] == ["casual", "filtered_unrated"]
    with pytest.raises(ValueError, match="choose one of the two"):
        filters.FilterSpec(include_casual=True, rated_only=True)


def test_validation_flags_equal_zlib_crc32_split():
    keys = [bytes([i, 255 - i, 7, i * 3 % 256, 9, 1, 2, i]) for i in range(256)] + [b"[Event \"x\"]\n\n1. e4 1-0"]
    for fraction in (0.01, 0.5):
        assert build.validation_flags(keys, fraction) == [int(build.is_validation(k, fraction)) for k in keys]
