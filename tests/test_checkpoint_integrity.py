"""Checkpoints damaged on disk (real Orbax files: flipped, truncated, deleted, metadata, digest and file manifest
corrupted): never used. Training resumes from the previous intact step, exactly as if the damaged one had never
been written; load_for_inference returns the previous step's exact params, or CheckpointError when none is left.
Each case runs twice: with the step's file manifest (damage found before Orbax reads anything) and without it (a
step written before file manifests: Orbax reads it and the digests catch the damage)."""
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from test_train_data import build_shards, small_config

from jaxformer.checkpoint import FILE_MANIFEST, CheckpointError, list_complete_steps, load_for_inference
from jaxformer.train import run_training

REPO = pathlib.Path(__file__).resolve().parents[1]


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


def forge_manifest(step_dir: pathlib.Path) -> None:
    # the recorded size of a params file changed: the files are intact, the step must not be trusted
    manifest = json.loads((step_dir / FILE_MANIFEST).read_text())
    first = min(rel for rel in manifest["files"] if rel.startswith("params/"))
    manifest["files"][first]["bytes"] += 1
    (step_dir / FILE_MANIFEST).write_text(json.dumps(manifest))


DAMAGE = {
    "params-bytes-flipped": lambda d: flip_bytes(largest_file(d / "params")),
    "params-file-truncated": lambda d: truncate(largest_file(d / "params")),
    "params-file-deleted": lambda d: largest_file(d / "params").unlink(),
    "params-metadata-garbage": lambda d: (d / "params" / "_METADATA").write_text("{not json"),
    "digest-forged": forge_digest,
    "digest-garbage": lambda d: (d / "digest" / "metadata").write_bytes(b"\x00\xff" * 10),
}
MANIFEST_ONLY = {  # damage to the file manifest itself: only a step that has one can have it
    "file-manifest-garbage": lambda d: (d / FILE_MANIFEST).write_text("{not json"),
    "file-manifest-forged": forge_manifest,
}
MANIFEST = ["with-file-manifest", "without-file-manifest"]
# what Orbax's abandoned reads printed after a failed restore
NOISE = ("Traceback", "Exception ignored", "Event loop is closed", "Task exception was never retrieved")
TRAINING_ONLY = {  # the parts evaluation never reads
    "optimizer-bytes-flipped": lambda d: flip_bytes(largest_file(d / "train_state")),
    "iterator-state-shifted": shift_iterator,
}


def damaged_copy(runs: dict, tmp_path: pathlib.Path, kind: str, steps=(4,), manifest: str = MANIFEST[0]) -> pathlib.Path:
    run = tmp_path / "run"
    shutil.copytree(runs["stopped"], run)
    for step in steps:
        if manifest == "without-file-manifest":
            (run / "checkpoints" / str(step) / FILE_MANIFEST).unlink()  # as a step written before file manifests
        {**DAMAGE, **TRAINING_ONLY, **MANIFEST_ONLY}[kind](run / "checkpoints" / str(step))
    return run


def test_every_finished_step_has_a_file_manifest_of_all_its_files(runs):
    for step in (2, 4):
        step_dir = runs["stopped"] / "checkpoints" / str(step)
        manifest = json.loads((step_dir / FILE_MANIFEST).read_text())
        on_disk = {p.relative_to(step_dir).as_posix(): p.stat().st_size for p in step_dir.rglob("*")
                   if p.is_file() and p.name != FILE_MANIFEST}
        assert {rel: d["bytes"] for rel, d in manifest["files"].items()} == on_disk
        assert any(rel.startswith("params/") for rel in on_disk) and any(rel.startswith("train_state/") for rel in on_disk)


@pytest.mark.parametrize("kind,manifest", [(k, m) for k in sorted(DAMAGE) for m in MANIFEST]
                         + [(k, MANIFEST[0]) for k in sorted(MANIFEST_ONLY)])
def test_inference_skips_a_damaged_step_and_returns_the_previous_exact_params(runs, tmp_path, kind, manifest, caplog):
    run = damaged_copy(runs, tmp_path, kind, manifest=manifest)
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


@pytest.mark.parametrize("manifest", MANIFEST)
def test_inference_reads_only_the_params_files(runs, tmp_path, manifest):
    run = damaged_copy(runs, tmp_path, "optimizer-bytes-flipped", manifest=manifest)
    assert load_for_inference(run)[1] == 4  # the optimizer's files are neither read nor checked


@pytest.mark.parametrize("kind,manifest", [(k, m) for k in ["params-bytes-flipped", "optimizer-bytes-flipped",
                                                             "iterator-state-shifted", "digest-forged"] for m in MANIFEST]
                         + [("file-manifest-garbage", MANIFEST[0])])
def test_training_resumes_from_the_previous_step_as_if_the_damaged_one_never_existed(runs, tmp_path, kind, manifest,
                                                                                      caplog):
    run = damaged_copy(runs, tmp_path, kind, manifest=manifest)
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


@pytest.mark.parametrize("manifest", MANIFEST)
def test_transcend_train_resumes_past_a_truncated_array_file_without_a_traceback(runs, tmp_path, manifest):
    """The real CLI, as a user runs it: the truncated step is set aside, the previous one resumed, and stderr holds
    the warnings only (Orbax's failed reads once printed 'Event loop is closed' and tensorstore tracebacks)."""
    run = damaged_copy(runs, tmp_path, "params-file-truncated", manifest=manifest)
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "train", "--config", str(run / "config.json"),
                           "--run-dir", str(run)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "checkpoint step 4 is damaged or unreadable" in done.stderr
    if manifest == "with-file-manifest":
        assert "differ from the file manifest written with them: params/" in done.stderr  # found before Orbax read anything
    assert "resumed from checkpoint step 2" in done.stderr
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["step"] == 6
    assert len([p for p in (run / "checkpoints").iterdir() if p.name.startswith("4.unreadable-")]) == 1
    for got, want in zip(params_of(run), params_of(runs["straight"])):
        # the straight run's weights, to float32 rounding: XLA compiled this process for 1 CPU device, the test's for 8
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_failed_orbax_reads_of_a_step_without_file_manifest_print_nothing(runs, tmp_path):
    """Orbax closes its event loop at the first failed read; the reads still in flight used to print 'Event loop is
    closed', 'Exception ignored' and 'Task exception was never retrieved' tracebacks (most runs of 20 attempts did).
    Each failure must be one clean error."""
    run = damaged_copy(runs, tmp_path, "params-file-truncated", manifest="without-file-manifest")
    code = ("import sys\nfrom jaxformer.checkpoint import CheckpointError, load_for_inference\n"
            "for _ in range(20):\n"
            "    try:\n        load_for_inference(sys.argv[1], step=4)\n    except CheckpointError:\n        print('refused')\n")
    done = subprocess.run([sys.executable, "-c", code, str(run)], cwd=REPO, env={**os.environ, "XLA_FLAGS": ""},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused"] * 20
    for noise in NOISE:
        assert noise not in done.stderr, done.stderr[:3000]
