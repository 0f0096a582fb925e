"""`transcend ladder`: a small real round robin, fitted on one anchored scale, written as a loadable table."""
import collections
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from arena import DEFAULT_LADDER, EngineSpec, ladder
from arena.anchors import PAPER_ANCHORS, TABLE_DIR, load_anchor_games, load_anchor_table
from arena.ratings import PRIOR_DRAWS, fit_info
from arena.records import read_records
from safeio import read_jsonl

NEW_TABLE = "ladder-sf15-s20"  # skill-20 rungs (they replay), bridged to the paper's skill levels


def test_ladder_writes_an_anchor_table_that_eval_can_load(tmp_path, stockfish_path):
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps({"ratings": {"stockfish-l0-n20": 1000.0}}))
    out = tmp_path / "table.json"
    argv = ["--players", "random,l0-n20-r50,l0-n20", "--games", "4", "--anchors", str(anchors),
            "--dir", str(tmp_path / "games"), "--out", str(out), "--workers", "2", "--n-boot", "50",
            "--stockfish", stockfish_path, "--max-plies", "200"]
    assert ladder.main(argv) == 0
    table = json.loads(out.read_text())
    assert table["games"] == 12 and table["engine_version"].startswith("Stockfish")
    assert table["anchored_to"] == {"stockfish-l0-n20": 1000.0}
    assert table["fit"] == fit_info(PRIOR_DRAWS, 50)  # the same fit, and prior, as experts and models
    assert set(table["ci95"]) == {"random", "stockfish-l0-n20-r50"}  # every rated player has an interval (or bound)
    loaded = load_anchor_table(str(out))
    assert loaded["stockfish-l0-n20"] == 1000.0
    rated = set(loaded) | set(table["one_sided_bounds"])
    assert rated == {"random", "stockfish-l0-n20-r50", "stockfish-l0-n20"}
    if "random" in loaded:
        assert loaded["random"] < 1000.0
    else:
        assert table["one_sided_bounds"]["random"]["kind"] == "upper"
    # Rerunning plays nothing new and reproduces the table from the stored games.
    assert ladder.main(argv) == 0
    assert len(read_records(tmp_path / "games" / "games.jsonl")) == 12
    assert json.loads(out.read_text())["ratings"] == table["ratings"]


def test_ladder_needs_an_anchored_player(tmp_path, capsys):
    argv = ["--players", "random,l0-n20", "--dir", str(tmp_path), "--out", str(tmp_path / "t.json")]
    assert ladder.main(argv) == 2
    assert "no player is in anchor table" in capsys.readouterr().err


def test_bundled_ladder_table_is_loadable_and_anchored_to_the_paper():
    table = load_anchor_table("ladder-sf15")
    for name in ("stockfish-l1", "stockfish-l3", "stockfish-l5"):
        assert table[name] == pytest.approx({"stockfish-l1": 1554, "stockfish-l3": 1867, "stockfish-l5": 2148}[name])
    assert "stockfish-l1-n1000" in table


# --------------------------------------------------------------------------- plans, rounds, fit-only, export
def _tiny(tmp_path, name, *extra, players="random,l20-n1-r90,l20-n1-r80", anchor="stockfish-l20-n1-r80"):
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps({"ratings": {anchor: 1000.0}}))
    out = tmp_path / f"{name}.json"
    argv = ["--players", players, "--anchors", str(anchors), "--dir", str(tmp_path / name), "--out", str(out),
            "--workers", "1", "--n-boot", "100", "--max-plies", "200", *extra]
    return argv, out


def test_adjacent_pairs_fit_only_and_export(tmp_path):
    argv, out = _tiny(tmp_path, "adj", "--pairs", "adjacent:1", "--games", "4")
    assert ladder.main(argv + ["--export-games", str(tmp_path / "adj.games.jsonl.zst")]) == 0
    table = json.loads(out.read_text())
    # adjacent:1 plays neighbours only: random never meets the strongest.
    assert set(table["pair_games"]) == {"random vs stockfish-l20-n1-r90", "stockfish-l20-n1-r90 vs stockfish-l20-n1-r80"}
    assert [c["games"] for c in table["pair_games"].values()] == [4, 4] and table["games"] == 8
    assert table["engine_version"].startswith("Stockfish") and table["time_spent_s"] > 0
    exported = load_anchor_games(str(tmp_path / "adj.json"))
    assert len(exported) == 8 and set(exported[0]) == set(ladder.EXPORT_FIELDS)
    assert {frozenset((g["white"], g["black"])) for g in exported} == {
        frozenset(("random", "stockfish-l20-n1-r90")), frozenset(("stockfish-l20-n1-r90", "stockfish-l20-n1-r80"))}
    # --fit-only plays nothing and writes the same table from the recorded games; it only reads the directory.
    (tmp_path / "adj" / "games.pgn").unlink()
    refit = tmp_path / "refit.json"
    assert ladder.main([*argv[:argv.index("--out")], "--out", str(refit), *argv[argv.index("--out") + 2:], "--fit-only"]) == 0
    again = json.loads(refit.read_text())
    for key in ("ratings", "ci95", "one_sided_bounds", "games", "pair_games", "engine_version", "fit", "time_spent_s"):
        assert again[key] == table[key], key
    assert len(read_records(tmp_path / "adj" / "games.jsonl")) == 8 and not (tmp_path / "adj" / "games.pgn").exists()


def test_sigterm_stops_a_ladder_cleanly_and_the_same_command_continues(tmp_path):
    argv, out = _tiny(tmp_path, "term", "--pairs", "adjacent:1", "--games", "30")
    games = tmp_path / "term" / "games.jsonl"
    cmd = [sys.executable, "-m", "experiments.cli", "ladder", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deadline = time.monotonic() + 120
    while (not games.exists() or len(games.read_text().splitlines()) < 3) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    recorded = len(read_records(games))
    assert 3 <= recorded < 60 and "rerun the same command to continue" in err and "Traceback" not in err
    progress = read_jsonl(tmp_path / "term" / ladder.PROGRESS_FILE)
    assert [p["round"] for p in progress] == [1] and progress[0]["played"] == recorded and not out.exists()
    assert ladder.main(argv) == 0  # the same command plays only the missing games
    assert json.loads(out.read_text())["games"] == 60 and len(read_records(games)) == 60


def test_fit_only_needs_games(tmp_path, capsys):
    argv, _ = _tiny(tmp_path, "empty", "--fit-only")
    assert ladder.main(argv) == 2
    assert "holds no games of the planned pairs" in capsys.readouterr().err


def test_pairs_rule_is_checked(tmp_path, capsys):
    argv, _ = _tiny(tmp_path, "bad", "--pairs", "nearest")
    assert ladder.main(argv) == 2
    assert "expected 'all' or 'adjacent:K'" in capsys.readouterr().err


def test_a_pair_that_replays_identically_plays_two_games():
    plan = ladder.plan_ladder(ladder.plan_pairs(["stockfish-l20-n1", "stockfish-l20-n10", "stockfish-l20-n10-r5"], {}, 6, 6),
                              rounds=3)
    per_pair = collections.Counter(g.game_id.rsplit("-", 1)[0] for g in plan)
    assert per_pair == {"stockfish-l20-n1-vs-stockfish-l20-n10": 2, "stockfish-l20-n1-vs-stockfish-l20-n10-r5": 18,
                        "stockfish-l20-n10-vs-stockfish-l20-n10-r5": 18}


def test_a_round_interleaves_its_pairs_so_a_cut_round_leaves_every_pair_its_share():
    pairs = ladder.plan_pairs(["random", "stockfish-l20-n1-r50", "stockfish-l20-n1-r5"],
                              {"stockfish-l1": ["stockfish-l20-n1-r5"]}, 40, 4)
    plan = ladder.plan_ladder(pairs, rounds=1)
    assert len(plan) == 3 * 40 + 4
    first_quarter = collections.Counter(g.game_id.rsplit("-", 1)[0] for g in plan[:len(plan) // 4])
    # Every pair is about a quarter of the way through, the 4-game bridge too (its first pair of colours).
    assert first_quarter == {"random-vs-stockfish-l20-n1-r50": 10, "random-vs-stockfish-l20-n1-r5": 10,
                             "stockfish-l20-n1-r50-vs-stockfish-l20-n1-r5": 9,
                             "stockfish-l1-vs-stockfish-l20-n1-r5": 2}
    bridge = [g for g in plan if g.game_id.startswith("stockfish-l1-")]
    assert [(g.white, g.black) for g in bridge[:2]] == [("stockfish-l1", "stockfish-l20-n1-r5"),
                                                         ("stockfish-l20-n1-r5", "stockfish-l1")]
    later = ladder.plan_ladder(pairs, rounds=2)
    assert [g.game_id for g in later if g.game_id.startswith("stockfish-l1-")][4:] == [
        f"stockfish-l1-vs-stockfish-l20-n1-r5-{k:03d}" for k in range(4, 8)]


def _widest_after(records, rounds, games, anchors):
    kept = [r for r in records if int(r["game_id"].rsplit("-", 1)[1]) < rounds * games]
    return ladder.widest_interval(ladder.rate_ladder(kept, anchors, 100))[1]


def test_until_width_plays_rounds_until_every_interval_is_narrow_enough(tmp_path):
    # A target no interval can meet: --max-rounds ends it, each round adding --games to every pair.
    argv, out = _tiny(tmp_path, "capped", "--games", "4", "--until-width", "0.001", "--max-rounds", "3")
    assert ladder.main(argv) == 0
    progress = read_jsonl(tmp_path / "capped" / ladder.PROGRESS_FILE)
    assert [p["round"] for p in progress] == [1, 2, 3] and [p["played"] for p in progress] == [12, 12, 12]
    table = json.loads(out.read_text())
    assert table["games"] == 36 and all(c["games"] == 12 for c in table["pair_games"].values())
    width = table["widest_interval"]["width"]
    assert width is not None and width > 0.001

    # A target three rounds meet: a fresh directory stops at the first round that meets it ...
    target = str(width + 1.0)
    argv2, out2 = _tiny(tmp_path, "target", "--games", "4", "--until-width", target, "--max-rounds", "6")
    assert ladder.main(argv2) == 0
    rounds = len(read_jsonl(tmp_path / "target" / ladder.PROGRESS_FILE))
    records = read_records(tmp_path / "target" / "games.jsonl")
    anchors = {"stockfish-l20-n1-r80": 1000.0}
    assert 1 <= rounds <= 3 and len(records) == 12 * rounds
    assert _widest_after(records, rounds, 4, anchors) <= float(target)
    if rounds > 1:
        assert _widest_after(records, rounds - 1, 4, anchors) > float(target)
    # ... and its games replay those of the first directory move for move (skill 20, seeded random moves).
    first = {r["game_id"]: r["moves_uci"] for r in read_records(tmp_path / "capped" / "games.jsonl")}
    assert all(first[r["game_id"]] == r["moves_uci"] for r in records)

    # Resuming a directory whose games already meet the target plays nothing.
    assert ladder.main(argv[:argv.index("--until-width")] + ["--until-width", target, "--max-rounds", "3"]) == 0
    assert len(read_jsonl(tmp_path / "capped" / ladder.PROGRESS_FILE)) == 3
    assert json.loads(out.read_text())["ratings"] == table["ratings"]


def test_bundled_skill20_ladder_loads_and_every_rung_has_an_interval():
    table = load_anchor_table(NEW_TABLE)
    meta = json.loads((TABLE_DIR / f"{NEW_TABLE}.json").read_text())
    assert meta["anchored_to"] == {n: PAPER_ANCHORS[n] for n in meta["anchored_to"]}
    assert set(meta["anchored_to"]) == {"stockfish-l1", "stockfish-l3", "stockfish-l5"}
    for name in set(table) - set(meta["anchored_to"]):
        lo, hi = meta["ci95"][name]
        assert lo is not None and hi is not None and lo <= table[name] <= hi, name
    assert not meta["one_sided_bounds"]
    for name in meta["players"]:  # every rung replays: skill 20 (random moves drawn from the game's seed)
        assert name == "random" or EngineSpec.parse(name).skill == 20, name
    games = load_anchor_games(NEW_TABLE)
    assert len(games) == meta["games"] and meta["fit"]["method"] == "bradley-terry-mle"
    for key in ("command", "pair_games", "adjudicated_games", "time_spent_s", "engine_version", "date", "note"):
        assert meta[key] is not None, key


def test_the_default_ladder_is_narrow_and_reaches_below_the_random_mover():
    from experiments.demo import weakest_opponents
    from experiments.synth.ratings import default_anchor_names

    assert DEFAULT_LADDER == NEW_TABLE
    meta = json.loads((TABLE_DIR / f"{NEW_TABLE}.json").read_text())
    widths = {n: hi - lo for n, (lo, hi) in meta["ci95"].items()}
    assert max(widths.values()) <= 100 and meta["widest_interval"]["width"] == max(widths.values())
    table = load_anchor_table(NEW_TABLE)
    below = [n for n in table if table[n] < table["random"]]
    assert "stockfish-l20-d1-worst" in below and min(table, key=table.get) == "stockfish-l20-d1-worst"
    # What the demo plays against and what synth rates experts against: rungs of the table, all measured.
    used = set(weakest_opponents(DEFAULT_LADDER, 2)) | set(default_anchor_names(table))
    assert {"stockfish-l20-d1-worst-r50", "stockfish-l20-d1-worst-r75"} <= used and used <= set(widths)


def test_a_bundled_worst_move_game_replays_from_its_id(tmp_path):
    # The shipped games keep ids and results only: a game of the worst-move rungs, played again, is the same game.
    argv, out = _tiny(tmp_path, "replay", players="l20-d1-worst-r50,l20-d1-worst-r75", anchor="stockfish-l20-d1-worst-r75")
    argv[argv.index("--max-plies") + 1] = str(json.loads((TABLE_DIR / f"{NEW_TABLE}.json").read_text())
                                              ["settings"]["max_plies"])
    assert ladder.main([*argv, "--games", "2"]) == 0
    shipped = {g["game_id"]: g for g in load_anchor_games(NEW_TABLE)}
    played = read_records(tmp_path / "replay" / "games.jsonl")
    assert len(played) == 2
    for game in played:
        ref = shipped[game["game_id"]]
        assert (game["result"], game["plies"], game["termination"]) == (ref["result"], ref["plies"], ref["termination"])
