"""What every robustness check needs: subprocesses of the public CLI, tiny data and tiny runs, results."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from experiments.bench.ingest import random_pgn

log = logging.getLogger("transcend.robustness")
REPO = pathlib.Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "experiments.cli"]
# The tiny preset shrunk further (as tests/test_train_data.py's small_config): a run takes seconds on a CPU.
TINY = ["data.seq_len=64", "model.max_len=64", "model.d_model=64", "model.n_head=4", "train.batch_size=8",
        "train.log_every=1", "train.eval_every=0", "train.progress=false", "optim.warmup_steps=5"]


@dataclasses.dataclass
class Outcome:
    """A check's figures (trials run, passed, and each failure with its reason); it names the check's folder."""

    check: str
    trials: int = 0
    passed: int = 0
    failed: list[dict] = dataclasses.field(default_factory=list)
    figures: dict = dataclasses.field(default_factory=dict)

    def record(self, trial: int | str, reason: str | None) -> None:
        self.trials += 1
        if reason is None:
            self.passed += 1
            log.info("%s trial %s: passed", self.check, trial)
        else:
            self.failed.append({"trial": trial, "reason": reason})
            log.warning("%s trial %s: FAILED: %s", self.check, trial, reason)

    def fresh_root(self, work: pathlib.Path) -> pathlib.Path:
        """The check's own folder, WORK/CHECK, with an earlier run's files removed (the shared tiny data and run stay)."""
        root = work / self.check
        shutil.rmtree(root, ignore_errors=True)
        return root

    def to_json(self) -> dict:
        return {"check": self.check, "trials": self.trials, "passed": self.passed, "failed": self.failed,
                **self.figures}


@dataclasses.dataclass(frozen=True)
class Finished:
    """A finished (or timed-out) subprocess: its exit code (None: killed at the timeout) and its output."""

    rc: int | None
    output: str

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.output

    def last_line(self) -> str:
        """The output's last line, or with a traceback the last exception line (what the reader must see)."""
        lines = [line for line in self.output.splitlines() if line.strip()]
        if self.traceback:
            lines = [line for line in lines if re.match(r"^[\w.]*(Error|Exception)\b", line)] or lines
        return lines[-1][-300:] if lines else "(no output)"


def env() -> dict[str, str]:
    """The subprocesses' environment: JAX on the CPU unless the caller chose a platform."""
    return {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"), "PYTHONUNBUFFERED": "1"}


def start(args: list[str], log_path: pathlib.Path) -> subprocess.Popen:
    """`python -m experiments.cli ARGS` in its own session (a signal can reach its process group), output to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as out:
        return subprocess.Popen([*CLI, *args], cwd=REPO, env=env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def finish(proc: subprocess.Popen, log_path: pathlib.Path, timeout: float) -> Finished:
    """Waits for `proc`; one still running at the timeout is killed (a hang: rc None)."""
    try:
        rc: int | None = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, signal.SIGKILL)
        proc.wait()
        rc = None
    return Finished(rc, log_path.read_text(errors="replace"))


def run_cli(args: list[str], log_path: pathlib.Path, timeout: float = 600) -> Finished:
    return finish(start(args, log_path), log_path, timeout)


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def wait_until(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float, poll_s: float = 0.01) -> bool:
    """True once `ready()` holds while `proc` still runs; False when it exits first or the timeout passes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(poll_s)
    return False


def read_lines(path: pathlib.Path) -> list[dict]:
    """The complete JSON lines of a file ([] when absent); a cut last line is ignored, as readers do."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def tiny_data(work: pathlib.Path) -> pathlib.Path:
    """Shards of 300 random legal games, built once per work directory by `transcend data build`."""
    shards = work / "data" / "shards"
    if (shards / "manifest.json").exists():
        return shards
    pgn = work / "data" / "games.pgn"
    pgn.parent.mkdir(parents=True, exist_ok=True)
    pgn.write_bytes(random_pgn(300, seed=1))
    done = run_cli(["data", "build", "--source", str(pgn), "--out", str(shards), "--workers", "1"],
                   work / "data" / "build.log", timeout=300)
    if done.rc != 0:
        raise RuntimeError(f"building the tiny data failed ({done.rc}): {done.last_line()}")
    return shards


def train_args(run: pathlib.Path, data: pathlib.Path, steps: int, every: int, *extra: str) -> list[str]:
    sets = [*TINY, f"data.dir={data}", f"train.steps={steps}", f"checkpoint.every={every}"]
    return ["train", "--config", "tiny", "--run-dir", str(run), *(a for s in sets for a in ("--set", s)), *extra]


def checkpoint_steps(run: pathlib.Path) -> list[int]:
    """Finalized step directories (Orbax writes into a temporary name and renames it when complete)."""
    root = run / "checkpoints"
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else []


def train_metrics(run: pathlib.Path) -> list[dict]:
    """The training lines of metrics.jsonl (validation lines carry val_loss instead of loss)."""
    return [m for m in read_lines(run / "metrics.jsonl") if "loss" in m]


def metrics_problem(lines: list[dict], reference: list[dict]) -> str | None:
    """None when the metrics have one line per step, strictly increasing, with the reference's values."""
    steps = [m["step"] for m in lines]
    if any(b <= a for a, b in zip(steps, steps[1:])):
        return f"metrics.jsonl steps are not strictly increasing: {steps}"
    if steps != [m["step"] for m in reference]:
        return f"metrics.jsonl has steps {steps}, the uninterrupted run {[m['step'] for m in reference]}"
    for mine, ref in zip(lines, reference):
        for key in ("loss", "grad_norm", "lr"):
            if mine.get(key) != ref.get(key):
                return f"metrics.jsonl step {mine['step']}: {key} {mine.get(key)} != uninterrupted {ref.get(key)}"
    return None


def probe(run: pathlib.Path, log_path: pathlib.Path, step: int | None = None) -> dict:
    """What `jaxformer.checkpoint.load_for_inference` returns for a run (see probe.py), read in a subprocess so
    that damaged files cannot take this process down: {"step", "digest"} or {"error"}."""
    cmd = [sys.executable, "-m", "experiments.robustness.probe", str(run), *([] if step is None else [str(step)])]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    log_path.write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"probe exited {done.returncode}: {(done.stderr.strip().splitlines() or ['?'])[-1][-300:]}"}
    return json.loads(lines[-1])


def tiny_run(work: pathlib.Path) -> pathlib.Path:
    """A finished 4-step tiny run (one checkpoint) to evaluate, trained once per work directory."""
    run = work / "model"
    if checkpoint_steps(run) == [4]:
        return run
    done = run_cli(train_args(run, tiny_data(work), 4, 4), work / "model.log")
    if done.rc != 0:
        raise RuntimeError(f"training the tiny run to evaluate failed ({done.rc}): {done.last_line()}")
    return run


def eval_args(run: pathlib.Path, out: pathlib.Path, anchors: pathlib.Path, games: int) -> list[str]:
    """`transcend eval` of the run's latest step against the random mover (fast), into `out`."""
    return ["eval", "--run", str(run), "--out", str(out), "--levels", "random", "--temperatures", "0.5",
            "--games", str(games), "--max-plies", "16", "--concurrency", "2", "--workers", "1", "--n-boot", "50",
            "--anchors", str(anchors), "--no-tensorboard"]


def random_anchor_table(work: pathlib.Path) -> pathlib.Path:
    """An anchor table that rates the random mover, so every evaluation game is rated."""
    path = work / "anchors-random.json"
    path.write_text(json.dumps({"ratings": {"random": 400.0}}))
    return path


def eval_records(out: pathlib.Path) -> list[dict]:
    """Every record of every games*.jsonl under an evaluation directory (OUT/STEP/...)."""
    return [r for p in sorted(out.glob("*/games*.jsonl")) for r in read_lines(p)]


def eval_problem(out: pathlib.Path, planned: int) -> str | None:
    """None when each planned game id is recorded exactly once, games.pgn holds the same games in the same
    order, and ratings.json counts each once."""
    records = eval_records(out)
    ids = [r["game_id"] for r in records]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        return f"{len(ids) - len(set(ids))} duplicate record(s) in games.jsonl: {dupes[:5]}"
    if len(ids) != planned:
        return f"{len(ids)} game(s) recorded, {planned} planned"
    for jsonl in sorted(out.glob("*/games*.jsonl")):
        pgn = jsonl.with_suffix(".pgn")
        pgn_ids = [line.split('"')[1] for line in pgn.read_text(errors="replace").splitlines()
                   if line.startswith("[GameId ")] if pgn.exists() else []
        want = [r["game_id"] for r in read_lines(jsonl)]
        if pgn_ids != want:
            return f"{pgn.name} holds {len(pgn_ids)} game(s), {jsonl.name} {len(want)}; they differ"
    for ratings in out.glob("*/ratings.json"):
        data = json.loads(ratings.read_text())
        counted = sum(r.get("games", 0) + r.get("unrated_games", 0) for r in data.get("results", []))
        if counted != planned:
            return f"{ratings} counts {counted} game(s), {planned} recorded"
        if data.get("duplicate_games"):
            return f"{ratings} reports {data['duplicate_games']} duplicate game(s)"
    return None
