"""Real trainer processes on one run directory: a second trainer is refused while the first holds the lock;
kill -9 loses no TensorBoard point before the checkpoint and releases the lock; the resumed run logs each step
once (metrics.jsonl cut back to the restored step); Ctrl-C saves a checkpoint and exits 130."""
import os
import signal
import socket
import struct
import subprocess
import sys
import time

import pytest

from jaxformer.checkpoint import list_complete_steps
from jaxformer.metrics import read_metrics

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}


def trainer(shards, run) -> list[str]:
    return [sys.executable, "-m", "jaxformer.train", "--config", "tiny", "--run-dir", str(run),
            "--set", f"data.dir={shards}", "--set", "data.seq_len=64", "--set", "model.max_len=64",
            "--set", "model.d_model=64", "--set", "train.batch_size=8", "--set", "train.steps=100000",
            "--set", "train.log_every=1", "--set", "train.eval_every=0", "--set", "checkpoint.every=5",
            "--set", "checkpoint.async_save=false", "--set", "train.progress=false"]


def wait_for(cond, proc, timeout=180.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def kill_between_checkpoints(proc, run, timeout=180.0) -> None:
    """SIGKILL the trainer only once it has logged a step past its last complete checkpoint; it is frozen
    (SIGSTOP) while that is checked, so it cannot save again between the check and the kill."""
    deadline = time.time() + timeout
    while True:
        proc.send_signal(signal.SIGSTOP)
        if max(logged_steps(run) or [0]) > list_complete_steps(run)[-1]:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        proc.send_signal(signal.SIGCONT)
        assert time.time() < deadline, "the trainer never logged a step past its checkpoint"
        time.sleep(0.05)


def logged_steps(run) -> list[int]:
    return [m["step"] for m in read_metrics(run)] if (run / "metrics.jsonl").exists() else []


def tb_scalars(path, tag: str) -> dict[int, float]:
    """{step: value} of one tag in a TensorBoard event file (TFRecord framing, tensorboardX's Event proto)."""
    from tensorboardX.proto.event_pb2 import Event

    data, out, pos = path.read_bytes(), {}, 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        if pos + 12 + length + 4 > len(data):
            break
        event = Event.FromString(data[pos + 12:pos + 12 + length])
        for value in event.summary.value:
            if value.tag == tag:
                out[event.step] = value.simple_value
        pos += 12 + length + 4
    return out


@pytest.mark.slow
def test_second_trainer_refused_kill9_then_resume_logs_each_step_once(shards, tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(trainer(shards, run), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: list_complete_steps(run) and max(logged_steps(run) or [0]) >= list_complete_steps(run)[-1] + 2,
             first)

    second = subprocess.run(trainer(shards, run), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=180)
    assert second.returncode == 2
    assert f"in use by another trainer (PID {first.pid} on host {socket.gethostname()})" in second.stderr
    assert "Traceback" not in second.stderr

    kill_between_checkpoints(first, run)
    saved = list_complete_steps(run)[-1]
    killed_at = logged_steps(run)[-1]
    assert killed_at > saved
    (events,) = list((run / "tb").glob("events.out.tfevents.*"))
    loss = tb_scalars(events, "loss")
    assert set(range(1, saved + 1)) <= set(loss)  # flushed at the checkpoint, not lost with the process

    # the kernel released the dead trainer's lock: a restart proceeds; Ctrl-C then saves and exits 130
    resumed = subprocess.Popen(trainer(shards, run), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: logged_steps(run) and logged_steps(run)[-1] >= killed_at + 2, resumed)
    resumed.send_signal(signal.SIGINT)
    out, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 130, out
    assert f"resumed from checkpoint step {saved}" in out
    steps = logged_steps(run)
    assert steps == list(range(1, steps[-1] + 1))  # strictly increasing, each logged step once
    assert list_complete_steps(run)[-1] == steps[-1]  # the interrupted run saved where it stopped
