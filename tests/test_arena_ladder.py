"""`transcend ladder`: a small real round robin, fitted on one anchored scale, written as a loadable table."""
import json

import pytest

from arena import ladder
from arena.anchors import load_anchor_table
from arena.ratings import PRIOR_DRAWS, fit_info
from arena.records import read_records


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
