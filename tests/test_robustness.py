"""The robustness harness (experiments/robustness) itself: its cheapest check runs end to end through the CLI and
prints its figures as the last line, and its judgement of an evaluation directory can fail."""
import json
import pathlib
import random
import subprocess
import sys

from experiments.robustness.common import eval_problem
from experiments.robustness.fuzz import generated_inputs

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_fuzz_check_runs_builds_and_prints_its_figures_last(tmp_path):
    done = subprocess.run([sys.executable, "-m", "experiments.robustness", "fuzz", "--trials", "3", "--out",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=600)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["check"] == "fuzz" and figures["trials"] == figures["inputs"] == 3
    assert figures["passed"] + len(figures["failed"]) == 3
    assert sum(figures["exit_codes"].values()) == 3
    assert figures["tracebacks"] == 0 and figures["hangs"] == 0, figures
    assert done.returncode == (0 if not figures["failed"] else 1)
    assert len(list((tmp_path / "fuzz" / "logs").glob("*.log"))) == 3  # each build's output is kept


def test_generated_fuzz_inputs_are_many_and_distinct():
    inputs = generated_inputs(random.Random(0))
    assert len(inputs) >= 30
    by_content: dict[bytes, list[str]] = {}
    for name, data in inputs.items():
        if data is not None:
            by_content.setdefault(data, []).append(name)
    # Every damage is a different input, except where the name is the damage (a suffix that lies, an empty file).
    assert sorted(names for names in by_content.values() if len(names) > 1) == [
        ["empty.pgn", "empty.pgn.zst"], ["plain-text-named.pgn.zst", "unknown-suffix.txt"]]


def _record(game_id: str) -> str:
    return json.dumps({"game_id": game_id}) + "\n"


def test_eval_judgement_finds_duplicates_missing_games_and_a_pgn_out_of_step(tmp_path):
    step = tmp_path / "4"
    step.mkdir()
    (step / "games.jsonl").write_text(_record("a") + _record("b") + _record("a"))
    assert "1 duplicate record(s)" in eval_problem(tmp_path, 2)
    (step / "games.jsonl").write_text(_record("a") + _record("b"))
    assert eval_problem(tmp_path, 3) == "2 game(s) recorded, 3 planned"
    (step / "games.pgn").write_text('[GameId "a"]\n\n1. e4 *\n\n')
    assert "they differ" in eval_problem(tmp_path, 2)
    (step / "games.pgn").write_text('[GameId "a"]\n\n1. e4 *\n\n[GameId "b"]\n\n1. d4 *\n\n')
    assert eval_problem(tmp_path, 2) is None
    (step / "ratings.json").write_text(json.dumps({"results": [{"games": 4, "unrated_games": 0}]}))
    assert "counts 4 game(s)" in eval_problem(tmp_path, 2)
