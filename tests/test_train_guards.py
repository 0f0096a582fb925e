"""What training refuses to do: save NaN, write config.json before its checks pass, show XLA's out-of-memory
dump or a bad `--set` value without the allowed ones; and what it says before it starts."""
import json
import logging
import re

import jax
import numpy as np
import pytest
from test_train_data import small_config

from jaxformer.checkpoint import list_complete_steps, load_for_inference
from jaxformer.config import RunConfig, config_fields, get_preset, resolve_config
from jaxformer.finite import NonFiniteError
from jaxformer.memory import (
    USABLE_FRACTION,
    OutOfMemoryError,
    device_memory_bytes,
    out_of_memory_message,
    train_bytes,
)
from jaxformer.train import main, run_training


def train_args(shards, run, *extra):
    return ["--config", "tiny", "--run-dir", str(run), "--set", f"data.dir={shards}", "--set", "data.seq_len=64",
            "--set", "model.max_len=64", "--set", "model.d_model=64", "--set", "train.batch_size=8",
            "--set", "train.eval_every=0", "--set", "train.progress=false", "--set", "optim.warmup_steps=5",
            *[x for item in extra for x in ("--set", item)]]


def leaves(run, step):
    return [np.asarray(x) for x in jax.tree.leaves(load_for_inference(run, step)[0])]


def test_nan_parameters_are_never_saved_and_the_good_steps_are_kept(shards, tmp_path, capsys):
    run = tmp_path / "run"
    good = ["checkpoint.every=1", "checkpoint.keep_last=2", "train.log_every=10", "train.steps=20"]
    assert main(train_args(shards, run, *good) + ["--stop-at-step", "2"]) == 0
    assert list_complete_steps(run) == [1, 2]
    before = leaves(run, 2)
    capsys.readouterr()

    # lr=inf: step 3's update makes every parameter NaN/inf while its own loss is still finite. Before, steps 3..10
    # were saved (NaN) until the log step noticed, and retention deleted steps 1 and 2.
    assert main(train_args(shards, run, *good, "optim.lr=inf")) == 2
    err = capsys.readouterr().err
    assert "after step 3 hold NaN/inf; step 3 is not saved" in err and "optim.lr" in err
    assert "Traceback" not in err
    assert list_complete_steps(run) == [1, 2]
    for got, want in zip(leaves(run, 2), before):
        np.testing.assert_array_equal(got, want)


def test_a_non_finite_loss_between_log_steps_names_its_step(shards, tmp_path):
    run = tmp_path / "run"
    cfg = small_config(shards, "train.steps=20", "train.log_every=10")
    run_training(cfg, run, stop_at=2, devices=jax.devices()[:1])
    poisoned = small_config(shards, "train.steps=20", "train.log_every=10", "optim.lr=inf")
    # step 3 turns the parameters to NaN; step 4's loss is NaN; the first check (log step 10) names step 4
    with pytest.raises(NonFiniteError, match=r"diverged at step 4: .*last checkpoint, step 2, is kept"):
        run_training(poisoned, run, devices=jax.devices()[:1])
    assert list_complete_steps(run) == [2]


def test_config_json_is_written_only_after_the_checks_pass_and_keeps_its_run_id(shards, tmp_path, capsys, caplog):
    run = tmp_path / "run"
    assert main(train_args(shards, run, "data.cutoff=800", "train.steps=2")) == 2  # a cutoff that selects no game
    assert "no train games" in capsys.readouterr().err
    assert not (run / "config.json").exists()
    with caplog.at_level(logging.INFO, logger="jaxformer"):
        assert main(train_args(shards, run, "data.cutoff=1500", "train.steps=3", "model.compute_dtype=auto")
                    + ["--stop-at-step", "2"]) == 0
    written = json.loads((run / "config.json").read_text())
    run_id = written["run_id"]
    assert written["model"]["compute_dtype"] == "float32"  # auto, resolved on CPU, as the run computed
    assert re.fullmatch("[0-9a-f]{32}", run_id)
    header = caplog.text
    assert "45 train games" in header  # the manifest's count at cutoff 1500 (train split)
    assert "devices: 8 cpu" in header and "compute float32" in header and "tokens a step" in header and "an estimate" in header
    assert main(train_args(shards, run, "data.cutoff=1500", "train.steps=3")) == 0  # resume: same id
    assert json.loads((run / "config.json").read_text())["run_id"] == run_id


def test_out_of_memory_is_one_sentence_naming_what_fits(shards, tmp_path):
    # one weight matrix of ~1 TB: XLA's allocation fails (RESOURCE_EXHAUSTED) on any machine
    cfg = small_config(shards, "model.d_model=262144", "model.n_head=4", "model.n_layer=1", "train.steps=2")
    with pytest.raises(OutOfMemoryError, match="does not fit in .* GiB .*even one sequence at a time does not fit: "
                                               "use a smaller model, e.g. --config tiny"):
        run_training(cfg, tmp_path / "run", devices=jax.devices()[:1])
    assert not (tmp_path / "run" / "config.json").exists()

    paper = get_preset("chessformer-50m")
    msg = out_of_memory_message(paper)
    assert msg.startswith("chessformer-50m does not fit") and "train.batch_size=500" in msg
    micro = int(re.search(r"micro-batches of (\d+)", msg).group(1))
    assert train_bytes(paper, micro) <= device_memory_bytes() * USABLE_FRACTION < train_bytes(paper)
    assert f"--set train.grad_accum={500 // micro} " in msg


def test_bad_values_name_the_allowed_ones_and_list_keys_shows_every_key(capsys):
    with pytest.raises(ValueError, match="model.compute_dtype='bf16': use float32, bfloat16, float16 or auto"):
        resolve_config("tiny", ["model.compute_dtype=bf16"])
    with pytest.raises(ValueError, match="data.cutoff='abc': expected int or none"):
        resolve_config("tiny", ["data.cutoff=abc"])
    with pytest.raises(ValueError, match="data.packing='zip': use concat, paper or pad"):
        resolve_config("tiny", ["data.packing=zip"])

    assert main(["--list-keys", "--config", "tiny"]) == 0
    out = capsys.readouterr().out.splitlines()
    keys = [key for key, _, _ in config_fields(RunConfig())]
    assert [line.split()[0] for line in out] == keys  # every key, from the dataclasses, in order
    line = {ln.split()[0]: ln for ln in out}
    assert re.fullmatch(r"model\.compute_dtype +str +default \"float32\" +\(one of: float32, bfloat16, float16, auto\)",
                        line["model.compute_dtype"])
    assert re.fullmatch(r"train\.steps +int +default 300", line["train.steps"])  # the tiny preset's value
    assert "int or none" in line["data.cutoff"]

    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    assert "(default: [])" in help_text and help_text.count("(default:") >= 3
    assert "default: None" not in help_text
