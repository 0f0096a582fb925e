"""The worker CLI on a real Orbax checkpoint: kill-and-restart plays each planned game exactly once."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from flax import nnx

from arena.records import read_records
from jaxformer.checkpoint import RunCheckpointer
from jaxformer.config import CheckpointConfig, DataConfig, ModelConfig, RunConfig
from jaxformer.eval import worker
from jaxformer.model import Transformer

REPO = pathlib.Path(__file__).resolve().parents[1]


def _make_run(run: pathlib.Path, steps=(5,)) -> None:
    cfg = RunConfig(name="evaltest", model=ModelConfig(n_layer=1, n_head=2, d_model=32, max_len=128, init_std=0.3),
                    data=DataConfig(cutoff=1000, seq_len=128), checkpoint=CheckpointConfig(async_save=False))
    run.mkdir(parents=True)
    (run / "config.json").write_text(cfg.to_json())
    params = nnx.to_pure_dict(nnx.state(Transformer(cfg.model, rngs=nnx.Rngs(0)), nnx.Param))
    ckpt = RunCheckpointer(run, cfg.checkpoint)
    for step in steps:
        ckpt.save(step, params, {"mu": np.zeros(2, np.float32)}, jax.random.key(0), None)
    ckpt.close()


def _args(run, anchors, games=6, extra=(), plies=12):
    return ["--run", str(run), "--levels", "random", "--temperatures", "0.5", "--games", str(games),
            "--max-plies", str(plies), "--concurrency", "2", "--workers", "1", "--n-boot", "50",
            "--anchors", str(anchors), *extra]


@pytest.mark.slow
def test_worker_killed_mid_run_and_restarted_plays_each_game_exactly_once(tmp_path, stockfish_path):
    run = tmp_path / "run"
    _make_run(run)
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps({"ratings": {"random": 400.0}}))
    cmd = [sys.executable, "-m", "experiments.cli", "eval", *_args(run, anchors, games=8, plies=16), "--no-tensorboard"]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    games = run / "eval" / "5" / "games.jsonl"
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and (not games.exists() or len(read_records(games)) < 2):
        time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r["game_id"] for r in read_records(games)}
    assert 2 <= len(first) < 8
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    records = read_records(games)
    ids = [r["game_id"] for r in records]
    assert len(ids) == len(set(ids)) == 8
    assert first <= set(ids)
    assert (run / "eval" / "5" / "games.pgn").read_text().count("[GameId ") == 8
    assert sum(r["white"] == "run@5" for r in records) == 4  # colours alternate
    ratings = json.loads((run / "eval" / "5" / "ratings.json").read_text())
    (res,) = ratings["results"]
    assert res["games"] == 8 and res["wins"] + res["draws"] + res["losses"] == 8
    assert ratings["reference_rating"] == 1000 and ratings["reference_kind"] == "cutoff"
    assert res["margin"] == pytest.approx(res["elo"] - 1000, abs=0.2)
    assert ratings["fit"] == {"method": "bradley-terry-mle", "prior_draws": 0, "anchors_fixed": True,
                              "interval": "bootstrap-95", "n_boot": 50}


def test_worker_skips_a_corrupt_checkpoint_and_writes_tensorboard(tmp_path, stockfish_path, caplog):
    run = tmp_path / "run"
    _make_run(run, steps=(3, 5))
    # Corrupt step 5's parameters: it is listed as complete but cannot be restored.
    for f in (run / "checkpoints" / "5" / "params").rglob("*"):
        if f.is_file() and f.stat().st_size > 0:
            f.write_bytes(b"garbage")
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps({"ratings": {"random": 400.0}}))
    assert worker.main(_args(run, anchors, games=2, extra=["--steps", "all"])) == 0
    assert "skipping step 5" in caplog.text
    assert len(read_records(run / "eval" / "3" / "games.jsonl")) == 2
    assert not (run / "eval" / "5" / "ratings.json").exists()
    assert list((run / "tb").glob("*.eval"))
    assert "skipping step 5" in (run / "eval" / "worker.log").read_text()
    # Evaluating again plays nothing new.
    assert worker.main(_args(run, anchors, games=2, extra=["--steps", "3"])) == 0
    assert len(read_records(run / "eval" / "3" / "games.jsonl")) == 2
    # Nothing rated is a failure the caller can see.
    assert worker.main(_args(run, anchors, games=2, extra=["--steps", "5"])) == 1


def test_worker_accepts_a_relative_run_directory(tmp_path, stockfish_path, monkeypatch):
    _make_run(tmp_path / "run", steps=(2,))
    anchors = tmp_path / "anchors.json"
    anchors.write_text(json.dumps({"ratings": {"random": 400.0}}))
    monkeypatch.chdir(tmp_path)
    assert worker.main(_args(pathlib.Path("run"), anchors, games=2, extra=["--no-tensorboard"])) == 0
    assert len(read_records(tmp_path / "run" / "eval" / "2" / "games.jsonl")) == 2


def test_plan_alternates_colours_shards_and_keeps_stable_ids():
    plan = worker.plan_step(7, "m@7", ["stockfish-l1", "random"], [0.1, 1.0], 4, "move", [("e2e4",), ("d2d4",)])
    assert len(plan) == 16 and len({g.game_id for g in plan}) == 16
    assert plan == worker.plan_step(7, "m@7", ["stockfish-l1", "random"], [0.1, 1.0], 4, "move",
                                    [("e2e4",), ("d2d4",)])
    first = [g for g in plan if g.temperature == 0.1 and g.black == "stockfish-l1" or g.white == "stockfish-l1"][:4]
    assert [g.white for g in first[:2]] == ["m@7", "stockfish-l1"]
    assert [g.opening for g in plan[:4]] == [("e2e4",), ("e2e4",), ("d2d4",), ("d2d4",)]
    shards = [worker.shard_of(plan, (i, 3)) for i in range(3)]
    assert sorted(g.game_id for s in shards for g in s) == sorted(g.game_id for g in plan)
    assert worker.parse_opponents("random,1,l0-n100", 80000) == ["random", "stockfish-l1", "stockfish-l0-n100"]


def test_worker_rejects_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert worker.main(["--run", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
