"""`python -m experiments.demo` end to end, both arms, on a minutes-sized configuration: summary.json's arms."""
import json
import math
import os
import subprocess
import sys

import pytest

from arena import DEFAULT_LADDER
from experiments.demo.plan import ArmDirs

TEMPERATURES = ("0.001", "1.0")
# A small model that compiles and steps quickly on 2 CPU cores; the same for both arms. Its context holds two
# plies of the default board tokenizer (66 tokens a ply), the least its player accepts.
TRAIN_SETS = ["data.seq_len=160", "model.max_len=160", "model.n_layer=1", "model.d_model=32", "model.n_head=2",
              "train.batch_size=4", "train.steps=6", "train.eval_every=0", "checkpoint.every=6", "optim.warmup_steps=2"]


@pytest.mark.slow
@pytest.mark.heavy
def test_both_arms_end_to_end(tmp_path):
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "experiments.demo", "--out", str(out), "--games", "16", "--experts", "3",
           "--nodes", "1", "4", "--workers", "2", "--calibration-games", "12",
           "--population-args", "--max-plies 60 --bootstrap 20 --argmax-positions 20",
           "--temperatures", *TEMPERATURES, "--opponents", "random", "--eval-games", "2", "--eval-concurrency", "4",
           *[a for s in TRAIN_SETS for a in ("--set", s)]]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("demo plan") and "demo finished" in proc.stdout

    summary = json.loads((out / "summary.json").read_text())
    arms = summary["arms"]["arms"]
    assert list(arms) == ["diverse", "clones"]
    assert summary["arms"]["temperatures"] == [float(t) for t in TEMPERATURES]
    assert summary["arms"]["prediction"]["expected"] == {"diverse": True, "clones": False}
    assert summary["arms"]["prediction"]["holds"] in (True, False, None)
    for name, arm in arms.items():
        population = json.loads((ArmDirs(out / name).synth / "population.json").read_text())
        assert arm["population"] == population["kind"] == name
        assert arm["trained_steps"] == 6 and arm["anchor_table"] == DEFAULT_LADDER
        expert = arm["best_expert"]
        assert expert["name"] == population["best_expert"]["name"] and math.isfinite(expert["elo"])
        assert expert["lo"] is None or expert["lo"] <= expert["elo"]
        assert expert["hi"] is None or expert["elo"] <= expert["hi"]
        assert [r["temperature"] for r in arm["temperatures"]] == [float(t) for t in TEMPERATURES]
        for row in arm["temperatures"]:
            assert row["games"] == 2 and row["elo"] is not None and math.isfinite(row["elo"])
            assert row["lo"] is None or row["lo"] <= row["elo"]
            assert row["hi"] is None or row["elo"] <= row["hi"]
            assert isinstance(row["transcended"], bool)
        assert isinstance(arm["transcends"], bool)
        assert arm["verdict"].startswith(f"{name}: TRANSCENDED" if arm["transcends"] else f"{name}: did not transcend")
    assert len(population_experts := json.loads((ArmDirs(out / "clones").synth / "population.json").read_text())
               ["experts"]) == 1, population_experts
    timings = json.loads((out / "timings.json").read_text())["stages_s"]
    assert set(timings) == {f"{a}.{s}" for a in arms for s in ("synth", "build", "train", "eval")} | {"report"}
    assert (out / "report.md").read_text().startswith("# Transcendence report\n\n## Arms side by side")

    # A rerun skips the finished synth and build stages and leaves the summary's arms as they were.
    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:]
    assert again.stdout.count("skipped:") == 4
    assert json.loads((out / "summary.json").read_text())["arms"]["arms"].keys() == arms.keys()
