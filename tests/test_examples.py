"""The examples run as written: the scripts in examples/ (on a run trained for a few steps) and README's commands."""
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest
from test_api import TRAINED_STEPS, train_tiny_run

from arena import DEFAULT_NODES, load_anchor_table, parse_opponents
from experiments.cli import main as cli_main
from experiments.cli import resolve

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_notebook_api_example(tmp_path, stockfish_path):
    run = train_tiny_run(tmp_path)
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu",
           "PATH": f"{os.path.dirname(stockfish_path)}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run([sys.executable, str(REPO_ROOT / "examples" / "notebook_api.py"), str(run), "--top", "3"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith("loaded ")
    assert f"step {TRAINED_STEPS}" in lines[0]
    for temperature, line in zip(("1", "0.1"), lines[1:3]):
        m = re.fullmatch(rf"T={temperature}: 20 legal moves, total probability ([0-9.]+); top: (.+)", line)
        assert m, line
        assert float(m.group(1)) == pytest.approx(1.0, abs=1e-6)
        top = [float(p) for p in re.findall(r" (\d\.\d{3})", m.group(2))]
        assert len(top) == 3 and top == sorted(top, reverse=True)
    m = re.fullmatch(r"game vs random at T=0 \(model White\): (1-0|0-1|1/2-1/2) by (\w+) after (\d+) plies: .*", lines[3])
    assert m, lines[3]
    assert m.group(2) in ("checkmate", "stalemate", "insufficient_material", "seventyfive_moves", "fivefold_repetition",
                          "threefold_repetition", "adjudication", "ply_cap")
    assert 1 <= int(m.group(3)) <= 400


def readme_commands() -> list[list[str]]:
    """Every `transcend ...` command line of README.md's code (indented or fenced), comments and `\\` joined."""
    text = (REPO_ROOT / "README.md").read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        code = line.split("#", 1)[0].strip()
        if code.startswith("transcend ") and (line.startswith("    ") or line.startswith("transcend ")):
            commands.append(shlex.split(code)[1:])
    return commands


def test_readme_commands_match_the_cli(capsys):
    commands = readme_commands()
    assert len(commands) >= 15 and ["report", "runs/c1000", "runs/c1300", "--out", "reports/cutoffs"] in commands
    helps: dict[str, str] = {}
    for argv in commands:
        target, rest = resolve(argv)
        name = " ".join(argv[: len(argv) - len(rest)]) + (f" {rest[0]}" if target == "data_pipeline.cli:main" else "")
        if name not in helps:
            with pytest.raises(SystemExit) as done:
                cli_main([*name.split(), "--help"])
            assert done.value.code == 0, name
            helps[name] = capsys.readouterr().out
        unknown = [a.split("=")[0] for a in argv if a.startswith("--") and a.split("=")[0] not in helps[name]]
        assert not unknown, f"README: `transcend {' '.join(argv)}` uses {unknown}, which `transcend {name} --help` lacks"


def test_readme_eval_examples_rate_every_opponent():
    """An example whose opponents are missing from its anchor table would play games that rate nothing."""
    evals = [argv for argv in readme_commands() if argv[0] == "eval"]
    assert evals
    for argv in evals:
        opts = dict(zip(argv, argv[1:]))
        table_name = opts.get("--anchors", "paper")
        if table_name.endswith(".json"):  # a table the reader makes with `transcend ladder` first
            continue
        table = load_anchor_table(table_name)
        opponents = parse_opponents(opts.get("--levels", "1,3,5"), DEFAULT_NODES)
        assert set(opponents) <= set(table), (argv, sorted(set(opponents) - set(table)))
