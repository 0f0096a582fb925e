"""The demo's plan (experiments/demo/plan.py): both arms share every budget, option and opponent; only --clones and
their directories differ; the plan is printed with estimates, and complete stages are skipped."""
import pathlib

from experiments.demo import budget, main, parse_args
from experiments.demo.plan import ArmDirs, build_plan, describe_plan

OPPONENTS = ["random", "stockfish-l0-n1000-r75"]


def _plan(tmp_path: pathlib.Path, *argv: str):
    args = parse_args(["--out", str(tmp_path), "--workers", "1", *argv])
    return args, build_plan(args, tmp_path, OPPONENTS)


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_both_arms_share_everything_but_clones_and_directories(tmp_path):
    args, plan = _plan(tmp_path, "--games", "50", "--seed", "3", "--set", "train.steps=7", "--population-args",
                       "--argmax-positions 30")
    assert [s.name for s in plan] == ["diverse.synth", "diverse.build", "diverse.train", "diverse.eval",
                                      "clones.synth", "clones.build", "clones.train", "clones.eval", "report"]
    cmd = {s.name: s.argv() for s in plan}
    diverse, clones = ArmDirs(tmp_path / "diverse"), ArmDirs(tmp_path / "clones")
    assert cmd["diverse.synth"][:2] == ["data", "synth"] and _value(cmd["diverse.synth"], "--population") == "systematic"
    assert "--clones" in cmd["clones.synth"] and "--clones" not in cmd["diverse.synth"]
    assert cmd["clones.synth"][-3:] == ["--clones", "--argmax-positions", "30"]
    assert _value(cmd["clones.synth"], "--calibration-games") == str(budget.CALIBRATION_GAMES)
    same = [a.replace(str(clones.root), str(diverse.root)) for a in cmd["clones.synth"] if a != "--clones"]
    assert same == cmd["diverse.synth"]
    assert _value(cmd["diverse.synth"], "--games") == "50" and _value(cmd["diverse.synth"], "--seed") == "3"
    assert _value(cmd["diverse.build"], "--tokenizer") == "board"
    assert _value(cmd["clones.build"], "--source") == str(clones.synth / "games.pgn.zst")
    sets = [cmd["diverse.train"][i + 1] for i, a in enumerate(cmd["diverse.train"]) if a == "--set"]
    assert {"data.tokenizer=board", "model.vocab_size=1985", "train.seed=3", f"data.dir={diverse.shards}"} <= set(sets)
    assert sets[-1] == "train.steps=7"  # the user's --set comes last and wins over the demo's own
    assert [a.replace("clones", "diverse") for a in cmd["clones.train"]] == cmd["diverse.train"]
    assert [a.replace("clones", "diverse") for a in cmd["clones.eval"]] == cmd["diverse.eval"]
    assert _value(cmd["diverse.eval"], "--levels") == ",".join(OPPONENTS)
    assert _value(cmd["diverse.eval"], "--temperatures") == ",".join(budget.TEMPERATURES)
    assert "--as-rating" not in cmd["diverse.eval"]  # the move tokenizer has no rating tokens
    assert cmd["report"] == ["report", "--arm", f"diverse={diverse.run}", "--arm", f"clones={clones.run}",
                             "--out", str(tmp_path / ".")]
    assert [s.done for s in plan if s.name.startswith("diverse")] == [diverse.synth / "population.json",
                                                                       diverse.shards / "manifest.json", None, None]


def test_one_arm_and_real_data(tmp_path):
    _, plan = _plan(tmp_path, "--arms", "clones")
    assert [s.name for s in plan] == ["clones.synth", "clones.build", "clones.train", "clones.eval", "report"]
    _, plan = _plan(tmp_path, "--data", "games.pgn", "--cutoff", "1200", "--tokenizer", "char32")
    assert [s.name for s in plan] == ["data.build", "data.train", "data.eval", "report"]
    train = plan[1].argv()
    assert "data.cutoff=1200" in train and "model.vocab_size=32" in train


def test_plan_estimates_skip_complete_stages_and_warn_over_budget(tmp_path, capsys):
    args, plan = _plan(tmp_path)
    assert all(s.estimate_s > 0 for s in plan)
    lines = describe_plan(plan, budget_minutes=1000)
    total = sum(s.estimate_s for s in plan) / 60
    assert lines[-1] == f"  total ~{total:.1f} min (budget 1000 min)"
    ArmDirs(tmp_path / "diverse").synth.mkdir(parents=True)
    (ArmDirs(tmp_path / "diverse").synth / "population.json").write_text("{}")
    lines = describe_plan(plan, budget_minutes=0.5)
    assert "complete, skipped" in lines[1] and "OVER BUDGET" in lines[-1]
    assert main(["--out", str(tmp_path), "--plan-only", "--games", "20"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("demo plan") and "[9/9] report" in printed
    assert not (tmp_path / "logs").exists()  # --plan-only runs nothing


def test_a_bad_override_fails_before_any_stage(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--set", "train.nope=1"]) == 2
    assert "demo: error:" in capsys.readouterr().err and not (tmp_path / "logs").exists()
