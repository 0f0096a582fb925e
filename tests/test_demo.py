"""`make demo`'s runner (experiments/demo/): Ctrl-C during training saves a checkpoint and the rerun continues."""
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest
from data_fixtures import pgn
from test_report import _help_entries

from experiments.demo import Stages, budget, parse_args
from jaxformer.checkpoint import list_complete_steps
from jaxformer.metrics import read_metrics

# Small enough to compile and step quickly on 2 CPU cores; never finishes by itself (train.steps is huge).
TRAIN_SETS = ["data.seq_len=64", "model.max_len=64", "train.batch_size=8", "train.steps=100000", "train.log_every=1",
              "train.eval_every=0", "checkpoint.every=5", "optim.warmup_steps=5"]


@pytest.mark.slow
@pytest.mark.heavy
def test_ctrl_c_during_training_saves_a_checkpoint_and_the_rerun_resumes(tmp_path, capsys):
    games = tmp_path / "games.pgn"
    games.write_text(pgn.random_pgn(240, seed=5, max_plies=60)[0])
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "experiments.demo", "--out", str(out), "--data", str(games), "--cutoff", "3000",
           "--workers", "1", *[arg for s in TRAIN_SETS for arg in ("--set", s)]]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    # Its own process group, signalled as a whole: what a terminal does to a foreground job on Ctrl-C.
    demo = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            process_group=0)
    run = out / "data" / "run"  # --data: the one arm "data"
    deadline = time.time() + 300
    while time.time() < deadline and not list_complete_steps(run):
        assert demo.poll() is None, demo.stdout.read().decode()[-3000:]
        time.sleep(0.2)
    assert list_complete_steps(run), "no checkpoint within 300 s"
    os.killpg(demo.pid, signal.SIGINT)
    output = demo.communicate(timeout=180)[0].decode()
    assert demo.returncode == 130, output[-3000:]
    assert "demo: interrupted during stage 'data.train' (SIGINT); the stage saved its work and exited (130): " \
           "rerun the same command to continue" in output
    assert "Traceback" not in output
    saved = list_complete_steps(run)
    steps = [m["step"] for m in read_metrics(run) if "loss" in m]
    assert saved[-1] == steps[-1] >= 5  # the signal's checkpoint: the last step trained

    # Rerun the demo's own train command (as it printed it), stopping two steps later: it resumes.
    printed = re.search(r"\$ transcend (train .*)", output).group(1)
    stop_at = saved[-1] + 2
    Stages(out).run("data.train", [*shlex.split(printed), "--stop-at-step", str(stop_at)])
    log = (out / "logs" / "data.train.log").read_text()
    assert f"resumed from checkpoint step {saved[-1]}" in log
    steps = [m["step"] for m in read_metrics(run) if "loss" in m]
    assert all(a < b for a, b in zip(steps, steps[1:])), steps  # never back to step 1
    assert steps[0] == 1 and steps[-1] == stop_at and list_complete_steps(run)[-1] == stop_at


def test_demo_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    entries = _help_entries(capsys.readouterr().out)
    assert {"--out", "--arms", "--data", "--cutoff", "--games", "--experts", "--nodes", "--epsilon", "--population-args",
            "--tokenizer", "--seed", "--set", "--opponents", "--eval-games", "--budget-minutes", "--plan-only"} <= set(entries)
    for option, text in entries.items():
        assert text.count("default:") == 1, (option, text)
    assert "(default: runs/demo)" in entries["--out"] and f"(default: {budget.EVAL_GAMES})" in entries["--eval-games"]
    assert "(default: board)" in entries["--tokenizer"] and "(default: ['diverse', 'clones'])" in entries["--arms"]
