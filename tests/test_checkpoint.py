"""Checkpoints: cross-mesh restore, retention, unreadable latest falls back, read-only inference loading."""
import logging
import shutil

import jax
import numpy as np
import pytest
from test_train_data import small_config

from jaxformer.checkpoint import (
    CheckpointError,
    list_complete_steps,
    load_for_inference,
)
from jaxformer.metrics import read_metrics
from jaxformer.model import Transformer
from jaxformer.train import run_training


def leaves(model: Transformer) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(model)]


@pytest.mark.slow
def test_saved_on_8_devices_restores_on_1(shards, tmp_path):
    run = tmp_path / "run"
    cfg8 = small_config(shards, "train.steps=6", "mesh.data=2", "mesh.fsdp=2", "mesh.tensor=2")
    run_training(cfg8, run, stop_at=3)
    assert list_complete_steps(run) == [3]
    sharded = load_for_inference(run)[0]

    # Continue the same run on a single device: params and optimizer state come back onto the new mesh.
    cfg1 = small_config(shards, "train.steps=6", "mesh.data=1", "mesh.fsdp=1", "mesh.tensor=1")
    result = run_training(cfg1, run, devices=jax.devices()[:1])
    assert result.step == 6
    assert [m["step"] for m in read_metrics(run)] == [1, 2, 3, 4, 5, 6]

    model, step, cfg = load_for_inference(run, step=3)
    assert step == 3 and cfg.mesh.data == 1  # config.json follows the latest settings
    for x, y in zip(leaves(sharded), leaves(model)):
        np.testing.assert_array_equal(x, y)
    one_device = jax.devices("cpu")[0]
    assert all(x.sharding.device_set == {one_device} for x in jax.tree.leaves(model))


def test_retention_keeps_last_k_plus_every_mth(shards, tmp_path):
    cfg = small_config(shards, "train.steps=7", "checkpoint.every=1", "checkpoint.keep_last=2",
                       "checkpoint.keep_every=3")
    run_training(cfg, tmp_path / "run", devices=jax.devices()[:1])
    assert list_complete_steps(tmp_path / "run") == [3, 6, 7]
    check_load_for_inference(tmp_path / "run", shards)


@pytest.mark.slow
def test_unreadable_latest_is_reported_and_previous_used(shards, tmp_path, caplog):
    run = tmp_path / "run"
    cfg = small_config(shards, "train.steps=6", "checkpoint.every=2", "checkpoint.keep_last=5")
    run_training(cfg, run, devices=jax.devices()[:1], stop_at=4)
    assert list_complete_steps(run) == [2, 4]
    good = leaves(load_for_inference(run, step=2)[0])
    shutil.rmtree(run / "checkpoints" / "4" / "train_state")  # damaged after it was declared complete
    # an interrupted save leaves only a temporary directory: never listed, never used
    (run / "checkpoints" / "5.orbax-checkpoint-tmp-123").mkdir()
    caplog.clear()

    with caplog.at_level(logging.INFO, logger="jaxformer"):
        result = run_training(cfg, run, devices=jax.devices()[:1])
    out = caplog.text
    assert "checkpoint step 4 is damaged or unreadable" in out and "resumed from checkpoint step 2" in out
    assert result.step == 6
    steps = [m["step"] for m in read_metrics(run)]
    assert steps == [1, 2, 3, 4, 5, 6]  # steps 3-4 retrained from the step-2 checkpoint, logged once
    assert any(p.name.startswith("4.unreadable-") for p in (run / "checkpoints").iterdir())  # kept, not deleted
    np.testing.assert_array_equal(good[0], leaves(load_for_inference(run, step=2)[0])[0])


def check_load_for_inference(run, shards):
    with pytest.raises(CheckpointError, match="not a run directory"):
        load_for_inference(run / "checkpoints")
    with pytest.raises(CheckpointError, match="complete steps: \\[3, 6, 7\\]"):
        load_for_inference(run, step=5)
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    model, step, cfg = load_for_inference(run)
    assert step == 7 and isinstance(model, Transformer) and cfg.data.dir == shards
    logits = model(np.zeros((1, 5), np.int32))
    assert logits.shape == (1, 5, 32)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # read-only
    for f in (run / "checkpoints" / "6" / "params").rglob("*"):
        if f.is_file() and f.stat().st_size > 100:
            f.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_for_inference(run, step=6)
