"""`transcend data build/stats/dump`: every skip reason counted, broken streams, resume, python-chess reference counts."""
import io
import json
import random

import chess.pgn
import numpy as np
import pytest
import zstandard
from data_fixtures import pgn

from data_pipeline import build as build_mod
from data_pipeline import cli, filters, read_manifest, shards


def _build(src, out, **kw) -> dict:
    cfg = build_mod.BuildConfig(sources=tuple(str(s) for s in src), out_dir=str(out), **kw)
    return build_mod.build(cfg)


def _bad_input_pgn(rng: random.Random) -> tuple[str, dict, int]:
    """Valid games mixed with one of each defect -> (text, expected reject counts, expected kept)."""
    text, truth = pgn.random_pgn(30, seed=1)
    parts = [text, "this is a garbage line\n\nand another\n\n"]
    sans, _ = pgn.random_game(rng, 20)
    mt = pgn.lichess_movetext(sans, "1-0")
    h = lambda **kw: pgn.lichess_headers(rng, 1200, 1300, "1-0", **kw)  # noqa: E731
    no_elo = h()
    del no_elo["WhiteElo"]
    bad = {
        "bad_rating": [pgn.game_text(no_elo, mt), pgn.game_text(h(BlackElo="?"), mt)],
        "unfinished": [pgn.game_text(pgn.lichess_headers(rng, 1200, 1300, "*"), pgn.lichess_movetext(sans, "*"))],
        "bad_result": [pgn.game_text(h(Result="2-0"), mt)],
        "variant": [pgn.game_text(h(Variant="Chess960", FEN="bqnrkrnb/pppppppp/8/8/8/8/PPPPPPPP/BQNRKRNB w KQkq - 0 1"), mt)],
        "fen_start": [pgn.game_text(h(SetUp="1", FEN="8/8/8/4k3/8/8/4K3/8 w - - 0 1"), "1. Kd2 Kd4 1/2-1/2")],
        "duplicate": [pgn.game_text(pgn.lichess_headers(rng, 900, 900, "1-0", site_id=truth[3]["site"][-8:]), mt)],
        "unparsable_movetext": [pgn.game_text(h(), "1. e4 e5 2. Nf3 abc 1-0")],
        "outside_vocab": [pgn.game_text(h(), "1. e4 e5 2. Nf3 Zz6 1-0")],
        "empty_movetext": [pgn.game_text(h(), "1-0")],
        "bad_move_numbers": [pgn.game_text(h(), "1. e4 e5 3. Nf3 1-0")],
    }
    for games in bad.values():
        parts.extend(games)
    more, truth2 = pgn.random_pgn(10, seed=2)
    parts.append(more)
    return "".join(parts), {k: len(v) for k, v in bad.items()}, 40


def test_every_skip_reason_is_counted(tmp_path):
    text, expected, kept = _bad_input_pgn(random.Random(0))
    (tmp_path / "in.pgn").write_text(text)
    m = _build([tmp_path / "in.pgn"], tmp_path / "out", shard_bytes=3000)
    assert m["shards"] > 3  # the duplicate lands in a later shard than its first occurrence
    assert m["counts"]["rejected"] == expected
    assert m["counts"]["kept"] == kept == m["games"]["train"] + m["games"]["validation"]
    assert m["counts"]["raw_games"] == kept + sum(expected.values())
    assert m["counts"]["garbage_paragraphs"] == 2
    assert m["errors"] == []


def test_optional_filters_count_what_they_drop(tmp_path):
    rng = random.Random(5)
    sans, result = pgn.random_game(rng, 30)
    mt = pgn.lichess_movetext(sans, result)
    games = [
        pgn.lichess_headers(rng, 1500, 1500, result, TimeControl="60+0"),  # bullet
        pgn.lichess_headers(rng, 1500, 1500, result, Event="Casual Blitz game"),
        pgn.lichess_headers(rng, 1500, 1500, result, Event="?"),
        pgn.lichess_headers(rng, 1500, 1500, result, WhiteTitle="BOT"),
        pgn.lichess_headers(rng, 1500, 1500, result, Termination="Time forfeit"),
        pgn.lichess_headers(rng, 1500, 1500, result),  # passes every filter
    ]
    text = "".join(pgn.game_text(h, mt) for h in games) + pgn.game_text(pgn.lichess_headers(rng, 1, 1, "1-0"), "1. e4 1-0")
    (tmp_path / "in.pgn").write_text(text)
    spec = filters.FilterSpec(time_controls=("blitz",), rated_only=True, exclude_bots=True, min_plies=2,
                              terminations=("Normal",))
    m = _build([tmp_path / "in.pgn"], tmp_path / "out", filters=spec)
    assert m["counts"]["rejected"] == {"filtered_time_control": 1, "casual": 1, "filtered_unrated": 1, "filtered_bot": 1,
                                       "filtered_termination": 1, "filtered_min_plies": 1}
    assert m["counts"]["kept"] == 1 and m["counts"]["event_unknown"] == 0
    assert m["filters"]["time_controls"] == ["blitz"]


def test_rated_games_only_by_default_and_unclassified_events_kept_and_counted(tmp_path, capsys):
    rng = random.Random(6)
    events = ["Rated Blitz game"] * 5 + ["Casual Blitz game"] * 3 + ["Unrated game"] + ["?"] * 2 + [None]
    text = ""
    for event in events:
        sans, result = pgn.random_game(rng, 20)
        h = pgn.lichess_headers(rng, 1500, 1500, result, Event=event or "")
        if event is None:
            del h["Event"]
        text += pgn.game_text(h, pgn.lichess_movetext(sans, result))
    (tmp_path / "in.pgn").write_text(text)
    m = _build([tmp_path / "in.pgn"], tmp_path / "out")
    assert m["counts"]["rejected"] == {"casual": 4}
    assert (m["counts"]["kept"], m["counts"]["event_unknown"]) == (8, 3)
    assert m["filters"]["include_casual"] is False and "counts.event_unknown" in m["event_rule"]
    assert cli.main(["stats", str(tmp_path / "out")]) == 0
    shown = capsys.readouterr().out
    assert "  skipped casual: 4\n" in shown and "says neither Rated nor Casual (missing or \"?\"): 3\n" in shown
    assert cli.main(["build", "--source", str(tmp_path / "in.pgn"), "--out", str(tmp_path / "all"), "--workers", "1",
                     "--include-casual"]) == 0
    m = read_manifest(tmp_path / "all")
    assert (m["counts"]["rejected"], m["counts"]["kept"], m["counts"]["event_unknown"]) == ({}, 12, 3)
    strict = _build([tmp_path / "in.pgn"], tmp_path / "strict", filters=filters.FilterSpec(rated_only=True))
    assert strict["counts"]["rejected"] == {"casual": 4, "filtered_unrated": 3} and strict["counts"]["kept"] == 5
    with pytest.raises(SystemExit):  # the two contradict each other
        cli.main(["build", "--source", str(tmp_path / "in.pgn"), "--out", str(tmp_path / "x"), "--include-casual",
                  "--rated-only"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_validate_rejects_illegal_games(tmp_path):
    rng = random.Random(3)
    h = pgn.lichess_headers(rng, 1000, 1000, "1-0")
    text = pgn.game_text(h, "1. e4 e5 2. Qh5 Nc6 3. Bc4 Nf6 4. Qxf7# 1-0") + \
        pgn.game_text(h | {"Site": "?"}, "1. e4 e5 2. Ke3 1-0")
    (tmp_path / "in.pgn").write_text(text)
    m = _build([tmp_path / "in.pgn"], tmp_path / "out", filters=filters.FilterSpec(validate=True))
    assert m["counts"]["rejected"] == {"illegal_move": 1} and m["counts"]["kept"] == 1


def _zst_in_frames(data: bytes, frame: int) -> bytes:
    c = zstandard.ZstdCompressor(write_checksum=True)  # as the zstd CLI (and Lichess) writes frames
    return b"".join(c.compress(data[i:i + frame]) for i in range(0, len(data), frame))


def test_truncated_zst_reports_file_and_offset_and_keeps_complete_games(tmp_path, capsys):
    text, truth = pgn.random_pgn(60, seed=4)
    raw = text.encode()
    frames = _zst_in_frames(raw, 2000)
    n_frames = (len(raw) + 1999) // 2000
    cut_frames = n_frames // 2
    keep_bytes = len(_zst_in_frames(raw[: cut_frames * 2000], 2000))
    src = tmp_path / "cut.pgn.zst"
    src.write_bytes(frames[: keep_bytes + 25])  # 25 bytes into the next frame
    prefix = raw[: cut_frames * 2000]
    finished_last = prefix.rstrip().endswith((b"1-0", b"0-1", b"1/2-1/2"))
    complete = prefix.count(b"\n\n[") + finished_last  # games fully inside the prefix
    rc = cli.main(["build", "--source", str(src), "--out", str(tmp_path / "out"), "--workers", "1", "--shard-mb", "0.002"])
    assert rc == 1
    assert "cut.pgn.zst" in capsys.readouterr().err
    m = read_manifest(tmp_path / "out")
    assert len(m["errors"]) == 1 and m["errors"][0]["offset"] == len(frames[: keep_bytes + 25])
    assert m["counts"]["kept"] == complete
    assert m["counts"]["rejected"] == ({} if finished_last else {"truncated_stream": 1})
    # what was written is valid: the games decode to the first `complete` transcripts, in order
    rc = cli.main(["dump", str(tmp_path / "out")])
    dumped = capsys.readouterr().out.splitlines()
    assert dumped == [t["transcript"] for t in truth[:complete]]


def test_corrupt_zst_is_reported(tmp_path):
    text, truth = pgn.random_pgn(20, seed=6)
    raw = text.encode()
    data = bytearray(_zst_in_frames(raw, 1500))
    frame_starts = np.cumsum([0] + [len(_zst_in_frames(raw[i:i + 1500], 1500)) for i in range(0, len(raw), 1500)])
    damage = len(data) // 2
    data[damage: damage + 40] = b"\xff" * 40
    broken_frame = int((frame_starts <= damage).sum()) - 1
    (tmp_path / "bad.pgn.zst").write_bytes(bytes(data))
    m = _build([tmp_path / "bad.pgn.zst"], tmp_path / "out")
    assert len(m["errors"]) == 1 and "bad.pgn.zst" in m["errors"][0]["error"]
    lo, hi = m["errors"][0]["damaged_bytes"]
    assert frame_starts[broken_frame] <= lo <= damage < hi <= frame_starts[broken_frame + 1]
    assert lo <= m["errors"][0]["offset"] < hi
    before = raw[: broken_frame * 1500]  # the text of the sound frames before the damaged one
    assert m["counts"]["kept"] == before.count(b"\n\n[") + before.endswith(b"\n\n") > 0


def test_interrupted_build_resumes_and_matches_a_clean_build(tmp_path, monkeypatch):
    text, _ = pgn.random_pgn(80, seed=7)
    (tmp_path / "in.pgn").write_text(text)
    clean = _build([tmp_path / "in.pgn"], tmp_path / "clean", shard_bytes=4000)
    assert clean["shards"] >= 5
    real = build_mod.process_chunk
    calls = []

    def crash_on_third(job, *args):
        calls.append(job.number)
        if len(calls) == 3:
            raise KeyboardInterrupt("simulated kill")
        return real(job, *args)

    monkeypatch.setattr(build_mod, "process_chunk", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        _build([tmp_path / "in.pgn"], tmp_path / "out", shard_bytes=4000)
    assert not (tmp_path / "out" / "manifest.json").exists()
    (tmp_path / "out" / "shard-00002.array_record.tmp").write_bytes(b"half written")  # a killed writer's leftover
    calls.clear()
    monkeypatch.setattr(build_mod, "process_chunk", lambda job, *a: calls.append(job.number) or real(job, *a))
    resumed = _build([tmp_path / "in.pgn"], tmp_path / "out", shard_bytes=4000)
    assert calls == list(range(2, clean["shards"]))  # the two finished shards were reused
    assert resumed == clean | {"sources": resumed["sources"]}
    for n in range(clean["shards"]):
        assert shards.record_path(tmp_path / "out", n).read_bytes() == shards.record_path(tmp_path / "clean", n).read_bytes()
    assert not list((tmp_path / "out").glob("*.tmp"))
    with pytest.raises(ValueError, match="other settings"):
        _build([tmp_path / "in.pgn"], tmp_path / "out", shard_bytes=8000)


def test_split_is_stable_and_by_game_id(tmp_path):
    text, truth = pgn.random_pgn(200, seed=8, max_plies=4)
    (tmp_path / "a.pgn").write_text(text)
    m = _build([tmp_path / "a.pgn"], tmp_path / "a", val_fraction=0.2)
    idx = shards.load_index(tmp_path / "a", list(range(m["shards"])))
    expected = [build_mod.is_validation(t["site"][-8:].encode(), 0.2) for t in truth]
    assert idx["split"].tolist() == [int(e) for e in expected]
    assert 20 < sum(expected) < 60


def _reference_counts(text: str) -> tuple[dict, list[str], int, int]:
    """python-chess's view of the same games: the paper's default filters (rated games), then counts per cutoff."""
    tops, transcripts, ratings = [], [], []
    stream = io.StringIO(text)
    while (game := chess.pgn.read_game(stream)) is not None:
        h = game.headers
        if h.get("Variant", "Standard") != "Standard" or "FEN" in h or h.get("Result") not in ("1-0", "0-1", "1/2-1/2"):
            continue
        if not (h.get("WhiteElo", "").isdigit() and h.get("BlackElo", "").isdigit()) or game.errors or _casual(h):
            continue
        board, sans = game.board(), []
        for i, move in enumerate(game.mainline_moves()):
            sans.append(f"{i // 2 + 1}.{board.san(move)}" if i % 2 == 0 else board.san(move))
            board.push(move)
        if not sans:
            continue
        w, b = int(h["WhiteElo"]), int(h["BlackElo"])
        tops.append(max(w, b))
        ratings += [w, b]
        transcripts.append(" ".join(sans))
    tops = np.array(tops)
    return ({str(c): int((tops <= c).sum()) for c in shards.CUTOFFS}, transcripts, min(ratings), max(ratings))


@pytest.mark.slow
def test_counts_per_cutoff_match_python_chess_on_real_games(shared_lichess_dir, tmp_path, capsys):
    """First 500 games of each shared file (python-chess needs ~4 ms a game, so not all 47k)."""
    texts = []
    for path in sorted(shared_lichess_dir.glob("*.pgn.zst")):
        with open(path, "rb") as f:
            raw = zstandard.ZstdDecompressor().stream_reader(f).read(1_000_000).decode()
        starts = [i for i in range(len(raw)) if raw.startswith("[Event ", i)][:501]
        texts.append(raw[: starts[500]])
    text = "".join(texts)
    (tmp_path / "sample.pgn").write_text(text)
    counts, transcripts, lo, hi = _reference_counts(text)
    assert len(transcripts) > 1400
    m = _build([tmp_path / "sample.pgn"], tmp_path / "out", workers=2, shard_bytes=200_000)
    assert m["counts_per_cutoff"] == counts
    assert (m["rating_min"], m["rating_max"]) == (lo, hi)
    assert m["games"]["train"] + m["games"]["validation"] == len(transcripts)
    assert cli.main(["dump", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.splitlines() == transcripts
    assert cli.main(["dump", str(tmp_path / "out"), "--max-rating", "1000", "--limit", "5"]) == 0
    low = [t for t, top in zip(transcripts, _tops(text)) if top <= 1000][:5]
    assert capsys.readouterr().out.splitlines() == low
    assert cli.main(["stats", str(tmp_path / "out"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == m


def _casual(headers) -> bool:
    """Lichess's Events begin "Rated ..." or "Casual ..." ("Unrated" elsewhere); "?" or none says neither."""
    return headers.get("Event", "").split(" ")[0].lower() in ("casual", "unrated")


def _tops(text: str) -> list[int]:
    stream, tops = io.StringIO(text), []
    while (h := chess.pgn.read_headers(stream)) is not None:
        if h.get("WhiteElo", "").isdigit() and h.get("BlackElo", "").isdigit() and h.get("Result") != "*" \
                and not _casual(h):
            tops.append(max(int(h["WhiteElo"]), int(h["BlackElo"])))
    return tops


def test_build_reports_on_stderr_through_logging(tmp_path, capsys):
    """`transcend data build` shows the library's log lines as it always printed them: `built ...`, `warning: ...`."""
    text, _ = pgn.random_pgn(60, seed=9)
    src = tmp_path / "in.pgn"
    src.write_text(text)
    args = ["build", "--source", str(src), "--out", str(tmp_path / "out"), "--workers", "1", "--shard-mb", "0.002"]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert f"built {tmp_path / 'out'}: " in err and "(0 finished shards reused)" in err
    n_shards = read_manifest(tmp_path / "out")["shards"]
    assert n_shards > 2
    src.write_text(text[: text.index("\n\n[Event") + 2])  # the source is cut to its first game: one shard
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'out'} holds {n_shards - 1} shard(s) past this build's 1 (shard-00001" in err
    assert read_manifest(tmp_path / "out")["shards"] == 1

    rng = random.Random(1)
    (tmp_path / "bad.pgn").write_text(pgn.game_text(pgn.lichess_headers(rng, 1000, 1000, "1-0"), "1-0"))
    assert cli.main(["build", "--source", str(tmp_path / "bad.pgn"), "--out", str(tmp_path / "none")]) == 1
    assert f"warning: no game was kept from ['{tmp_path / 'bad.pgn'}']" in capsys.readouterr().err


def test_read_manifest_names_the_path_when_missing_or_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'manifest.json'} not found: build the shards first"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"shards": 3, "cou')  # cut mid-write by hand
    with pytest.raises(ValueError, match=f"{tmp_path / 'manifest.json'} is not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list, not the manifest's object"):
        read_manifest(tmp_path)


@pytest.mark.slow
def test_the_shared_sample_keeps_its_rated_games(shared_lichess_dir, tmp_path):
    """The whole shared sample (47,266 games): figures recounted from the headers alone (a Python pass: Result,
    WhiteElo/BlackElo, the Event's first word), with and without --include-casual."""
    paths = sorted(str(p) for p in shared_lichess_dir.glob("*.pgn.zst"))
    rated = _build(paths, tmp_path / "rated", workers=2)
    assert rated["counts"]["rejected"] == {"bad_rating": 5, "casual": 3646, "unfinished": 1}
    assert (rated["counts"]["kept"], rated["counts"]["event_unknown"]) == (43614, 16070)  # `[Event "?"]` of 2018-06
    assert {c: rated["counts_per_cutoff"][c] for c in ("1000", "1300", "1500", "2400")} == \
        {"1000": 10443, "1300": 13387, "1500": 18222, "2400": 38898}
    everything = _build(paths, tmp_path / "all", workers=2, filters=filters.FilterSpec(include_casual=True))
    assert (everything["counts"]["kept"], everything["counts"]["rejected"]) == (47260, {"bad_rating": 5, "unfinished": 1})
    assert {c: everything["counts_per_cutoff"][c] for c in ("1000", "1300", "1500", "2400")} == \
        {"1000": 10445, "1300": 13581, "1500": 19386, "2400": 42428}
