"""Checkpoints damaged on disk (real Orbax files: flipped, truncated, deleted, metadata and digest corrupted):
never used. Training resumes from the previous intact step, exactly as if the damaged one had never been
written; load_for_inference returns the previous step's exact params, or CheckpointError when none is left."""
import json
import logging
import pathlib
import shutil

import jax
import numpy as np
import pytest
from test_train_data import build_shards, small_config

from jaxformer.checkpoint import CheckpointError, list_complete_steps, load_for_inference
from jaxformer.train import run_training


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """A run stopped at step 4 (checkpoints 2 and 4) and the same run trained straight to 6 (the reference)."""
    root = tmp_path_factory.mktemp("integrity")
    shards = build_shards(root)
    cfg = small_config(shards, "train.steps=6", "checkpoint.every=2", "checkpoint.keep_last=5")
    one = jax.devices()[:1]
    run_training(cfg, root / "stopped", stop_at=4, devices=one)
    run_training(cfg, root / "straight", devices=one)
    assert list_complete_steps(root / "stopped") == [2, 4]
    return {"cfg": cfg, "stopped": root / "stopped", "straight": root / "straight", "one": one}


def params_of(run: pathlib.Path, step: int | None = None) -> list[np.ndarray]:
    model, _, _ = load_for_inference(run, step)
    return [np.asarray(x) for x in jax.tree.leaves(model)]


def largest_file(item_dir: pathlib.Path) -> pathlib.Path:
    return max((f for f in item_dir.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size)


def flip_bytes(path: pathlib.Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: pathlib.Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def shift_iterator(step_dir: pathlib.Path) -> None:
    # still valid JSON, only another position: without a digest the run would silently read other data
    state_file = next((step_dir / "data").glob("process_*.json"))
    state = json.loads(state_file.read_text())
    state["offset"] += 1
    state_file.write_text(json.dumps(state))


def forge_digest(step_dir: pathlib.Path) -> None:
    meta = step_dir / "digest" / "metadata"
    digest = json.loads(meta.read_text())
    first = sorted(digest["params"])[0]
    digest["params"][first] = "0" * 64
    meta.write_text(json.dumps(digest))


DAMAGE = {
    "params-bytes-flipped": lambda d: flip_bytes(largest_file(d / "params")),
    "params-file-truncated": lambda d: truncate(largest_file(d / "params")),
    "params-file-deleted": lambda d: largest_file(d / "params").unlink(),
    "params-metadata-garbage": lambda d: (d / "params" / "_METADATA").write_text("{not json"),
    "digest-forged": forge_digest,
    "digest-garbage": lambda d: (d / "digest" / "metadata").write_bytes(b"\x00\xff" * 10),
}
TRAINING_ONLY = {  # the parts evaluation never reads
    "optimizer-bytes-flipped": lambda d: flip_bytes(largest_file(d / "train_state")),
    "iterator-state-shifted": shift_iterator,
}


def damaged_copy(runs: dict, tmp_path: pathlib.Path, kind: str, steps=(4,)) -> pathlib.Path:
    run = tmp_path / "run"
    shutil.copytree(runs["stopped"], run)
    for step in steps:
        {**DAMAGE, **TRAINING_ONLY}[kind](run / "checkpoints" / str(step))
    return run


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_inference_skips_a_damaged_step_and_returns_the_previous_exact_params(runs, tmp_path, kind, caplog):
    run = damaged_copy(runs, tmp_path, kind)
    before = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    with caplog.at_level(logging.WARNING, logger="jaxformer"):
        model, step, _ = load_for_inference(run)
    assert step == 2
    assert "checkpoint step 4" in caplog.text and "trying the previous step" in caplog.text
    for got, want in zip((np.asarray(x) for x in jax.tree.leaves(model)), params_of(runs["stopped"], 2)):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(CheckpointError, match="step 4"):
        load_for_inference(run, step=4)  # asked for by number: an error, never the damaged weights
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == before  # read-only


def test_inference_with_every_step_damaged_raises(runs, tmp_path):
    run = damaged_copy(runs, tmp_path, "params-bytes-flipped", steps=(2, 4))
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        load_for_inference(run)


def test_inference_loads_only_params_and_ignores_optimizer_damage(runs, tmp_path):
    run = damaged_copy(runs, tmp_path, "optimizer-bytes-flipped")
    assert load_for_inference(run)[1] == 4  # evaluation reads and verifies the params alone


@pytest.mark.parametrize("kind", ["params-bytes-flipped", "optimizer-bytes-flipped", "iterator-state-shifted",
                                  "digest-forged"])
def test_training_resumes_from_the_previous_step_as_if_the_damaged_one_never_existed(runs, tmp_path, kind, caplog):
    run = damaged_copy(runs, tmp_path, kind)
    with caplog.at_level(logging.INFO, logger="jaxformer"):
        result = run_training(runs["cfg"], run, devices=runs["one"])
    assert "checkpoint step 4 is damaged or unreadable" in caplog.text
    assert "resumed from checkpoint step 2" in caplog.text
    assert result.step == 6
    aside = [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith("4.unreadable-")]
    assert len(aside) == 1  # renamed aside for inspection, not deleted
    assert list_complete_steps(run) == [2, 4, 6]  # step 4 written again, from the retrained state
    for got, want in zip(params_of(run), params_of(runs["straight"])):
        np.testing.assert_array_equal(got, want)  # bit for bit the run that never had the damaged step
