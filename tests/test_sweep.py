"""`transcend sweep`: deterministic expansion, the local executor's resume, the SLURM scripts, the launch commands,
and one-sentence errors for bad specs. The real-scheduler test is tests/test_sweep_slurm.py."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
from data_fixtures import pgn

from experiments import cli
from experiments.sweep.plan import expand, load_plan
from experiments.sweep.spec import load_spec

REPO = pathlib.Path(__file__).resolve().parents[1]
SPECS = REPO / "experiments" / "specs"
TINY = SPECS / "tiny.py"
TINY_RUNS = ["call-tiny-s0", "c2000-tiny-s0"]


def sweep_env() -> dict[str, str]:
    """The tests' environment without conftest's 8 fake devices: sweep stages run as a user would run them."""
    return {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"PYTHONUNBUFFERED": "1"}


def transcend(*args: str, timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", *args], cwd=REPO, env=env or sweep_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"transcend {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def tiny_shards(root: pathlib.Path) -> pathlib.Path:
    """A tiny shard directory from 60 random legal games rated 600-2600."""
    text, _ = pgn.random_pgn(60, seed=11)
    source = root / "games.pgn"
    source.write_text(text)
    transcend("data", "build", "--source", str(source), "--out", str(root / "shards"), "--workers", "1",
              "--val-fraction", "0.1")
    return root / "shards"


def test_expansion_is_deterministic_with_stable_names_and_commands(tmp_path):
    plans = [expand(load_spec(TINY), TINY, tmp_path / "out", data=str(tmp_path / "shards")).to_json() for _ in range(2)]
    assert plans[0] == plans[1]
    assert [r["name"] for r in plans[0]["runs"]] == TINY_RUNS
    train = plans[0]["runs"][1]["train"]
    assert train[:5] == ["train", "--config", "tiny", "--run-dir", str(tmp_path / "out" / "runs" / "c2000-tiny-s0")]
    assert "data.cutoff=2000" in train and "data.cutoff=none" in plans[0]["runs"][0]["train"]
    assert plans[0]["report"][1:3] == [str(tmp_path / "out" / "runs" / n) for n in TINY_RUNS]

    # the same through the CLI: two dry runs print the same, and write nothing
    outs = [transcend("sweep", str(TINY), "--data", str(tmp_path / "shards"), "--out", str(tmp_path / "out"),
                      "--dry-run").stdout for _ in range(2)]
    assert outs[0] == outs[1] and "run c2000-tiny-s0: tiny, cutoff 2000, seed 0, 4 steps" in outs[0]
    assert not (tmp_path / "out").exists()


def test_shipped_specs_expand_to_the_papers_grid(tmp_path):
    paper = expand(load_spec(SPECS / "paper.py"), SPECS / "paper.py", tmp_path / "p")
    assert [r.name for r in paper.runs] == ["c1000-50m-s0", "c1300-50m-s0", "c1500-50m-s0"]
    for run in paper.runs:
        assert run.temperatures == [0.001, 0.01, 0.1, 0.3, 0.5, 0.75, 1.0, 1.5]
        assert run.opponents == ["stockfish-l1", "stockfish-l3", "stockfish-l5"] and run.games == 100
        assert run.train_steps == 100_000 and run.planned_games == 300

    scaling = expand(load_spec(SPECS / "scaling.py"), SPECS / "scaling.py", tmp_path / "s")
    assert len(scaling.runs) == 15 and scaling.runs[0].name == "c1000-1m-s0" and scaling.runs[-1].name == "c1500-700m-s0"
    from jaxformer.config import resolve_config

    tokens = set()
    for run in scaling.runs:  # every size reads the same number of training characters
        overrides = [run.train[i + 1] for i, a in enumerate(run.train) if a == "--set"]
        cfg = resolve_config(run.point["preset"], overrides)
        tokens.add(cfg.train.steps * cfg.train.batch_size * cfg.data.seq_len)
    assert tokens == {100_000 * 500 * 1024}

    diversity = expand(load_spec(SPECS / "diversity.py"), SPECS / "diversity.py", tmp_path / "d")
    assert [d.name for d in diversity.data] == ["diverse", "clones"]
    assert "--clones" in diversity.data[1].synth and "--clones" not in diversity.data[0].synth
    assert [r.name for r in diversity.runs] == [f"{p}-10m-s{s}" for p in ("diverse", "clones") for s in (0, 1, 2)]
    clone_run = diversity.runs[3]
    assert f"data.dir={tmp_path / 'd' / 'data' / 'clones' / 'shards'}" in clone_run.train
    assert "data.cutoff=none" in clone_run.train


BAD_SPECS = {
    "syntax": ("SWEEP = Sweep(\n", "line 1: syntax error"),
    "nothing": ("x = 1\n", "must define SWEEP"),
    "preset": ("from experiments.sweep import Sweep\nSWEEP = Sweep(name='b', presets=['huge'], cutoffs=[1000])\n",
               "unknown preset 'huge'"),
    "both": ("from experiments.sweep import Population, Sweep\n"
             "SWEEP = Sweep(name='b', presets=['tiny'], cutoffs=[1000], populations=[Population('p')])\n",
             "cutoffs or populations, not both"),
    "override": ("from experiments.sweep import Sweep\n"
                 "SWEEP = Sweep(name='b', presets=['tiny'], cutoffs=[1000], data='x', overrides=['train.stepz=3'])\n",
                 "unknown key 'stepz'"),
    "twice": ("from experiments.sweep import Sweep\nSWEEP = Sweep(name='b', presets=['tiny'], cutoffs=[1000, 1000])\n",
              "would share a name"),
    "crash": ("raise RuntimeError('boom')\n", "failed to run: RuntimeError: boom"),
}


@pytest.mark.parametrize("kind", sorted(BAD_SPECS))
def test_a_bad_spec_is_one_sentence_naming_the_spec(tmp_path, capsys, kind):
    text, words = BAD_SPECS[kind]
    spec = tmp_path / f"{kind}.py"
    spec.write_text(text)
    assert cli.main(["sweep", str(spec), "--data", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(spec) in err and words in err, err


def test_a_missing_spec_is_one_sentence(tmp_path, capsys):
    assert cli.main(["sweep", str(tmp_path / "none.py"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "none.py not found" in err


def test_slurm_dry_run_prints_arrays_dependencies_and_requeue(tmp_path):
    out = transcend("sweep", str(TINY), "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--executor", "slurm",
                    "--dry-run", "--resource", "train.partition=gpu", "--resource", "train.gpus=2").stdout
    train, evaluate = (out.split(f"# {tmp_path}/out/slurm/{s}.sbatch\n")[1] for s in ("train", "eval"))
    for script in (train, evaluate):
        assert "#SBATCH --array=0,1\n" in script and "#SBATCH --requeue\n" in script
        assert "NAMES=(call-tiny-s0 c2000-tiny-s0)" in script and "-m experiments.sweep.task" in script
    assert "#SBATCH --partition=gpu\n" in train and "#SBATCH --gpus-per-node=2\n" in train
    assert "--partition" not in evaluate.split("NAMES")[0] and "export JAX_PLATFORMS=cpu" in evaluate
    lines = out.splitlines()
    assert f"sbatch --parsable {tmp_path}/out/slurm/train.sbatch" in lines
    assert f"sbatch --parsable --dependency=aftercorr:$train --kill-on-invalid-dep=yes {tmp_path}/out/slurm/eval.sbatch" in lines
    assert f"sbatch --parsable --dependency=afterok:$eval --kill-on-invalid-dep=yes {tmp_path}/out/slurm/report.sbatch" in lines
    assert not (tmp_path / "out").exists()


def test_print_executor_gives_tpu_and_srun_launch_commands(tmp_path):
    out = transcend("sweep", str(SPECS / "paper.py"), "--out", str(tmp_path / "p"), "--executor", "print",
                    "--tpu", "pod1", "--zone", "us-central2-b", "--repo", "/home/me/transcendence", "--dry-run").stdout
    tpu = [line for line in out.splitlines() if line.startswith("gcloud compute tpus tpu-vm ssh pod1")]
    assert len(tpu) == 3 and all("--worker=all" in line and "JAX_COORDINATOR_ADDRESS=$COORDINATOR" in line for line in tpu)
    assert "cd /home/me/transcendence && " in tpu[0] and "--run-dir " in tpu[0]
    assert "COORDINATOR=$(gcloud compute tpus tpu-vm describe pod1 --zone us-central2-b" in out
    srun = [line for line in out.splitlines() if line.startswith("srun ")]
    assert len(srun) == 3 and all("--ntasks-per-node=1" in line and "--nodes=2" in line for line in srun)


@pytest.mark.slow
@pytest.mark.heavy
def test_local_sweep_runs_everything_and_a_rerun_replays_nothing(tmp_path, stockfish_path):
    shards, out = tiny_shards(tmp_path), tmp_path / "sweep"
    args = ("sweep", str(TINY), "--data", str(shards), "--out", str(out))
    first = transcend(*args).stdout
    assert "ran {'data': 0, 'train': 2, 'eval': 2, 'report': 1}" in first, first[-2000:]
    plan = load_plan(out)
    assert [r.name for r in plan.runs] == TINY_RUNS and (out / "sweep.json").is_file()
    for name in TINY_RUNS:
        run = out / "runs" / name
        assert (run / "checkpoints" / "4").is_dir()
        ratings = json.loads((run / "eval" / "4" / "ratings.json").read_text())
        (result,) = ratings["results"]
        assert result["temperature"] == 1.0 and result["games"] + result["unrated_games"] == 2
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert sorted(r["name"] for r in summary["runs"]) == sorted(TINY_RUNS)

    def snapshot() -> dict[str, float]:
        return {str(p): p.stat().st_mtime for p in out.rglob("*") if p.is_file() and "logs" not in p.parts
                and p.name != "sweep.json"}

    before = snapshot()
    again = transcend(*args).stdout
    assert "2 finished runs skipped; ran {'data': 0, 'train': 0, 'eval': 0, 'report': 0}" in again, again[-2000:]
    assert "$ transcend" not in again and snapshot() == before

    # A lost rating file: only that run's evaluation reruns, and it replays no game (they are recorded).
    games = out / "runs" / TINY_RUNS[1] / "eval" / "4" / "games.jsonl"
    recorded = games.read_text()
    (games.parent / "ratings.json").unlink()
    third = transcend(*args).stdout
    assert "1 finished runs skipped; ran {'data': 0, 'train': 0, 'eval': 1, 'report': 1}" in third, third[-2000:]
    assert games.read_text() == recorded and "0 to play" in third
