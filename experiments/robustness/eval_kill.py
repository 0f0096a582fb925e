"""eval-kill: SIGKILL `transcend eval` (a tiny run vs the random mover) after a random number of finished games,
rerun it; a trial passes when every planned game id is recorded exactly once, games.pgn matches games.jsonl,
and ratings.json counts each game once."""
from __future__ import annotations

import pathlib
import random
import signal

from experiments.robustness.common import (
    Outcome,
    eval_args,
    eval_problem,
    eval_records,
    finish,
    log,
    random_anchor_table,
    run_cli,
    start,
    tiny_run,
    wait_until,
)

GAMES = 8  # games of the one opponent at the one temperature
DEFAULT_TRIALS = 10


def run(work: pathlib.Path, trials: int, rng: random.Random) -> Outcome:
    outcome = Outcome("eval-kill")
    root = outcome.fresh_root(work)
    model, anchors = tiny_run(work), random_anchor_table(work)
    kept = []
    for trial in range(trials):
        reason, n = _trial(root / f"trial{trial}", model, anchors, rng)
        outcome.record(trial, reason)
        kept.append(n)
    outcome.figures = {"games_planned": GAMES, "games_kept_at_kill": kept}
    return outcome


def _trial(out: pathlib.Path, model: pathlib.Path, anchors: pathlib.Path, rng: random.Random) -> tuple[str | None, int]:
    target = rng.randint(1, GAMES - 2)
    args = eval_args(model, out, anchors, GAMES)
    log_path = out.parent / f"{out.name}.first.log"
    proc = start(args, log_path)
    reached = wait_until(proc, lambda: len(eval_records(out)) >= target, timeout=600)
    proc.send_signal(signal.SIGKILL)
    first = finish(proc, log_path, timeout=60)
    kept = {r["game_id"] for r in eval_records(out)}
    if not reached:
        return f"the evaluation ended (exit {first.rc}) before {target} games: {first.last_line()}", len(kept)
    log.info("eval-kill %s: killed with %d game(s) recorded; rerunning", out.name, len(kept))
    rerun = run_cli(args, out.parent / f"{out.name}.rerun.log")
    if rerun.rc != 0 or rerun.traceback:
        return f"the rerun exited {rerun.rc}: {rerun.last_line()}", len(kept)
    if not kept <= {r["game_id"] for r in eval_records(out)}:
        return "games recorded before the kill are missing after the rerun", len(kept)
    return eval_problem(out, GAMES), len(kept)
