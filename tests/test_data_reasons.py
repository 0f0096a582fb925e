"""Skip reasons are named codes: each code maps to one name and back, and a real build counts every crafted
defect under its own name (with a different number of games per reason, so two swapped labels show)."""
import random

import numpy as np
from data_fixtures import pgn

from data_pipeline import cli, normalize, read_manifest
from data_pipeline.reasons import HEADER_REASONS, KEPT, MOVETEXT_REASONS, NAME_OF_CODE, Reason

LEGAL = "1. e4 e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7# 1-0"  # passes every movetext check, and --validate


def test_each_code_round_trips_to_its_name():
    codes = [r.value for r in Reason]
    assert len(set(codes)) == len(codes) == len(Reason.__members__)  # no two names share a code (no aliases)
    assert KEPT not in codes and all(0 < c <= np.iinfo(np.int8).max for c in codes)  # int8 arrays hold them
    for r in Reason:
        assert Reason(r.value) is r and Reason[r.name] is r
        assert NAME_OF_CODE[np.int8(r.value).item()] == r.name
    assert NAME_OF_CODE[KEPT] is None
    assert set(HEADER_REASONS).isdisjoint(MOVETEXT_REASONS)


def test_normalizer_names_each_movetext_reason():
    crafted = {Reason.outside_vocab: b"1. e4 e5 2. Zz9 1-0", Reason.empty_movetext: b"1-0",
               Reason.unparsable_movetext: b"1. e4 e5 2. Nf3 abc 1-0", Reason.bad_move_numbers: b"1. e4 e5 3. d4 1-0"}
    assert set(crafted) == set(MOVETEXT_REASONS)
    got = normalize.normalize_movetexts(list(crafted.values()))
    assert [reason for _, reason, _ in got] == [r.name for r in crafted]


def _crafted_games(rng: random.Random) -> tuple[str, dict[str, int]]:
    """Valid games, then (k + 1) games of the k-th reason -> (PGN text, expected counts by name)."""
    h = lambda **kw: pgn.lichess_headers(rng, 1200, 1300, "1-0", **kw)  # noqa: E731
    valid = [h() for _ in range(3)]
    crafted = {  # reason -> (headers maker, movetext)
        Reason.variant: (lambda: h(Variant="Chess960"), LEGAL),
        Reason.fen_start: (lambda: h(SetUp="1", FEN="8/8/8/4k3/8/8/4K3/8 w - - 0 1"), "1. Kd2 Kd4 1-0"),
        Reason.unfinished: (lambda: h(Result="*"), LEGAL.replace("1-0", "*")),
        Reason.bad_result: (lambda: h(Result="2-0"), LEGAL),
        Reason.bad_rating: (lambda: h(BlackElo="?"), LEGAL),
        Reason.filtered_time_control: (lambda: h(TimeControl="60+0"), LEGAL),
        Reason.casual: (lambda: h(Event="Casual Blitz game"), LEGAL),
        Reason.filtered_unrated: (lambda: h(Event="?"), LEGAL),
        Reason.filtered_bot: (lambda: h(WhiteTitle="BOT"), LEGAL),
        Reason.filtered_termination: (lambda: h(Termination="Time forfeit"), LEGAL),
        Reason.outside_vocab: (h, "1. e4 e5 2. Nf3 Zz6 1-0"),
        Reason.empty_movetext: (h, "1-0"),
        Reason.unparsable_movetext: (h, "1. e4 e5 2. Nf3 abc 1-0"),
        Reason.bad_move_numbers: (h, "1. e4 e5 3. Nf3 1-0"),
        Reason.duplicate: (lambda: valid[0] | {"WhiteElo": "900"}, LEGAL),
        Reason.filtered_min_plies: (h, "1. e4 1-0"),
        Reason.illegal_move: (h, "1. e4 e5 2. Ke3 1-0"),
        Reason.control_byte: (h, "1. e4 e5 2. Nf3\x00 Nc6 1-0"),
    }
    # Every reason but the cut stream (one partial game at most, tested in test_data_build) is crafted here.
    assert set(crafted) | {Reason.truncated_stream} == set(Reason)
    text = [pgn.game_text(v, LEGAL) for v in valid]
    expected = {}
    for k, (reason, (headers, movetext)) in enumerate(crafted.items()):
        text += [pgn.game_text(headers(), movetext) for _ in range(k + 1)]
        expected[reason.name] = k + 1
    return "".join(text), expected


def test_a_real_build_counts_each_reason_under_its_own_name(tmp_path, capsys):
    text, expected = _crafted_games(random.Random(0))
    (tmp_path / "in.pgn").write_text(text)
    out = tmp_path / "out"
    assert len(set(expected.values())) == len(expected)  # distinct counts: a swapped label changes the dict
    rc = cli.main(["build", "--source", str(tmp_path / "in.pgn"), "--out", str(out), "--workers", "1",
                   "--time-control", "blitz", "--rated-only", "--exclude-bots", "--min-plies", "2",
                   "--termination", "Normal", "--validate"])
    assert rc == 0
    m = read_manifest(out)
    assert m["counts"]["rejected"] == dict(sorted(expected.items()))
    assert m["counts"]["kept"] == 3 and m["filters"]["validate"] and m["filters"]["min_plies"] == 2
    capsys.readouterr()
    assert cli.main(["stats", str(out)]) == 0
    shown = capsys.readouterr().out
    for name, n in expected.items():
        assert f"  skipped {name}: {n:,}\n" in shown
