"""Training loop: initial loss, overfitting, golden metrics, exact kill-and-resume, SIGTERM, run directory."""
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from test_train_data import small_config

from jaxformer import sharding as shd
from jaxformer import step as step_lib
from jaxformer.checkpoint import list_complete_steps, load_for_inference
from jaxformer.config import MeshConfig, get_preset, resolve_config
from jaxformer.metrics import read_metrics
from jaxformer.optim import decay_mask
from jaxformer.step import make_setup, masked_loss_sums, model_abstract
from jaxformer.train import main, run_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fixed_batch(B: int, L: int, seed: int = 0) -> dict[str, np.ndarray]:
    toks = np.random.default_rng(seed).integers(0, 32, (B, L + 1))
    return {"inputs": toks[:, :-1].astype(np.int32), "targets": toks[:, 1:].astype(np.int32),
            "loss_mask": np.ones((B, L), np.float32)}


def one_device_setup(cfg):
    mesh = shd.make_mesh(MeshConfig(1, 1, 1), jax.devices()[:1])
    return make_setup(cfg, mesh), mesh


def test_golden_metrics_after_one_step_of_tiny_preset():
    # Golden values for the `tiny` preset on a fixed batch (numpy seed 0, 16 x 256 tokens) on one CPU device.
    # A change here must be deliberate: to regenerate, print `m1`/`m2` below and paste the new numbers.
    cfg = get_preset("tiny")
    setup, mesh = one_device_setup(cfg)
    params, opt_state = setup.init_fn()
    batch = shd.global_batch(fixed_batch(16, 256), mesh)
    params, opt_state, m1 = setup.train_step(params, opt_state, batch)
    params, opt_state, m2 = setup.train_step(params, opt_state, batch)
    m1, m2 = jax.device_get((m1, m2))
    assert abs(m1["loss"] - math.log(32)) < 0.1  # an untrained model is near uniform over 32 symbols
    np.testing.assert_allclose(
        [m1["loss"], m1["grad_norm"], m1["lr"], m2["loss"], m2["grad_norm"], m2["lr"]],
        GOLDEN_TINY, rtol=2e-5)


# [step-1 loss, grad_norm, lr, step-2 loss, grad_norm, lr]; computed 2026-11-23 with jax 0.10.2 on CPU.
GOLDEN_TINY = [3.5279123783111572, 0.5480267405509949, 4.7619050747016445e-05,
               3.517721652984619, 0.5329135656356812, 9.523810149403289e-05]


def test_train_step_called_directly_is_the_mean_masked_loss_and_the_first_adamw_update():
    cfg = resolve_config("tiny", ["train.batch_size=4", "data.seq_len=32", "model.max_len=32"])
    setup, _ = one_device_setup(cfg)
    params, opt_state = setup.init_fn()
    batch = fixed_batch(4, 32, seed=5)
    batch["loss_mask"][:, :7] = 0.0  # uncounted tokens must not enter the loss or the gradient
    new_params, _, m = step_lib.train_step(setup.static, params, opt_state, batch)  # the plain function, not jitted

    loss_sum, count = masked_loss_sums(setup.static.graphdef, params, batch)
    assert float(count) == 4 * 25
    assert float(m["loss"]) == pytest.approx(float(loss_sum) / 100, rel=1e-6)
    lr0 = cfg.optim.lr / (cfg.optim.warmup_steps + 1)  # warm-up's first step is lr/(W+1), never 0
    assert float(m["lr"]) == pytest.approx(lr0, rel=1e-6)

    # AdamW's first step: m = (1-b1) g and v = (1-b2) g^2, bias-corrected to g and g^2, so each parameter
    # moves by -lr0 * (g / (|g| + eps) + weight_decay * p), the decay on matrices only; g is the mean-token
    # gradient after global-norm clipping.
    grads = jax.grad(lambda p: masked_loss_sums(setup.static.graphdef, p, batch)[0] / count)(params)
    norm = float(optax.global_norm(grads))
    assert float(m["grad_norm"]) == pytest.approx(norm, rel=1e-5) and norm > cfg.optim.clip_norm  # clipping acts
    grads = jax.tree.map(lambda g: g * (cfg.optim.clip_norm / norm), grads)
    mask = decay_mask(model_abstract(cfg))
    want = jax.tree.map(lambda p, g, decay: p - lr0 * (g / (jnp.abs(g) + cfg.optim.eps)
                                                     + cfg.optim.weight_decay * p * decay), params, grads, mask)
    moved = 0
    for got, exp, old, g in zip(*(jax.tree.leaves(t) for t in (new_params, want, params, grads))):
        got, exp, old, g = (np.asarray(x) for x in (got, exp, old, g))
        clear = np.abs(g) > 1e-6  # where |g| ~ eps, g / (|g| + eps) is float noise; only its bound holds
        np.testing.assert_allclose(got[clear], exp[clear], rtol=0, atol=lr0 * 1e-3)
        assert np.all(np.abs(got - old) <= lr0 * (1 + cfg.optim.weight_decay * np.abs(old)) * 1.001)
        moved += int(np.sum(np.abs(got - old) > 0.5 * lr0))
    assert moved > 0.9 * sum(x.size for x in jax.tree.leaves(params))  # nearly every parameter took a full step


def test_tiny_model_overfits_a_fixed_batch():
    cfg = resolve_config("tiny", ["optim.lr=3e-3", "optim.warmup_steps=5", "train.steps=80", "train.batch_size=4",
                                  "data.seq_len=64"])
    setup, mesh = one_device_setup(cfg)
    params, opt_state = setup.init_fn()
    batch = shd.global_batch(fixed_batch(4, 64, seed=3), mesh)
    for _ in range(80):
        params, opt_state, m = setup.train_step(params, opt_state, batch)
    assert float(jax.device_get(m["loss"])) < 0.3  # random tokens: only memorisation gets here


@pytest.mark.slow
def test_kill_and_resume_is_bit_exact(shards, tmp_path):
    cfg = small_config(shards, "train.steps=20")
    one = jax.devices()[:1]
    straight = run_training(cfg, tmp_path / "straight", devices=one)
    first = run_training(cfg, tmp_path / "resumed", stop_at=10, devices=one)
    assert (first.step, first.stopped_by) == (10, "stop_at")
    assert list_complete_steps(tmp_path / "resumed") == [10]
    second = run_training(cfg, tmp_path / "resumed", devices=one)
    assert (straight.step, second.step) == (20, 20)

    a, b = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "resumed")
    assert [m["step"] for m in b] == list(range(1, 21))
    assert [m["loss"] for m in a] == [m["loss"] for m in b]  # exact float equality, step by step
    assert [m["grad_norm"] for m in a] == [m["grad_norm"] for m in b]
    state = lambda run: (tmp_path / run / "checkpoints" / "20" / "data" / "process_0-of-1.json").read_text()
    assert state("straight") == state("resumed")  # same position in the same data order
    pa, pb = (jax.tree.leaves(load_for_inference(tmp_path / r)[0]) for r in ("straight", "resumed"))
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
def test_cli_writes_run_directory_and_rejects_bad_config(shards, tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["--config", "tiny", "--run-dir", str(run), "--set", f"data.dir={shards}", "--set", "train.steps=4",
               "--set", "train.batch_size=8", "--set", "data.seq_len=64", "--set", "model.max_len=64",
               "--set", "train.eval_every=2", "--set", "train.eval_batches=1", "--set", "train.log_every=2",
               "--set", "train.progress=false"])
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train"]["steps"] == 4 and cfg["data"]["dir"] == shards
    lines = read_metrics(run)
    train_lines = [m for m in lines if "loss" in m]
    assert [m["step"] for m in train_lines] == [1, 2, 4]
    assert {"step", "loss", "lr", "grad_norm", "tokens_per_s", "step_time_s", "mfu"} <= set(train_lines[0])
    assert [m["step"] for m in lines if "val_loss" in m] == [2, 4]
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert list_complete_steps(run) == [4]

    assert main(["--config", "tiny", "--run-dir", str(tmp_path / "x"), "--set", "model.n_layers=3"]) == 2
    assert "unknown key 'n_layers'" in capsys.readouterr().err
    assert main(["--config", "tiny", "--run-dir", str(tmp_path / "x"), "--set", "train.steps=abc"]) == 2
    assert "expected int" in capsys.readouterr().err
    # the same run directory cannot silently switch to another model
    assert main(["--config", "tiny", "--run-dir", str(run), "--set", f"data.dir={shards}",
                 "--set", "data.seq_len=64", "--set", "model.max_len=64", "--set", "model.n_layer=3"]) == 2
    assert "different `model` section" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_saves_and_restart_continues(shards, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "jaxformer.train", "--config", "tiny", "--run-dir", str(run),
            "--set", f"data.dir={shards}", "--set", "data.seq_len=64", "--set", "model.max_len=64",
            "--set", "train.batch_size=8", "--set", "train.steps=100000", "--set", "train.log_every=1",
            "--set", "train.eval_every=0", "--set", "checkpoint.every=0", "--set", "train.progress=false"]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, out
    saved = list_complete_steps(run)
    last_logged = read_metrics(run)[-1]["step"]
    assert saved == [last_logged] and last_logged >= 3

    rc = subprocess.run(args + ["--stop-at-step", str(last_logged + 2)], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=120)
    assert rc.returncode == 0, rc.stdout + rc.stderr
    assert f"resumed from checkpoint step {last_logged}" in rc.stderr  # logged: the user sees it on stderr
    steps = [m["step"] for m in read_metrics(run)]
    assert steps == list(range(1, last_logged + 3))


def test_run_config_accepts_the_same_data_dir_spelled_relative_or_absolute(tmp_path, monkeypatch):
    from jaxformer.config import get_preset
    from jaxformer.train import check_run_config, write_run_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "shards").mkdir()
    base = get_preset("tiny")
    with_dir = lambda d: dataclasses.replace(base, data=dataclasses.replace(base.data, dir=d))  # noqa: E731
    first = check_run_config(tmp_path / "run", with_dir("shards"))
    assert len(first.run_id) == 32 and not (tmp_path / "run").exists()  # checking writes nothing
    write_run_config(tmp_path / "run", first)
    again = check_run_config(tmp_path / "run", with_dir(str(tmp_path / "shards")))  # same place: accepted
    assert again.run_id == first.run_id  # the run keeps its id on every resume
    with pytest.raises(ValueError, match="different `data` section"):
        check_run_config(tmp_path / "run", with_dir(str(tmp_path / "other")))
