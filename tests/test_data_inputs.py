"""Bad inputs to `transcend data build` and `stats`: one sentence naming the input, the problem and the fix,
a non-zero exit, no traceback, and nothing written."""
import datetime
import subprocess
import sys

import pytest
from data_fixtures import pgn

from data_pipeline import cli, read_manifest, sources

TRANSCEND = [sys.executable, "-m", "experiments.cli"]


def _build(capsys, *args: str) -> tuple[int, str]:
    rc = cli.main(["build", *args, "--workers", "1"])
    return rc, capsys.readouterr().err


@pytest.fixture
def games(tmp_path):
    text, _ = pgn.random_pgn(5, seed=21)
    (tmp_path / "games.pgn").write_text(text)
    return tmp_path / "games.pgn"


def test_a_directory_as_source_is_named_as_one_with_a_glob_to_use(tmp_path, capsys, games):
    rc, err = _build(capsys, "--source", str(tmp_path), "--out", str(tmp_path / "out"))
    assert rc == 2 and "Traceback" not in err
    assert f"PGN source '{tmp_path}' is a directory (it holds 1 PGN file(s), e.g. games.pgn)" in err
    assert f"--source {tmp_path}/*.pgn.zst" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"just some notes\nabout nothing\n" * 50, bytes(range(256)) * 20, b""],
                         ids=["text", "binary", "empty"])
def test_a_source_without_any_pgn_game_is_an_error(tmp_path, capsys, content):
    (tmp_path / "notes.pgn").write_bytes(content)
    rc, err = _build(capsys, "--source", str(tmp_path / "notes.pgn"), "--out", str(tmp_path / "out"))
    assert rc == 2
    assert f"no PGN game was found in '{tmp_path / 'notes.pgn'}' ({len(content):,} bytes)" in err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_pgn_whose_games_are_all_filtered_out_fails_and_says_where_to_look(tmp_path, capsys, games):
    rc, err = _build(capsys, "--source", str(games), "--out", str(tmp_path / "out"), "--min-plies", "9999")
    assert rc == 1 and "warning: no game was kept from" in err
    assert f"no game of {games} was kept; `transcend data stats {tmp_path / 'out'}` lists why" in err
    assert read_manifest(tmp_path / "out")["counts"]["rejected"]["filtered_min_plies"] > 0


def test_out_into_a_foreign_directory_is_refused(tmp_path, capsys, games):
    foreign = tmp_path / "photos"
    foreign.mkdir()
    for name in ("a.jpg", "b.jpg", "notes.txt"):
        (foreign / name).write_text("x")
    rc, err = _build(capsys, "--source", str(games), "--out", str(foreign))
    assert rc == 2
    assert f"--out {foreign} already holds files that no build wrote (a.jpg, b.jpg, notes.txt)" in err
    assert sorted(p.name for p in foreign.iterdir()) == ["a.jpg", "b.jpg", "notes.txt"]  # nothing written
    (tmp_path / "file").write_text("x")
    rc, err = _build(capsys, "--source", str(games), "--out", str(tmp_path / "file"))
    assert rc == 2 and "is a file, not a directory" in err


@pytest.mark.parametrize("fraction", ["1.5", "1", "-0.1", "nan"])
def test_val_fraction_outside_zero_one_is_refused(tmp_path, capsys, games, fraction):
    rc, err = _build(capsys, "--source", str(games), "--out", str(tmp_path / "out"), "--val-fraction", fraction)
    assert rc == 2 and f"val_fraction (--val-fraction) {float(fraction)} is outside [0, 1)" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("spec", ["lichess:2013-13", "lichess:2013-00", "lichess:2012-12", "lichess:2999-01",
                                  "lichess:13-01"])
def test_a_lichess_month_that_cannot_exist_is_refused_before_any_download(tmp_path, capsys, spec):
    rc, err = _build(capsys, "--source", spec, "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache"))
    assert rc == 2 and f"bad Lichess source '{spec}': write lichess:YYYY-MM with a month (01-12) from 2013-01" in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "out").exists()


def test_the_current_month_is_a_valid_lichess_month():
    today = datetime.date(2024, 3, 9)
    assert sources.lichess_file_name("lichess:2024-03", today) == "lichess_db_standard_rated_2024-03.pgn.zst"
    assert sources.lichess_file_name("lichess:2013-01", today) == "lichess_db_standard_rated_2013-01.pgn.zst"
    with pytest.raises(ValueError, match="to 2024-03"):
        sources.lichess_file_name("lichess:2024-04", today)


def test_stats_on_a_missing_directory_is_one_sentence(tmp_path):
    out = subprocess.run([*TRANSCEND, "data", "stats", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stderr.count("\n") == 1
    assert f"data directory '{tmp_path / 'nowhere'}' does not exist: pass the --out directory of a finished build" \
        in out.stderr
