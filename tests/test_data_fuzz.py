"""The fuzz corpus (tests/data_fixtures/fuzz.py), each input built by the real `transcend data build`: no
traceback, no hang, exit status 0, 1 or 2, and every kept game replays in python-chess."""
from data_fixtures import fuzz


def test_the_fuzz_corpus_builds_without_a_traceback_a_hang_or_a_damaged_game(tmp_path):
    figures = fuzz.run_corpus(tmp_path)
    by_name = {r["name"]: r for r in figures["results"]}
    assert figures["files"] == figures["builds"] >= 30
    assert figures["tracebacks"] == 0 and figures["hangs"] == 0, [r for r in figures["results"] if r["traceback"]]
    assert set(map(int, figures["exit_status"])) <= set(fuzz.EXIT_STATUSES)
    assert figures["unparsable_kept_games"] == 0 and figures["kept_games"] > 500
    # A few fates the inputs decide exactly.
    sound = [by_name[f"sound.pgn{ext}"] for ext in ("", ".zst", ".gz", ".bz2")]
    assert all(r["exit"] == 0 and r["kept"] == 40 for r in sound)
    assert all(by_name[n]["exit"] == 1 for n in by_name if n.startswith(("cut", "flip", "frames-flip")))
    assert all(by_name[n]["exit"] == 2 for n in ("binary.pgn", "empty.pgn", "blank.pgn", "prose.pgn"))
    assert by_name["nul-movetext.pgn"]["kept"] == by_name["nul-in.pgn.zst"]["kept"] == 39
    assert by_name["crlf.pgn"]["kept"] == 40
