"""`transcend report --arm NAME=RUN`: two arms side by side (experiments.report.arms) on schema-true run directories."""
import json
import pathlib

import pytest
from test_report import FIT, _result, make_run

from experiments.cli import main as cli_main
from experiments.report.arms import compare_arms
from experiments.report.writer import write_report


def make_arm(root: pathlib.Path, name: str, best: tuple[float, float, float], results: list[dict]) -> pathlib.Path:
    """A run trained on a synthetic population whose best expert is rated `best` (elo, lo, hi), as synth writes it."""
    elo, lo, hi = best
    synth, shards = root / name / "synth", root / name / "shards"
    synth.mkdir(parents=True), shards.mkdir()
    (shards / "manifest.json").write_text(json.dumps({"sources": [str(synth / "games.pgn.zst")], "rating_max": elo}))
    expert = {"name": f"{name}-best", "engine": "stockfish-l20-n5", "bias": "king_corner", "epsilon": 0.6, "rating": elo,
              "rating_ci95": [lo, hi], "rating_bound": None, "games": 50, "score": 0.5}
    population = {"kind": name, "experts": [expert], "fit": FIT,
                  "anchors": [{"name": "random", "rating": -162.3, "source": "anchor table ladder-sf15"}],
                  "best_expert": {"name": expert["name"], "rating": elo, "rating_ci95": [lo, hi], "rating_bound": None}}
    (synth / "population.json").write_text(json.dumps(population))
    run = make_run(root / name, "run", 64, None, elo, "best_player", {40: results}, [7.5, 6.0], fit=FIT)
    cfg = json.loads((run / "config.json").read_text())
    cfg["data"]["dir"] = str(shards)
    (run / "config.json").write_text(json.dumps(cfg))
    return run


@pytest.fixture
def arms(tmp_path):
    # diverse: lower bound 720 above its best expert's 700 at T=0.001 (but not above its upper bound 750);
    # 810 at T=0.1 clears even the upper bound; T=1 is below.
    diverse = make_arm(tmp_path, "diverse", (700.0, 650.0, 750.0),
                       [_result(0.001, 800, 720, 880, 700), _result(0.1, 900, 810, 990, 700),
                        _result(1.0, 500, 420, 580, 700)])
    # clones: at or below their expert at every temperature.
    clones = make_arm(tmp_path, "clones", (600.0, 560.0, 640.0),
                      [_result(0.001, 590, 520, 660, 600), _result(0.1, 610, None, 610, 600, bound="upper"),
                       _result(1.0, 400, 330, 470, 600)])
    return diverse, clones


def test_arms_side_by_side_values_verdicts_and_prediction(arms, tmp_path):
    diverse, clones = arms
    summary = write_report([], tmp_path / "out", arms={"diverse": str(diverse), "clones": str(clones)})
    comparison = summary["arms"]
    assert list(comparison["arms"]) == ["diverse", "clones"] and comparison["temperatures"] == [0.001, 0.1, 1.0]
    d, c = comparison["arms"]["diverse"], comparison["arms"]["clones"]
    assert d["best_expert"] == {"name": "diverse-best", "elo": 700.0, "lo": 650.0, "hi": 750.0}
    assert c["best_expert"] == {"name": "clones-best", "elo": 600.0, "lo": 560.0, "hi": 640.0}
    assert [(r["temperature"], r["elo"], r["lo"], r["hi"], r["transcended"], r["clears_expert_interval"])
            for r in d["temperatures"]] == [(0.001, 800, 720, 880, True, False), (0.1, 900, 810, 990, True, True),
                                            (1.0, 500, 420, 580, False, False)]
    assert [(r["temperature"], r["lo"], r["hi"], r["transcended"]) for r in c["temperatures"]] == \
        [(0.001, 520, 660, False), (0.1, None, 610, False), (1.0, 330, 470, False)]
    assert d["transcends"] is True and c["transcends"] is False
    assert d["verdict"] == ("diverse: TRANSCENDED at T=0.001 (lower bound 720), T=0.1 (lower bound 810): the 95% "
                            "interval lies above the best expert 700")
    assert c["verdict"].startswith("clones: did not transcend: its highest lower bound, 520 at T=0.001")
    assert comparison["same_scale"] is True and comparison["prediction"] == {
        "expected": {"diverse": True, "clones": False}, "holds": True}
    # The same file the lead's scripts read, and the runs' own sections named by arm.
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["arms"] == comparison
    assert [r["name"] for r in summary["runs"]] == ["diverse", "clones"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "The theory's prediction (the diverse arm transcends, its clones do not) HELD: diverse transcended, " \
           "clones did not transcend." in md
    assert "| T | diverse | clones |" in md
    assert "| 0.1 | 900 [810, 990] **above** (clears) | 610 [-inf, 610] |" in md
    assert "| best expert | 700 [650, 750] (diverse-best) | 600 [560, 640] (clones-best) |" in md
    assert md.index("## Arms side by side") < md.index("## Verdict")


def test_prediction_fails_or_cannot_be_judged(arms, tmp_path):
    diverse, clones = arms
    summaries = {r["name"]: r for r in write_report([], tmp_path / "o", arms={"diverse": str(clones),
                                                                             "clones": str(diverse)})["runs"]}
    swapped = compare_arms(summaries)
    assert swapped["prediction"]["holds"] is False  # "diverse" did not transcend and "clones" did
    alone = compare_arms({"diverse": summaries["diverse"]})
    assert alone["prediction"] == {"expected": {"diverse": True}, "holds": None}
    other = dict(summaries["clones"], anchor_table="paper")
    assert compare_arms({"diverse": summaries["diverse"], "clones": other})["same_scale"] is False


def test_arm_option_errors_and_cli(arms, tmp_path, capsys):
    diverse, clones = arms
    assert cli_main(["report", "--arm", f"diverse={diverse}", "--arm", f"clones={clones}", "--out",
                     str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert "diverse: TRANSCENDED" in printed and "prediction (the diverse arm transcends, its clones do not) HELD" in printed
    for argv, message in ((["--out", "x"], "give at least one run directory or --arm NAME=RUN_DIR"),
                          (["--arm", "diverse", "--out", "x"], "'diverse': expected NAME=RUN_DIR"),
                          (["--arm", f"a={diverse}", "--arm", f"a={clones}", "--out", "x"], "--arm names must differ")):
        with pytest.raises(SystemExit):
            cli_main(["report", *argv])
        assert message in capsys.readouterr().err


def test_search_table_row_reads_a_demo_output(arms, tmp_path):
    """experiments.demo.search_table on a demo-shaped directory: the best low-T row, T=1, the experts, verdicts."""
    from experiments.demo import search_table

    diverse, clones = arms
    write_report([], tmp_path, arms={"diverse": str(diverse), "clones": str(clones)})
    (tmp_path / "timings.json").write_text(json.dumps({"stages_s": {}, "total_s": 600.0}))
    row = search_table.row(tmp_path)
    d, c = row["arms"]["diverse"], row["arms"]["clones"]
    assert (d["model"]["temperature"], d["model"]["lo"]) == (0.1, 810)  # the highest lower bound at T <= 0.1
    assert (c["model"]["temperature"], c["model"]["lo"]) == (0.001, 520)  # T=0.1's one-sided bound has no lower end
    assert d["transcends"] is True and c["transcends"] is False and row["prediction_holds"] is True
    assert row["wall_min"] == 10.0
    line = search_table.markdown([row])[2]
    assert "| 900 [810, 990] (T=0.1) | 500 [420, 580] | 700 [650, 750] | yes |" in line
    assert "| 590 [520, 660] (T=0.001) | 400 [330, 470] | 600 [560, 640] | no | yes |" in line
