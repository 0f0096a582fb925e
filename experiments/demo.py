"""`make demo`: the whole experiment on a CPU in about 20 minutes, stage by stage, through the `transcend` CLI.

  1. data    a synthetic population of imperfect Stockfish experts (`transcend data synth`), or real games
             (`--data path.pgn.zst` / `--data lichess:YYYY-MM`, trained below a rating cutoff)
  2. shards  `transcend data build`
  3. train   the tiny preset (`transcend train`), sized by --set overrides to fit the time budget
  4. eval    several sampling temperatures against ladder-calibrated opponents (`transcend eval`)
  5. report  `transcend report`: rating vs temperature against the best expert (or the cutoff)

Every stage is a subprocess whose output is shown live and kept in OUT/logs/STAGE.log; a stage
whose output is complete is skipped, so rerunning continues where an interrupted demo stopped.
Ctrl-C (SIGINT) or SIGTERM is passed on to the running stage, which saves its work (training saves a
checkpoint) and exits; the demo then stops with one line and exit code 128+signal (130 for Ctrl-C).
Stage timings go to OUT/timings.json.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from typing import Any

from experiments.report.cli import DefaultsOnceHelpFormatter
from safeio import write_json_atomic

# Measured on the shared 2-core machine (load average ~6 from other jobs; tcmalloc preloaded): synth ~8
# games/s, the tiny model ~2 steps/s (16 x 256 characters a step), evaluation ~3 s a game one at a time.
SYNTH_GAMES = 1500  # ~3.3 min; ~640k training characters
TRAIN_OVERRIDES = ["train.steps=800", "train.eval_every=200", "checkpoint.every=400"]  # ~6.5 min, ~5 epochs
TEMPERATURES = ["0.001", "0.1", "0.5", "1.0"]
EVAL_GAMES = 12  # per temperature and opponent (half with each colour): 4 x 3 x 12 = 144 games
EVAL_CONCURRENCY = 24  # games in flight, batched into one model call
REAL_DATA_CUTOFF = 1500
ANCHOR_TABLE = "ladder-sf15"  # the calibrated opponents; synth anchors the experts' ratings to the same table


class HelpFormatter(argparse.RawDescriptionHelpFormatter, DefaultsOnceHelpFormatter):
    """The module docstring as written, and each option's default once."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.demo", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--out", default="runs/demo", help="everything goes under this directory")
    p.add_argument("--data", default=None,
                   help="real games instead of the synthetic population: a PGN file (.pgn/.pgn.zst) or lichess:YYYY-MM; "
                        "None: the synthetic population")
    p.add_argument("--cutoff", type=int, default=REAL_DATA_CUTOFF,
                   help="with --data: train only on games whose players are all rated <= this (the reference line)")
    p.add_argument("--games", type=int, default=SYNTH_GAMES, help="synthetic games to generate")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes for synth and build")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic population's games")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   help="extra training config override (repeatable), e.g. --set train.steps=1000")
    p.add_argument("--temperatures", nargs="+", default=TEMPERATURES, help="sampling temperatures to evaluate")
    p.add_argument("--anchors", default=ANCHOR_TABLE,
                   help="anchor table (bundled name or JSON file) rating both the experts and the model")
    p.add_argument("--opponents", nargs="+", default=None,
                   help=f"evaluation opponents (names in the {ANCHOR_TABLE} table); None: the random mover and "
                        "the two weakest Stockfish settings of the anchor table")
    p.add_argument("--eval-concurrency", type=int, default=EVAL_CONCURRENCY,
                   help="games in flight during evaluation, batched into one model call")
    p.add_argument("--eval-games", type=int, default=EVAL_GAMES, help="games per temperature and opponent")
    return p.parse_args(argv)


def weakest_opponents(table_name: str, n_engines: int) -> list[str]:
    """The random mover plus the weakest calibrated engines that play differently from game to game (a skill
    level or a random-move share): against a deterministic engine, games at T -> 0 would all repeat."""
    from arena import EngineSpec, load_anchor_table

    table = load_anchor_table(table_name)
    engines = []
    for name, rating in table.items():
        if name.startswith("stockfish-"):
            spec = EngineSpec.parse(name)
            engines.append((not (spec.skill < 20 or spec.random_pct > 0), rating, name))
    return (["random"] if "random" in table else []) + [name for *_, name in sorted(engines)[:n_engines]]


class StageInterrupted(Exception):
    """The demo was interrupted (SIGINT/SIGTERM) while a stage ran; the stage got the signal and has exited."""

    def __init__(self, stage: str, signum: int, returncode: int):
        super().__init__(f"demo: interrupted during stage {stage!r} ({signal.Signals(signum).name}); the stage saved "
                         f"its work and exited ({returncode}): rerun the same command to continue")
        self.signum = signum


class _ForwardSignals:
    """While a stage runs, SIGINT and SIGTERM sent to the demo are passed on to the stage's process (one that came
    before the process started is passed on when it does). A stage still running after KILL_AFTER signals is
    killed with its process group: the way out of a stage that hangs."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    KILL_AFTER = 3

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _ForwardSignals:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def attach(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        if self.signum is not None:
            self._forward()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signum = signum
        self.count += 1
        if self.proc is not None:
            self._forward()

    def _forward(self) -> None:
        assert self.proc is not None and self.signum is not None
        if self.proc.poll() is not None:
            return
        if self.count >= self.KILL_AFTER:
            print(f"\ndemo: signalled {self.count} times; killing the stage", file=sys.stderr, flush=True)
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(self.signum)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Stages:
    """Runs `transcend` subcommands, showing their output live and teeing it to a log per stage."""

    def __init__(self, out: pathlib.Path):
        self.out = out
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        # A rerun keeps the times of stages finished earlier (they are skipped now).
        previous = out / "timings.json"
        self.timings: dict[str, float] = json.loads(previous.read_text())["stages_s"] if previous.is_file() else {}
        self.t0 = time.time()

    def banner(self, n: int, name: str, what: str) -> None:
        print(f"\n=== [{n}/5] {name}: {what}  (demo time {self.clock()}) ===", flush=True)

    def skip(self, name: str, why: str) -> None:
        print(f"    skipped: {why}", flush=True)
        self.timings.setdefault(name, 0.0)

    def run(self, name: str, args: list[str]) -> None:
        """Run one stage to its end. SIGINT/SIGTERM (Ctrl-C) are forwarded to the stage, which saves its work and
        exits (training saves a checkpoint), then the demo stops with exit 128+signal (130 for Ctrl-C)."""
        cmd = [sys.executable, "-m", "experiments.cli", *args]
        print("    $ transcend " + " ".join(args), flush=True)
        start = time.time()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Its own process group: the terminal's Ctrl-C reaches only the demo, which forwards it to the stage
        # alone, so the stage's own children (engines, loader workers) are stopped by the stage, not twice.
        with _ForwardSignals() as forwarded, open(self.logs / f"{name}.log", "wb") as log, \
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, process_group=0) as proc:
            forwarded.attach(proc)
            assert proc.stdout is not None
            while chunk := proc.stdout.read1(65536):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
                log.write(chunk)
            rc = proc.wait()
        self.timings[name] = round(time.time() - start, 1)
        self._save()
        if forwarded.signum is not None:
            raise StageInterrupted(name, forwarded.signum, rc)
        if rc != 0:
            raise SystemExit(f"demo: stage {name!r} failed (exit code {rc}); its log is {self.logs / name}.log. "
                             "Fix the problem and rerun: finished stages are skipped.")
        print(f"    {name} done in {self.timings[name]:.0f} s", flush=True)

    def clock(self) -> str:
        s = int(time.time() - self.t0)
        return f"{s // 60}:{s % 60:02d}"

    def _save(self) -> None:
        total = round(sum(self.timings.values()), 1)
        write_json_atomic(self.out / "timings.json", {"stages_s": self.timings, "total_s": total})


def main(argv: list[str]) -> int:
    """The demo; Ctrl-C stops it with one line and exit 130 (the running stage saves its work first)."""
    try:
        return run_demo(parse_args(argv))
    except StageInterrupted as stop:
        print(f"\n{stop}", file=sys.stderr, flush=True)
        return 128 + stop.signum
    except KeyboardInterrupt:  # between stages: nothing is running, everything finished is saved
        print("\ndemo: interrupted between stages; rerun the same command to continue", file=sys.stderr, flush=True)
        return 130


def run_demo(args: argparse.Namespace) -> int:
    out = pathlib.Path(args.out).resolve()  # absolute: checkpoints are restored by absolute path
    stages = Stages(out)
    synth_dir, shard_dir, run_dir = out / "synth", out / "shards", out / "run"

    if args.data is None:
        stages.banner(1, "synth", f"{args.games} games between imperfect Stockfish experts")
        if (synth_dir / "population.json").is_file():
            stages.skip("synth", f"{synth_dir}/population.json exists")
        else:
            stages.run("synth", ["data", "synth", "--out", str(synth_dir), "--games", str(args.games),
                                 "--workers", str(args.workers), "--seed", str(args.seed),
                                 "--anchor-table", args.anchors])
        source, cutoff = str(synth_dir / "games.pgn.zst"), None
    else:
        stages.banner(1, "data", f"real games from {args.data}, cutoff {args.cutoff}")
        stages.skip("synth", "real data given (--data)")
        source, cutoff = args.data, args.cutoff

    stages.banner(2, "shards", f"tokenize {source} into ArrayRecord shards")
    if (shard_dir / "manifest.json").is_file():
        stages.skip("build", f"{shard_dir}/manifest.json exists")
    else:
        stages.run("build", ["data", "build", "--source", source, "--out", str(shard_dir),
                             "--workers", str(args.workers), "--val-fraction", "0.05", "--cache-dir", "cache/lichess"])

    stages.banner(3, "train", "the tiny preset (resumes from its last checkpoint)")
    overrides = [f"data.dir={shard_dir}", f"data.cutoff={'none' if cutoff is None else cutoff}", "name=demo",
                 *TRAIN_OVERRIDES, *args.overrides]
    set_args = [arg for o in overrides for arg in ("--set", o)]
    stages.run("train", ["train", "--config", "tiny", "--run-dir", str(run_dir), *set_args])

    opponents = args.opponents or weakest_opponents(args.anchors, 2)
    stages.banner(4, "eval", f"temperatures {' '.join(args.temperatures)} vs {', '.join(opponents)} "
                             f"({args.eval_games} games each, ratings on the {args.anchors} scale)")
    stages.run("eval", ["eval", "--run", str(run_dir), "--levels", ",".join(opponents),
                        "--temperatures", ",".join(args.temperatures), "--games", str(args.eval_games),
                        "--anchors", args.anchors, "--workers", str(args.workers),
                        "--concurrency", str(args.eval_concurrency)])

    rated = sorted(run_dir.glob("eval/*/ratings.json"))
    if not rated:
        raise SystemExit(f"demo: evaluation wrote no ratings.json under {run_dir}/eval; see {stages.logs}/eval.log")

    stages.banner(5, "report", "rating vs temperature, loss curves, verdict")
    stages.run("report", ["report", str(run_dir), "--out", str(out / "report")])
    print(f"\ndemo finished in {stages.clock()}; read {out / 'report' / 'report.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
